"""server = "fastcgi" (flup) and proxy = "lighttpd": the pure builders, the templates, the runner.

Scripts pass ``bash -n``; the runner compiles and, run locally against a fake release, gives
its clear errors; the nginx and lighttpd sites pass ``nginx -t`` and ``lighttpd -tt`` in a
private prefix under tmp_path.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from wsgideploy.commands import fastcgi, lighttpd
from wsgideploy.inventory import App, Lighttpd
from wsgideploy.layout import Layout
from wsgideploy.modes import ServerContext, app_server, front_server
from wsgideploy.protocol import parse_facts
from wsgideploy.render import TEMPLATES_DIR, render_release_configs, template_context

from tests.hosts.lighttpd import LighttpdPrefix
from tests.hosts.nginx import NginxPrefix
from tests.unit.recipe_text import function_body

RID = "20261121T101500Z"
NGINX = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin:/bin")
LIGHTTPD = shutil.which("lighttpd", path="/usr/sbin:/usr/bin:/sbin:/bin")

LAYOUTS = [Layout("/srv/hello"), Layout("/srv/my-app_2"), Layout("/home/o'neil/apps/x"), Layout("/srv/a;b&c|d")]
LIGHTTPDS = [
    Lighttpd(),
    Lighttpd(sudo=False, control="signal", conf="/opt/lt/lighttpd.conf", binary="/opt/lt/sbin/lighttpd",
             sites_available="/opt/lt/conf-available", sites_enabled="/opt/lt/conf-enabled", pidfile="/opt/lt/pid"),
    Lighttpd(control="systemd"),
    Lighttpd(sudo=False, conf="/etc/lighttpd/custom.conf"),
]


def ctx(layout: Layout) -> ServerContext:
    return ServerContext(layout, timeout=60, graceful_timeout=30)


SERVER_BUILDERS = {
    "check": lambda lay: app_server("fastcgi").check(ctx(lay), RID),
    "start": lambda lay: app_server("fastcgi").start(ctx(lay)),
    "upgrade": lambda lay: app_server("fastcgi").upgrade(ctx(lay)),
    "upgrade only if running": lambda lay: app_server("fastcgi").upgrade(ctx(lay), start_if_stopped=False),
    "stop": lambda lay: app_server("fastcgi").stop(ctx(lay)),
    "status": lambda lay: app_server("fastcgi").status(ctx(lay)),
}
FRONT_BUILDERS = {
    "install_site": lambda lt: lighttpd.install_site(lt, "my-app_2", f"/srv/my-app_2/releases/{RID}/lighttpd.conf"),
    "reload": lambda lt: lighttpd.reload(lt),
    "install then reload": lambda lt: lighttpd.install_site(lt, "hello", "/srv/x.conf") + lighttpd.reload(lt),
}


# --- the protocol ------------------------------------------------------------------------------


def test_fastcgi_and_lighttpd_are_the_registered_modules_and_follow_the_protocol() -> None:
    server, front = app_server("fastcgi"), front_server("lighttpd")
    assert isinstance(server, fastcgi.FastCgi) and isinstance(front, lighttpd.LighttpdFront)
    assert server.packages == ("flup>=1.0.3",)
    assert server.config_templates == {"app.fcgi": "fastcgi/app.fcgi.j2"}
    assert server.upstream == "fastcgi-unix"
    assert (TEMPLATES_DIR / "nginx/fastcgi-unix.upstream.j2").is_file()
    assert (TEMPLATES_DIR / "nginx/fastcgi-unix.location.j2").is_file()
    assert (TEMPLATES_DIR / front.site_template).is_file()
    assert "lighttpd" in server.fronts and "nginx" in server.fronts


# --- scripts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("builder", list(SERVER_BUILDERS))
@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: lay.root)
def test_fastcgi_scripts_pass_bash_syntax_check(bash_syntax, layout: Layout, builder: str) -> None:
    text = SERVER_BUILDERS[builder](layout)
    assert text.startswith("set -eu\nfail() {")
    assert bash_syntax(text) is None


@pytest.mark.parametrize("builder", list(FRONT_BUILDERS))
@pytest.mark.parametrize("settings", LIGHTTPDS, ids=["debian", "prefix-signal", "systemd", "auto-with-conf"])
def test_lighttpd_scripts_pass_bash_syntax_check(bash_syntax, settings: Lighttpd, builder: str) -> None:
    assert bash_syntax(FRONT_BUILDERS[builder](settings)) is None


def position(text: str, needle: str) -> int:
    assert needle in text, needle
    return text.index(needle)


def test_upgrade_starts_the_new_runner_and_swaps_the_socket_before_it_stops_the_old_one() -> None:
    text = app_server("fastcgi").upgrade(ctx(Layout("/srv/hello")))
    assert text.endswith("\nfastcgi_upgrade\n")
    body = function_body("fastcgi", "fastcgi_upgrade")
    assert (position(body, 'launch "$newsock"') < position(body, "go_live")
            < position(body, 'how=$(stop_runner "$old")'))
    go_live = function_body("fastcgi", "go_live")
    assert 'mv -f "$newsock" "$sock"' in go_live and 'mv -f "$pidfile.2" "$pidfile"' in go_live
    assert "\nnewsock=/srv/hello/shared/run/fastcgi.new.sock\n" in text
    assert ('setsid "$current/venv/bin/python" "$runner" --socket "$1" --pidfile "$pidfile.2"'
            in function_body("fastcgi", "launch"))
    assert "\ncurrent=/srv/hello/current\n" in text and "\nrunner=/srv/hello/current/.wsgideploy/app.fcgi\n" in text
    assert "\nSTOP_TIMEOUT=40\n" in text and "\nSTART_TIMEOUT=60\n" in text


def run_script(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("start_if_stopped, message", [
    (True, "no release is live yet: run deploy first"),  # it went on to start a runner
    (False, "the FastCGI runner is not running (use start)"),
])
def test_upgrade_of_a_stopped_runner_starts_it_or_fails_as_asked(tmp_path: Path, start_if_stopped: bool,
                                                                 message: str) -> None:
    layout = Layout(str(tmp_path / "root"))
    Path(layout.run).mkdir(parents=True)
    result = run_script(app_server("fastcgi").upgrade(ctx(layout), start_if_stopped=start_if_stopped))
    assert result.returncode == 1 and result.stderr.strip() == message, result


@pytest.mark.parametrize("exit_code, message", [
    (0, None),
    (1, f"the app does not load in release {RID} with its FastCGI runner (error above)"),
    (124, "importing the app took longer than 42s (does it block at import time?)"),
])
def test_check_runs_the_new_release_runner_in_its_own_venv_with_a_timeout(tmp_path: Path, exit_code: int,
                                                                           message: str | None) -> None:
    """Run for real, with a fake venv python that records how it was called."""
    layout = Layout(str(tmp_path / "root"))
    release = Path(layout.release(RID))
    (release / ".wsgideploy").mkdir(parents=True)
    runner = release / ".wsgideploy" / "app.fcgi"
    runner.write_text("# the runner\n")
    python = release / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!/bin/bash\n{{ pwd; echo \"$@\"; echo \"flask=$FLASK_RUN_FROM_CLI\"; }} > {tmp_path}/calls\n"
                      f"echo 'Traceback: ImportError'\nexit {exit_code}\n")
    python.chmod(0o755)
    text = app_server("fastcgi").check(ServerContext(layout, timeout=42), RID)
    assert "\ncheck_timeout=42\n" in text
    result = run_script(text)
    assert runner.stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "calls").read_text() == f"{release}\n{runner} --check --release {release}\nflask=true\n"
    if message is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1 and result.stderr.splitlines()[-1] == message, result.stderr
        assert "Traceback: ImportError" in result.stderr
    assert ('timeout -k 5 "$seconds" "$@" < /dev/null' in function_body("app_check", "load_app"))


def test_stop_removes_the_pidfile_socket_and_ready_markers(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path / "root"))
    run = Path(layout.run)
    run.mkdir(parents=True)
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / "fastcgi.pid").write_text(f"{runner.pid}\n")
        (run / "fastcgi.sock").write_text("")
        (run / f"fastcgi.ready.{runner.pid}").write_text("")
        (run / "fastcgi.ready.999999999").write_text("")
        result = run_script(app_server("fastcgi").stop(ctx(layout)))
        assert result.returncode == 0, result.stderr
        assert parse_facts(result.stdout) == {"pid": str(runner.pid), "action": "stopped"}
        assert runner.wait(5) == -signal.SIGTERM
        assert list(run.iterdir()) == [], "pidfile, socket and markers removed"
        again = run_script(app_server("fastcgi").stop(ctx(layout)))
        assert parse_facts(again.stdout) == {"action": "not running"}
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(5)


@pytest.mark.parametrize("settings, expected", [
    (Lighttpd(), "sudo -n lighttpd -f /etc/lighttpd/lighttpd.conf -tt"),
    (Lighttpd(sudo=False, conf="/opt/lt.conf", binary="/usr/sbin/lighttpd"), "/usr/sbin/lighttpd -f /opt/lt.conf -tt"),
])
def test_lighttpd_command_names_the_config_and_sudo(settings: Lighttpd, expected: str) -> None:
    assert lighttpd.lighttpd_command(settings, "-tt") == expected


def test_lighttpd_install_site_tests_the_config_and_restores_the_previous_site_on_failure() -> None:
    text = lighttpd.install_site(Lighttpd(sudo=False), "hello", "# the site\n")
    assert text.endswith("\nsite_install\n")
    assert "\nSITE_AVAILABLE=/etc/lighttpd/conf-available/wsgideploy-hello.conf\n" in text
    assert "\nSITE_ENABLED=/etc/lighttpd/conf-enabled/wsgideploy-hello.conf\n" in text
    assert "\nSITE_TEXT='# the site\n'\n" in text
    assert "\nlighttpd_cmd() { lighttpd -f /etc/lighttpd/lighttpd.conf \"$@\"; }\n" in text
    assert function_body("lighttpd", "site_test") == "\nsite_test() { lighttpd_cmd -tt; }\n"
    install = function_body("site", "site_install")
    assert (position(install, "site_keep") < position(install, 'root_install "$SITE_AVAILABLE"')
            < position(install, 'as_root ln -sfn "$SITE_AVAILABLE" "$SITE_ENABLED"')
            < position(install, "if ! out=$(site_test 2>&1)") < position(install, "site_restore"))


@pytest.mark.parametrize("settings, present, absent", [
    (Lighttpd(sudo=False, control="signal", conf="/p/l.conf", pidfile="/p/l.pid"),
     ['pkill --signal USR1 --pidfile "$PIDFILE"', 'pid_in "$PIDFILE"', "lighttpd_daemon"], ["systemctl", "kill -USR1"]),
    (Lighttpd(control="systemd"), ["sudo -n", "systemctl reload lighttpd", "systemctl start lighttpd"], ["USR1"]),
    (Lighttpd(), ["/run/systemd/system", "systemctl reload lighttpd", 'as_root pkill --signal USR1'], []),
    (Lighttpd(conf="/p/l.conf"), ['as_root pkill --signal USR1 --pidfile "$PIDFILE"'], ["systemctl"]),
])
def test_lighttpd_reload_tests_first_then_signals_or_uses_systemd(settings, present, absent) -> None:
    text = lighttpd.reload(settings)
    assert text.endswith("\nlighttpd_test\nlighttpd_apply_or_fail \"\"\n")
    assert f"\nPIDFILE={settings.pidfile}\n" in text
    assert "lighttpd_cmd -tt" in function_body("lighttpd", "lighttpd_test")
    control = lighttpd.control_functions(settings)
    assert control in text
    for needle in present:
        assert needle in control
    for needle in absent:
        assert needle not in control


# --- templates ---------------------------------------------------------------------------------


def configs(proxy: str = "nginx", root: str = "/srv/hello", **app_fields) -> dict[str, str]:
    fields = {"listen": 8080, "listen_address": "127.0.0.1", "server_name": "localhost", **app_fields}
    app = App(name="hello", source=Path("."), wsgi=fields.pop("wsgi", "app:app"), root=root,
              server="fastcgi", proxy=proxy, **fields)
    static = fields.get("static_dir", "static")
    return render_release_configs(template_context(app, Layout(root), RID, static, {}))


def test_the_runner_compiles_and_names_only_absolute_live_paths() -> None:
    runner = configs()["app.fcgi"]
    compile(runner, "app.fcgi", "exec")
    assert runner.startswith(f"#!/srv/hello/releases/{RID}/venv/bin/python\n"), "its own release's venv"
    assert 'WSGI = "app:app"' in runner
    assert 'CURRENT = "/srv/hello/current"' in runner
    assert 'LIVE_SOCKET = "/srv/hello/shared/run/fastcgi.sock"' in runner
    assert 'ENV_FILE = "/srv/hello/shared/.env"' in runner
    code = runner.split('"""', 2)[2]
    assert f'RELEASE = "/srv/hello/releases/{RID}"' in code, "it serves the release its file belongs to"
    assert code.count(RID) == 1, "and names it once"


