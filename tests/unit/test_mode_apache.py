"""Apache as the front server, with mod_wsgi and CGI: the pure builders and the templates.

- every script builder yields a script ``bash -n`` accepts, for Debian's and a custom [apache];
- the site renders for each server, with the paths, Listen mark, user and mounts expected,
  and Debian's ``apache2 -t`` accepts it in a private prefix (no root needed, nothing started);
- `apache.install_site` run for real (bash, apache2 -t, temp dirs): the Listen file, a Listen the
  host's config already has, an unchanged site, a rejected site put back;
- the generated ``app.wsgi`` and ``app.cgi`` compile, load an app (``module:app`` and
  ``module:create_app()``) and keep whatever the app prints out of the response.
"""
from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from wsgideploy.commands import apache, cgi, mod_wsgi
from wsgideploy.inventory import Apache, App
from wsgideploy.layout import Layout
from wsgideploy.modes import ServerContext, app_server, front_server
from wsgideploy.protocol import parse_facts
from wsgideploy.render import TEMPLATES_DIR, render_release_configs, template_context

from tests.hosts.apache import ApachePrefix
from tests.unit.recipe_text import function_body

RID = "20261121T101500Z"
APACHE2 = shutil.which("apache2", path="/usr/sbin:/usr/bin:/sbin:/bin")
needs_apache2 = pytest.mark.skipif(APACHE2 is None, reason="needs Debian's apache2 (apt-get install apache2)")

APACHES = [
    pytest.param(Apache(), id="debian-auto-sudo"),
    pytest.param(Apache(sudo=False, control="signal", conf="/opt/apache/apache2.conf", binary="/usr/sbin/apache2",
                        sites_available="/opt/apache/sites-available", sites_enabled="/opt/apache/sites-enabled",
                        listen_dir="/opt/apache/conf-enabled"), id="prefix-signal"),
    pytest.param(Apache(control="systemd"), id="systemd"),
]
LAYOUTS = [pytest.param(Layout("/srv/hello"), id="plain"),
           pytest.param(Layout("/home/o'neil/a;b&c"), id="shell-metacharacters")]


def make_app(server: str, root: str = "/srv/hello", **overrides) -> App:
    fields = dict(name="hello", source=Path("/nonexistent"), wsgi="app:create_app()", root=root,
                  server=server, proxy="apache", server_name="hello.example.com", listen=8080)
    return App(**{**fields, **overrides})


def render(server: str, layout: Layout | None = None, static_dir: str | None = "static",
           host_vars: dict | None = None, user: str = "deploy", group: str = "deploy", **app) -> dict[str, str]:
    layout = layout or Layout("/srv/hello")
    context = template_context(make_app(server, root=layout.root, **app), layout, RID, static_dir,
                               host_vars or {"workers": 3, "threads": 4}, user, group)
    return render_release_configs(context)


# --- scripts -----------------------------------------------------------------------------


