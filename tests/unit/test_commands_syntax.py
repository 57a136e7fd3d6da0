"""Every script builder in ``tasks/commands/`` yields a script that ``bash -n`` accepts.

One table of builders, run for every layout and nginx setting below. Roots
cannot contain spaces (validation), but names use '-', '_' and even quotes.
"""
from __future__ import annotations

import pytest

from wsgideploy.commands import health, nginx, release, shell, venv
from wsgideploy.inventory import Nginx
from wsgideploy.layout import Layout
from wsgideploy.modes import ServerContext, app_server

RID = "20261121T101500Z"
KEY = "py3.11.7-0123456789abcdef"

LAYOUTS = [
    pytest.param(Layout("/srv/hello"), id="plain"),
    pytest.param(Layout("/srv/my-app_2"), id="dash-underscore"),
    pytest.param(Layout("/home/o'neil/apps/x"), id="single-quote"),
    pytest.param(Layout("/srv/a;b&c|d"), id="shell-metacharacters"),
]

NGINXES = [
    pytest.param(Nginx(), id="debian-auto-sudo"),
    pytest.param(Nginx(sudo=False, control="signal", conf="/opt/nginx/nginx.conf",
                       binary="/opt/nginx/sbin/nginx", sites_available="/opt/nginx/sites-available",
                       sites_enabled="/opt/nginx/sites-enabled"), id="prefix-signal"),
    pytest.param(Nginx(control="systemd"), id="systemd"),
    pytest.param(Nginx(sudo=False, conf="/etc/nginx/custom.conf"), id="auto-with-conf"),
]

SHARED = {"instance": "dir", ".env": "file", "conf/app.ini": "file", "uploads/media": "dir"}

# Builders that depend on the layout, and those that depend on the nginx settings.
LAYOUT_BUILDERS = {
    "release.prepare": lambda lay: release.prepare(lay, "python3.11"),
    "release.unpack": lambda lay: release.unpack(lay, RID, SHARED),
    "release.unpack without shared": lambda lay: release.unpack(lay, RID, {}),
    "release.switch_current": lambda lay: release.switch_current(lay, RID),
    "release.list_releases": lambda lay: release.list_releases(lay),
    "venv.ensure_venv requirements": lambda lay: venv.ensure_venv(
        lay, KEY, "python3", ["-r", lay.release(RID) + "/requirements.txt", "gunicorn"]),
    "venv.ensure_venv package": lambda lay: venv.ensure_venv(lay, KEY, "python3", [lay.release(RID), "gunicorn"]),
    "venv.ensure_venv pip with the host cache": lambda lay: venv.ensure_venv(
        lay, KEY, "python3", ["-r", lay.release(RID) + "/requirements.txt", "gunicorn"], cache_dir=lay.cache_dir),
    "venv.ensure_venv uv with the host cache": lambda lay: venv.ensure_venv(
        lay, KEY, "python3", ["-r", lay.release(RID) + "/requirements.txt", "gunicorn"], installer="uv",
        cache_dir=lay.cache_dir),
    "venv.ensure_venv uv without a cache": lambda lay: venv.ensure_venv(
        lay, KEY, "python3.11", [lay.release(RID), "gunicorn>=22"], installer="uv"),
    "venv then link_venv (as steps.build_venv)": lambda lay: venv.ensure_venv(lay, KEY, "python3", ["gunicorn"])
    + release.link_venv(lay, RID, KEY) + "\n",
    "uv venv then link_venv (as steps.build_venv)": lambda lay: venv.ensure_venv(
        lay, KEY, "python3", ["gunicorn"], installer="uv", cache_dir=lay.cache_dir)
    + release.link_venv(lay, RID, KEY) + "\n",
    "gunicorn.check": lambda lay: app_server("gunicorn").check(ServerContext(lay, timeout=60.5), RID),
    "gunicorn.start": lambda lay: app_server("gunicorn").start(ServerContext(lay, timeout=60)),
    "gunicorn.upgrade": lambda lay: app_server("gunicorn").upgrade(ServerContext(lay, timeout=60, graceful_timeout=30)),
    "gunicorn.upgrade only if running": lambda lay: app_server("gunicorn").upgrade(ServerContext(lay, timeout=60, graceful_timeout=30), start_if_stopped=False),
    "gunicorn.stop": lambda lay: app_server("gunicorn").stop(ServerContext(lay, graceful_timeout=30)),
    "gunicorn.status": lambda lay: app_server("gunicorn").status(ServerContext(lay)),
    "health.http_check": lambda lay: health.http_check(8080, "/health?full=1", "hello.example.com", 200, 30),
    "shell.write_files": lambda lay: shell.script(
        shell.write_files(f"{lay.release(RID)}/.wsgideploy", {"gunicorn.conf.py": "a = 'b'\n\"$x\" `y`\n", "x": ""})),
    "write then check (as steps.configure_release)": lambda lay: shell.script(
        f"mkdir -p {shell.q(lay.release(RID))}",
        shell.write_files(lay.release(RID), {"x": "x"})) + app_server("gunicorn").check(ServerContext(lay, timeout=30), RID),
}