def test_nginx_site_passes_fastcgi_to_the_socket_with_script_name_and_path_info_at_the_root() -> None:
    site = configs()["nginx.conf"]
    assert "server unix:/srv/hello/shared/run/fastcgi.sock fail_timeout=0;" in site
    assert "fastcgi_pass wsgideploy_hello;" in site
    assert 'fastcgi_param SCRIPT_NAME "";' in site and "fastcgi_param PATH_INFO $uri;" in site
    assert "proxy_pass" not in site and "X-Forwarded" not in site


def test_nginx_site_under_a_url_prefix_splits_it_off_as_script_name() -> None:
    site = configs(url_prefix="/my.app")["nginx.conf"]
    assert "location = /my.app {" in site and "location /my.app/ {" in site
    assert r"fastcgi_split_path_info (?s)^(/my\.app)(/.*)$;" in site
    assert "fastcgi_param SCRIPT_NAME $fastcgi_script_name;" in site
    assert "fastcgi_param PATH_INFO $fastcgi_path_info;" in site
    assert "fastcgi_param SCRIPT_NAME /my.app;" in site and 'fastcgi_param PATH_INFO "";' in site
    assert "location / {" not in site


def test_lighttpd_site_listens_on_the_app_socket_and_passes_to_the_runner() -> None:
    site = configs("lighttpd")["lighttpd.conf"]
    assert '$SERVER["socket"] == "127.0.0.1:8080" {' in site
    assert '$HTTP["host"] =~ "^(localhost)(:[0-9]+)?$" {' in site
    assert '"socket" => "/srv/hello/shared/run/fastcgi.sock"' in site
    assert '"fix-root-scriptname" => "enable"' in site and '"check-local" => "disable"' in site
    assert '"disable-time" => 0' in site, "a failed connect keeps lighttpd from the runner for 1 s more"
    assert '"bin-path"' not in site, "lighttpd must not spawn the runner: wsgideploy runs it"
    assert 'alias.url = ( "/static/" => "/srv/hello/current/static/" )' in site