@pytest.mark.parametrize("settings", APACHES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_script_passes_bash_n(settings: Apache, layout: Layout, bash_syntax) -> None:
    app = make_app("mod_wsgi", root=layout.root)
    ctx = ServerContext(layout, app=app, proxy=settings, timeout=60.5, graceful_timeout=30)
    scripts = {
        "apache.install_site": apache.install_site(settings, "hello", f"{layout.root}/x/apache.conf"),
        "apache.reload": apache.reload(settings),
        "install_site + reload": apache.install_site(settings, "hello", "/x/apache.conf") + apache.reload(settings),
    }
    for server in (app_server("mod_wsgi"), app_server("cgi")):
        for name in ("start", "stop", "status"):
            scripts[f"{server.name}.{name}"] = getattr(server, name)(ctx)
        scripts[f"{server.name}.upgrade"] = server.upgrade(ctx)
        scripts[f"{server.name}.upgrade no start"] = server.upgrade(ctx, start_if_stopped=False)
        scripts[f"{server.name}.check"] = server.check(ctx, RID)
    for name, text in scripts.items():
        assert bash_syntax(text) is None, f"{name}: {bash_syntax(text)}\n{text}"


def test_modules_follow_the_mode_protocol() -> None:
    front = front_server("apache")
    assert isinstance(front, apache.ApacheFront)
    assert (front.site_template, front.site_file) == ("apache/site.conf.j2", "apache.conf")
    for name, cls in (("mod_wsgi", mod_wsgi.ModWsgi), ("cgi", cgi.Cgi)):
        server = app_server(name)
        assert isinstance(server, cls) and server.fronts == ("apache",)
        assert server.packages == ()
        for template in server.config_templates.values():
            assert (TEMPLATES_DIR / template).is_file()


def test_debian_paths_enable_the_site_with_a2ensite_a_prefix_with_a_link() -> None:
    debian = apache.install_site(Apache(), "hello", "/r/apache.conf")
    assert "\nAPACHE_A2ENSITE=1\n" in debian and '\napache_ctl() { sudo -n apache2ctl "$@"; }\n' in debian
    custom = apache.install_site(Apache(sudo=False, sites_available="/p/sa", sites_enabled="/p/se",
                                        listen_dir="/p/conf", conf="/p/apache2.conf", binary="/usr/sbin/apache2"),
                                 "hello", "/r/apache.conf")
    assert "\nAPACHE_A2ENSITE=0\n" in custom and "sudo" not in custom
    assert "\nAPACHE_SITE=/p/sa/hello.conf\nAPACHE_SITE_ENABLED=/p/se/hello.conf\n" in custom
    assert '\napache_ctl() { /usr/sbin/apache2 -f /p/apache2.conf "$@"; }\n' in custom
    enable = function_body("apache", "apache_enable_site")
    assert 'as_root a2ensite -q "$APACHE_SITE_NAME"' in enable
    assert 'as_root ln -sfn "$APACHE_SITE" "$APACHE_SITE_ENABLED"' in enable
    assert "apache_ctl -t 2>&1" in function_body("apache", "apache_install_site")
    assert "ports.conf" not in debian + custom


def test_reload_uses_graceful_or_systemctl_and_skips_an_unchanged_site() -> None:
    by_signals, by_systemd = "apache_reload() { apache_signal_reload; }", "apache_reload() { apache_systemd_reload; }"
    signal = apache.reload(Apache(control="signal", sudo=False))
    assert by_signals in signal and by_systemd not in signal and signal.endswith("\napache_reload\n")
    graceful = function_body("apache", "apache_graceful")
    assert "apache_ctl -k graceful" in graceful and "apache_ctl -k start" in graceful
    assert "wsgideploy_apache_unchanged" in function_body("apache", "apache_signal_reload")
    systemd = apache.reload(Apache(control="systemd"))
    assert by_systemd in systemd and by_signals not in systemd and "\nAPACHE_UNIT=apache2\n" in systemd
    assert 'as_root systemctl reload "$APACHE_UNIT"' in function_body("apache", "apache_systemd_reload")
    assert "-k graceful" not in function_body("apache", "apache_systemd_reload")
    auto = apache.reload(Apache())
    assert "/run/systemd/system" in auto and by_systemd in auto and by_signals in auto
    with_conf = apache.reload(Apache(conf="/p/apache2.conf"))
    assert by_signals in with_conf and by_systemd not in with_conf


def test_mod_wsgi_upgrade_touches_the_live_script_and_check_uses_the_release_venv() -> None:
    layout = Layout("/srv/hello")
    ctx = ServerContext(layout, app=make_app("mod_wsgi"), proxy=Apache(), timeout=42)
    text = app_server("mod_wsgi").upgrade(ctx)
    assert "\nwsgi_script=/srv/hello/current/.wsgideploy/app.wsgi\n" in text and text.endswith("\nmod_wsgi_upgrade\n")
    assert 'touch "$wsgi_script"' in function_body("mod_wsgi", "mod_wsgi_upgrade")
    only_if_running = app_server("mod_wsgi").upgrade(ctx, start_if_stopped=False)
    assert "\nstart_if_stopped=0\n" in only_if_running and "use start" in function_body("mod_wsgi", "mod_wsgi_before_upgrade")
    assert apache.install_site(Apache(), "hello", "/srv/hello/current/.wsgideploy/apache.conf") not in only_if_running
    check = app_server("mod_wsgi").check(ctx, RID)
    assert f"\nrelease=/srv/hello/releases/{RID}\n" in check and "\ncheck_timeout=42\n" in check
    assert f"\nwsgi=/srv/hello/releases/{RID}/.wsgideploy/app.wsgi\n" in check
    assert f"\nmod_wsgi_so={mod_wsgi.MOD_WSGI_SO}\n" in check and "libpython" in check
    with pytest.raises(ValueError):
        app_server("mod_wsgi").start(ServerContext(layout, app=make_app("mod_wsgi"), proxy=None))


def release_with_script(tmp_path: Path, name: str, source: str) -> tuple[Layout, Path]:
    """A release under tmp_path whose venv python is this interpreter, with .wsgideploy/<name>."""
    layout = Layout(str(tmp_path / "root"))
    release = Path(layout.release(RID))
    (release / ".wsgideploy").mkdir(parents=True)
    (release / "venv" / "bin").mkdir(parents=True)
    (release / "venv" / "bin" / "python").symlink_to(sys.executable)
    (release / ".wsgideploy" / name).write_text(source)
    return layout, release


# The script records how it was loaded (next to itself), then does what its argument says.
RECORDING = ("import os, pathlib, time\n"
             "pathlib.Path(__file__).with_name('seen').write_text(' '.join(\n"
             "    [os.getcwd(), os.environ.get('FLASK_RUN_FROM_CLI', '-'), os.environ.get('WSGIDEPLOY_CGI_CHECK', '-')]))\n"
             "{action}\n")


@pytest.mark.parametrize("action, message", [
    ("def application(environ, start_response): return []", None),
    ("application = None", "the app does not load in release"),
    ("raise ImportError('no module x')", "the app does not load in release"),
    ("time.sleep(30)", "importing the app took longer than 1s"),
])
def test_mod_wsgi_check_loads_the_wsgi_file_as_mod_wsgi_would_in_the_release_venv(
        tmp_path: Path, action: str, message: str | None) -> None:
    layout, release = release_with_script(tmp_path, "app.wsgi", RECORDING.format(action=action))
    if message and "took longer" in message:
        ctx = ServerContext(layout, app=make_app("mod_wsgi"), proxy=Apache(), timeout=1)
    else:
        ctx = ServerContext(layout, app=make_app("mod_wsgi"), proxy=Apache(), timeout=30)
    result = subprocess.run(["bash", "-c", app_server("mod_wsgi").check(ctx, RID)], capture_output=True, text=True, timeout=60)
    if "embeds Python" in result.stderr:
        pytest.skip(result.stderr.strip())  # the host's mod_wsgi embeds another Python than this one
    assert (release / ".wsgideploy" / "seen").read_text() == f"{release} true -"
    if message is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1 and message in result.stderr.splitlines()[-1], result.stderr
    if "ImportError" in action:
        assert "no module x" in result.stderr


def test_cgi_commands_only_report_and_check_makes_the_script_executable(tmp_path: Path) -> None:
    ctx = ServerContext(Layout("/srv/hello"), app=make_app("cgi"), proxy=Apache(), timeout=42)
    for text in (app_server("cgi").start(ctx), app_server("cgi").stop(ctx), app_server("cgi").upgrade(ctx)):
        assert not re.search(r"^\s*(kill|touch) ", text, re.M) and "-k graceful" not in function_body("cgi", "cgi_report")
        assert text.endswith("\ncgi_report\n") and "\naction='nothing to " in text
    # Run for real: with a live release and no Apache running, each only reports.
    layout = Layout(str(tmp_path / "root"))
    Path(layout.releases, RID).mkdir(parents=True)
    Path(layout.current).symlink_to(Path(layout.releases, RID))
    no_apache = Apache(sudo=False, binary="false")
    real = ServerContext(layout, app=make_app("cgi", root=layout.root), proxy=no_apache)
    for build, word in ((app_server("cgi").start, "start"), (app_server("cgi").stop, "stop"),
                        (app_server("cgi").upgrade, "reload")):
        result = subprocess.run(["bash", "-c", build(real)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        facts = parse_facts(result.stdout)
        assert facts["pid"] == "" and facts["action"].startswith(f"nothing to {word} (CGI"), facts
    check = app_server("cgi").check(ctx, RID)
    assert f"\ncgi=/srv/hello/releases/{RID}/.wsgideploy/app.cgi\n" in check and "\ncheck_timeout=42\n" in check


@pytest.mark.parametrize("action, message", [
    ("pass", None),
    ("raise SystemExit('the app (app:app) is not callable')", "the app does not load in release"),
])
def test_cgi_check_makes_the_script_executable_and_loads_it_only(tmp_path: Path, action: str,
                                                                 message: str | None) -> None:
    layout, release = release_with_script(tmp_path, "app.cgi", RECORDING.format(action=action))
    script = release / ".wsgideploy" / "app.cgi"
    script.chmod(0o644)
    ctx = ServerContext(layout, app=make_app("cgi"), proxy=Apache(), timeout=30)
    result = subprocess.run(["bash", "-c", app_server("cgi").check(ctx, RID)], capture_output=True, text=True, timeout=60)
    assert script.stat().st_mode & 0o777 == 0o755
    assert (release / ".wsgideploy" / "seen").read_text() == f"{release} true 1"
    if message is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1 and message in result.stderr.splitlines()[-1], result.stderr
        assert "is not callable" in result.stderr


# --- templates -----------------------------------------------------------------------------


def test_mod_wsgi_site_runs_a_daemon_as_the_deploy_user_in_the_live_venv() -> None:
    site = render("mod_wsgi")["apache.conf"]
    assert "# wsgideploy-listen: 8080\n" in site and "<VirtualHost *:8080>" in site
    assert ("WSGIDaemonProcess wsgideploy-hello user=deploy group=deploy processes=3 threads=4 "
            "python-home=/srv/hello/current/venv home=/srv/hello ") in site
    assert "WSGIProcessGroup wsgideploy-hello" in site
    assert "WSGIScriptAlias / /srv/hello/current/.wsgideploy/app.wsgi" in site
    assert "Alias /static/ /srv/hello/current/static/" in site
    assert site.index("Alias /static/") < site.index("WSGIScriptAlias")
    assert "LoadModule wsgi_module /usr/lib/apache2/modules/mod_wsgi.so" in site
    assert RID not in site, "the site names no release id, so an unchanged site renders the same bytes"
    assert not re.search(r"^\s*Listen ", site, re.M), "the Listen goes in wsgideploy's own file"


def test_site_user_comes_from_vars_or_the_deploy_user_or_is_left_to_apache() -> None:
    assert "user=www group=web" in render("mod_wsgi", host_vars={"app_user": "www", "app_group": "web"})["apache.conf"]
    assert "user=alice group=alice" in render("mod_wsgi", user="alice", group="")["apache.conf"]
    assert " user=" not in render("mod_wsgi", user="", group="")["apache.conf"]


def test_site_listen_address_names_and_prefix() -> None:
    site = render("mod_wsgi", listen_address="::1", server_name="a.example .b.example _ ~^c",
                  url_prefix="/app")["apache.conf"]
    assert "# wsgideploy-listen: [::1]:8080" in site and "<VirtualHost [::1]:8080>" in site
    assert "ServerName a.example" in site and "ServerAlias b.example *.b.example" in site
    assert "~^c" not in site and "ServerAlias _" not in site
    assert "WSGIScriptAlias /app /srv/hello/current/.wsgideploy/app.wsgi" in site
    cgi_site = render("cgi", listen_address="127.0.0.1", url_prefix="/app")["apache.conf"]
    assert "# wsgideploy-listen: 127.0.0.1:8080" in cgi_site
    assert "ScriptAlias /app /srv/hello/current/.wsgideploy/app.cgi\n" in cgi_site
    assert "ScriptAlias / /srv/hello/current/.wsgideploy/app.cgi/\n" in render("cgi")["apache.conf"]
    assert "Alias /static/" not in render("cgi", static_dir=None)["apache.conf"]


def test_cgi_site_and_script_name_the_live_release_and_its_venv() -> None:
    files = render("cgi")
    assert "LoadModule cgi_module /usr/lib/apache2/modules/mod_cgi.so" in files["apache.conf"]
    assert files["app.cgi"].startswith("#!/srv/hello/current/venv/bin/python\n")
    assert "wsgiref.handlers" in files["app.cgi"] and "CGIHandler" in files["app.cgi"]
    compile(files["app.cgi"], "app.cgi", "exec")
    compile(render("mod_wsgi")["app.wsgi"], "app.wsgi", "exec")


@needs_apache2
@pytest.mark.parametrize("server", ["mod_wsgi", "cgi", "fastcgi"])
@pytest.mark.parametrize("address", [None, "127.0.0.1"])
def test_apache_configtest_accepts_the_rendered_site(tmp_path: Path, server: str, address: str | None) -> None:
    prefix = ApachePrefix(tmp_path / "apache")
    prefix.prepare()
    (tmp_path / "app/shared/log").mkdir(parents=True)  # Apache checks the log directory
    # an existing user that is not root: mod_wsgi refuses to run a daemon as root
    nobody = pwd.getpwnam("nobody")
    site = render(server, layout=Layout(str(tmp_path / "app")), listen_address=address,
                  user=nobody.pw_name, group=grp.getgrgid(nobody.pw_gid).gr_name)["apache.conf"]
    (prefix.sites_enabled / "hello.conf").write_text(site)
    listen = site.split("# wsgideploy-listen: ")[1].split("\n")[0]
    (prefix.listen_dir / "wsgideploy-hello.conf").write_text(f"Listen {listen}\n")
    result = subprocess.run([APACHE2, "-f", str(prefix.conf), "-t"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr + site


# --- install_site, for real ------------------------------------------------------------


@pytest.fixture
def prefix(tmp_path: Path) -> ApachePrefix:
    if APACHE2 is None:
        pytest.skip("needs Debian's apache2")
    prefix = ApachePrefix(tmp_path / "apache")
    prefix.prepare()
    return prefix


def run_install(prefix: ApachePrefix, site: str) -> subprocess.CompletedProcess[str]:
    body = apache.install_site(Apache(**prefix.table()), "hello", site)
    body += 'echo "unchanged=${wsgideploy_apache_unchanged:-0}"\n'
    return subprocess.run(["bash", "-c", body], capture_output=True, text=True, timeout=60)


SITE = """# wsgideploy-listen: 127.0.0.1:{port}
<VirtualHost 127.0.0.1:{port}>
    ServerName localhost
</VirtualHost>
"""


def test_install_site_writes_its_own_listen_enables_and_reports_unchanged(prefix: ApachePrefix) -> None:
    result = run_install(prefix, SITE.format(port=18444))
    assert result.returncode == 0, result.stderr
    assert "unchanged=0" in result.stdout
    listen = (prefix.listen_dir / "wsgideploy-hello.conf").read_text()
    assert "Listen 127.0.0.1:18444\n" in listen
    assert (prefix.sites_enabled / "hello.conf").resolve() == prefix.sites_available / "hello.conf"
    again = run_install(prefix, SITE.format(port=18444))
    assert again.returncode == 0 and "unchanged=1" in again.stdout, again.stderr
    moved = run_install(prefix, SITE.format(port=18445))
    assert "unchanged=0" in moved.stdout
    assert "Listen 127.0.0.1:18445\n" in (prefix.listen_dir / "wsgideploy-hello.conf").read_text()


def test_install_site_adds_no_listen_the_host_config_already_has(prefix: ApachePrefix) -> None:
    (prefix.listen_dir / "ports.conf").write_text("Listen 18446\n")
    result = run_install(prefix, SITE.format(port=18446))
    assert result.returncode == 0, result.stderr
    listen = (prefix.listen_dir / "wsgideploy-hello.conf").read_text()
    assert "\nListen" not in listen and "ports.conf already listens there" in listen
    assert (prefix.listen_dir / "ports.conf").read_text() == "Listen 18446\n"


def test_a_wildcard_listen_on_a_port_the_host_listens_on_one_address_is_refused(prefix: ApachePrefix) -> None:
    (prefix.listen_dir / "ports.conf").write_text("Listen 127.0.0.1:18450\n")
    result = run_install(prefix, "# wsgideploy-listen: 18450\n<VirtualHost *:18450>\n</VirtualHost>\n")
    assert result.returncode == 1 and "already listened on one address" in result.stderr, result.stderr
    assert list(prefix.sites_available.iterdir()) == [] and list(prefix.sites_enabled.iterdir()) == []


def test_a_rejected_site_puts_the_previous_config_back(prefix: ApachePrefix) -> None:
    assert run_install(prefix, SITE.format(port=18447)).returncode == 0
    before = {p.name: p.read_text() for p in (*prefix.sites_available.iterdir(), *prefix.listen_dir.iterdir())}
    broken = SITE.format(port=18448).replace("ServerName localhost", "NoSuchDirective on")
    result = run_install(prefix, broken)
    assert result.returncode == 1
    assert "NoSuchDirective" in result.stderr and "the previous config was put back" in result.stderr
    after = {p.name: p.read_text() for p in (*prefix.sites_available.iterdir(), *prefix.listen_dir.iterdir())}
    assert after == before


def test_a_rejected_first_site_leaves_nothing_behind(prefix: ApachePrefix) -> None:
    result = run_install(prefix, "NoSuchDirective on\n# wsgideploy-listen: 18449\n")
    assert result.returncode == 1
    assert list(prefix.sites_available.iterdir()) == [] and list(prefix.sites_enabled.iterdir()) == []
    assert list(prefix.listen_dir.iterdir()) == []


# --- the generated entry points, run -------------------------------------------------------

APP_PY = '''
import os, subprocess, sys
from flask import Flask
print("printed at import")

def create_app():
    app = Flask(__name__)

    @app.route("/")
    def index():
        print("printed in the view")
        sys.stdout.write("written to sys.stdout\\n")
        subprocess.run(["echo", "a subprocess on fd 1"])
        return ("body from " + os.path.basename(os.getcwd()) + " " + os.environ.get("FROM_ENV", "-")
                + " reexec=" + os.environ.get("WSGIDEPLOY_CGI_REEXEC", "0"))

    return app

app = create_app()
'''


def make_release(tmp_path: Path, server: str, wsgi: str) -> tuple[Path, dict[str, str]]:
    pytest.importorskip("flask")
    root = tmp_path / "root"
    release = root / "releases" / RID
    (release / ".wsgideploy").mkdir(parents=True)
    (root / "shared/log").mkdir(parents=True)
    (root / "shared/.env").write_text("FROM_ENV=secret-ok\n")
    (root / "current").symlink_to(release)
    (release / "app.py").write_text(APP_PY)
    files = render(server, layout=Layout(str(root)), wsgi=wsgi)
    for name, text in files.items():
        (release / ".wsgideploy" / name).write_text(text)
    return root, files


@pytest.mark.parametrize("wsgi", ["app:app", "app:create_app()"])
def test_generated_cgi_script_answers_and_keeps_prints_out_of_the_response(tmp_path: Path, wsgi: str) -> None:
    root, _ = make_release(tmp_path, "cgi", wsgi)
    script = root / "current/.wsgideploy/app.cgi"
    env = {"PATH": os.environ["PATH"], "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/",
           "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
           "GATEWAY_INTERFACE": "CGI/1.1", "QUERY_STRING": ""}
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    out, err = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, err
    head, _, body = out.partition("\r\n\r\n")
    assert head.startswith("Status: 200 OK\r\n"), out
    assert body == f"body from {RID} secret-ok reexec=0", out
    for noise in ("printed at import", "printed in the view", "written to sys.stdout", "a subprocess on fd 1"):
        assert noise in err and noise not in out
    check = subprocess.run([sys.executable, str(script)], env={**env, "WSGIDEPLOY_CGI_CHECK": "1"},
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and check.stdout == "", check.stderr


def test_generated_cgi_script_reexecutes_with_its_own_release_venv_python(tmp_path: Path) -> None:
    """Run by another python than the release's venv (as after a switch between the kernel
    reading the #! line and python reading the script), it re-executes itself once with it."""
    root, _ = make_release(tmp_path, "cgi", "app:app")
    (root / "current/venv/bin").mkdir(parents=True)
    (root / "current/venv/bin/python").symlink_to(sys.executable)
    env = {"PATH": os.environ["PATH"], "REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "x",
           "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1"}
    result = subprocess.run([sys.executable, str(root / "current/.wsgideploy/app.cgi")], env=env,
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.stdout.endswith(f"body from {RID} secret-ok reexec=1"), result.stdout + result.stderr


def test_generated_cgi_script_answers_500_when_the_app_does_not_load(tmp_path: Path) -> None:
    root, _ = make_release(tmp_path, "cgi", "app:app")
    (root / "current/app.py").write_text("import no_such_module_anywhere\n")
    env = {"PATH": os.environ["PATH"], "REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "x",
           "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1"}
    result = subprocess.run([sys.executable, str(root / "current/.wsgideploy/app.cgi")], env=env,
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.stdout.startswith("Status: 500"), result.stdout
    assert "no_such_module_anywhere" in result.stderr


@pytest.mark.parametrize("wsgi", ["app:app", "app:create_app()"])
def test_generated_wsgi_file_loads_the_app_as_application(tmp_path: Path, wsgi: str) -> None:
    root, _ = make_release(tmp_path, "mod_wsgi", wsgi)
    probe = (
        "import runpy, sys, io\n"
        "from wsgiref.util import setup_testing_defaults\n"
        "ns = runpy.run_path(sys.argv[1])\n"
        "env = {}; setup_testing_defaults(env)\n"
        "status = []\n"
        "body = b''.join(ns['application'](env, lambda s, h, e=None: status.append(s)))\n"
        "sys.__stdout__.write(status[0] + '|' + body.decode())\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(root / "current/.wsgideploy/app.wsgi")],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"200 OK|body from {RID} secret-ok reexec=0" in result.stdout, result.stdout
    assert "printed in the view" in result.stderr and "printed in the view" not in result.stdout