NGINX_BUILDERS = {
    "nginx.nginx_command": lambda ng: nginx.nginx_command(ng, "-t"),
    "nginx.install_site": lambda ng: nginx.install_site(ng, "my-app_2", f"/srv/my-app_2/releases/{RID}/x.conf"),
    "nginx.reload": lambda ng: nginx.reload(ng),
    "install then reload (as steps.publish_proxy_site)": lambda ng: nginx.install_site(
        ng, "hello", "/srv/hello/x.conf") + nginx.reload(ng),
}


@pytest.mark.parametrize("builder", list(LAYOUT_BUILDERS))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_builder_script_passes_bash_syntax_check(bash_syntax, layout: Layout, builder: str) -> None:
    assert bash_syntax(LAYOUT_BUILDERS[builder](layout)) is None


@pytest.mark.parametrize("builder", list(NGINX_BUILDERS))
@pytest.mark.parametrize("nginx_config", NGINXES)
def test_nginx_builder_script_passes_bash_syntax_check(bash_syntax, nginx_config: Nginx, builder: str) -> None:
    assert bash_syntax(NGINX_BUILDERS[builder](nginx_config)) is None


def test_syntax_check_rejects_a_broken_script(bash_syntax) -> None:
    # The check itself must be able to fail.
    assert bash_syntax('set -eu\nif [ -e x ]; then\n  echo "unclosed\n') is not None


@pytest.mark.parametrize("text", [
    pytest.param(LAYOUT_BUILDERS[name](Layout("/srv/hello")), id=name)
    for name in LAYOUT_BUILDERS] + [
    pytest.param(NGINX_BUILDERS[name](Nginx()), id=name) for name in NGINX_BUILDERS if name != "nginx.nginx_command"])
def test_every_script_starts_with_the_strict_prelude(text: str) -> None:
    assert text.startswith("set -eu\nfail() {")


@pytest.mark.parametrize("make", [
    pytest.param(lambda: release.prepare(Layout('/srv/a"b'), "python3"), id="prepare-root"),
    pytest.param(lambda: venv.ensure_venv(Layout('/srv/a"b'), KEY, "python3", ["gunicorn"]), id="venv-root"),
    pytest.param(lambda: venv.ensure_venv(Layout('/srv/a"b'), KEY, "python3", ["gunicorn"], installer="uv",
                                          cache_dir='/srv/a"b/.cache'), id="uv-venv-root"),
    pytest.param(lambda: release.prepare(Layout("/srv/hello"), 'python3"'), id="prepare-python"),
    pytest.param(lambda: health.http_check(80, '/a"b', "hello.example.com", 200, 5), id="health-path"),
])
def test_scripts_stay_valid_for_values_that_pass_inventory_validation(bash_syntax, make) -> None:
    assert bash_syntax(make()) is None