def test_lighttpd_site_under_a_prefix_and_for_every_host() -> None:
    site = configs("lighttpd", url_prefix="/my.app", server_name="_", listen_address=None)["lighttpd.conf"]
    assert '$SERVER["socket"] == ":8080" {' in site and '$HTTP["host"]' not in site
    assert r'$HTTP["url"] =~ "^/my\.app(/|$)" {' in site
    assert 'fastcgi.server = ( "/my.app" => ( "wsgideploy_hello" => (' in site
    assert "fix-root-scriptname" not in site
    site = configs("lighttpd", listen_address="::1", server_name="a.example b")["lighttpd.conf"]
    assert '$SERVER["socket"] == "[::1]:8080" {' in site
    assert r'$HTTP["host"] =~ "^(a\.example|b)(:[0-9]+)?$" {' in site


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
@pytest.mark.parametrize("url_prefix", ["", "/yourapplication", "/my.app+v2"])
def test_the_nginx_site_passes_nginx_t(tmp_path: Path, url_prefix: str) -> None:
    prefix = NginxPrefix(tmp_path / "nginx")
    prefix.prepare()
    root = tmp_path / "app"
    (root / "shared" / "log").mkdir(parents=True)  # nginx -t opens the site's logs
    (prefix.sites_enabled / "hello").write_text(configs(root=str(root), url_prefix=url_prefix)["nginx.conf"])
    result = subprocess.run([NGINX, "-t", "-e", "stderr", "-c", str(prefix.conf)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(LIGHTTPD is None, reason="lighttpd is not installed")
@pytest.mark.parametrize("fields", [{}, {"url_prefix": "/yourapplication", "server_name": "_"},
                                    {"static_dir": None, "server_name": "a.example.com b.example.com"}])
def test_the_lighttpd_site_passes_lighttpd_tt(tmp_path: Path, fields: dict) -> None:
    prefix = LighttpdPrefix(tmp_path / "lighttpd", port=8080)
    prefix.prepare()
    (prefix.sites_enabled / "wsgideploy-hello.conf").write_text(configs("lighttpd", **fields)["lighttpd.conf"])
    result = subprocess.run([LIGHTTPD, "-tt", "-f", str(prefix.conf)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    (prefix.sites_enabled / "broken.conf").write_text('$SERVER["socket"] == ":1" {\n')
    assert subprocess.run([LIGHTTPD, "-tt", "-f", str(prefix.conf)], capture_output=True,
                          timeout=30).returncode != 0, "the test must be able to fail"


# --- the runner, run locally against a fake release ------------------------------------------------

FAKE_FLUP = {"flup/__init__.py": "", "flup/server/__init__.py": "",
             "flup/server/fcgi.py": "class WSGIServer:\n    pass\n"}


@pytest.fixture
def fake_release(tmp_path: Path, write_tree):
    """A release whose venv is this interpreter's prefix, and a stub flup on PYTHONPATH.

    ``run(wsgi, *args, files=...)`` renders the runner for ``wsgi``, writes ``files`` into the
    release and runs it with this Python; returns (exit code, stdout, stderr).
    """
    root = tmp_path / "root"
    release = root / "releases" / RID
    (release / ".wsgideploy").mkdir(parents=True)
    (root / "shared" / "run").mkdir(parents=True)
    (release / "venv").symlink_to(os.path.realpath(sys.prefix))
    (root / "current").symlink_to(release)
    shutil.copy(TEMPLATES_DIR / "wsgideploy_env.py", release / ".wsgideploy" / "wsgideploy_env.py")
    stubs = write_tree(tmp_path / "stubs", FAKE_FLUP)

    def run(wsgi: str, *args: str, files: dict[str, str] | None = None,
            python: str = sys.executable) -> tuple[int, str, str]:
        runner = release / ".wsgideploy" / "app.fcgi"
        runner.write_text(configs(root=str(root), wsgi=wsgi)["app.fcgi"])
        write_tree(release, files or {})
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FLASK_RUN_FROM_CLI")}
        env["PYTHONPATH"] = str(stubs)
        result = subprocess.run([python, str(runner), *args], capture_output=True, text=True, timeout=60,
                                cwd="/", env=env, stdin=subprocess.DEVNULL)
        return result.returncode, result.stdout, result.stderr

    run.root, run.release = root, release
    return run


def test_runner_check_loads_an_app_and_a_factory_with_shared_env(fake_release) -> None:
    (fake_release.root / "shared" / ".env").write_text("GREETING='hi there'\n")
    app = ("import os\nassert os.environ['GREETING'] == 'hi there'\n"
           "assert os.getcwd() == os.path.dirname(os.path.abspath(__file__))\n"
           "def app(environ, start_response):\n    pass\n"
           "def create_app(name):\n    return app\n")
    code, out, err = fake_release("web:app", "--check", files={"web.py": app})
    assert code == 0, err
    assert f"web:app loads from {fake_release.release}" in out
    code, out, err = fake_release("web:create_app('x')", "--check", files={"web.py": app})
    assert code == 0, err


@pytest.mark.parametrize("wsgi, files, message", [
    ("missing:app", {}, "the module 'missing' (wsgi = 'missing:app') is not importable: there is no missing.py"),
    ("web:app", {"web.py": "import not_installed_pkg\n"}, "there is no module 'not_installed_pkg' (a requirement missing from the release's venv"),
    ("web:app", {"web.py": "raise RuntimeError('boom at import')\n"}, "importing 'web' raised an error"),
    ("web:application", {"web.py": "app = 1\n"}, "evaluating 'application' in module web failed"),
    ("web:app", {"web.py": "app = 1\n"}, "'web:app' is not a WSGI application: app is a int"),
])
def test_runner_check_explains_an_app_that_does_not_load(fake_release, wsgi, files, message) -> None:
    code, out, err = fake_release(wsgi, "--check", files=files)
    assert code == 2 and message in err, err


def test_runner_refuses_another_python_than_the_release_venv(fake_release, tmp_path: Path) -> None:
    other = tmp_path / "other-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(other)], check=True, timeout=60)
    code, out, err = fake_release("web:app", "--check", files={"web.py": "app = print\n"},
                                  python=str(other / "bin" / "python"))
    assert code == 2 and "wrong Python: this runner runs under" in err, err
    assert f"{fake_release.root}/current/venv/bin/python" in err


@pytest.mark.parametrize("args, message", [
    (["--socket", "shared/run/x.sock"], "--socket must be an absolute path, not 'shared/run/x.sock'"),
    (["--release", "releases/x"], "--release must be an absolute path"),
    (["--bogus"], "unknown argument '--bogus'"),
    ([], "no FastCGI socket: standard input is not a socket"),
])
def test_runner_refuses_relative_paths_unknown_arguments_and_a_missing_socket(fake_release, args, message) -> None:
    code, out, err = fake_release("web:app", *args, files={"web.py": "app = print\n"})
    assert code == 2 and message in err, err


def test_runner_without_a_release_says_to_deploy_first(fake_release) -> None:
    code, out, err = fake_release("web:app", "--check", "--release", str(fake_release.root / "releases/nope"))
    assert code == 2 and "no release to serve" in err and "deploy first" in err, err
