"""The uWSGI mode (``server = "uwsgi"``): script builders, templates and the entry module.

Pure and local: bash -n on every script, the rendered uwsgi.ini read back section by
section, the entry module executed against a fake app, the check script run against a
fake ``uwsgi`` binary, ``stop``/``status`` against a fake master, and ``nginx -t`` on the
rendered site.
"""
from __future__ import annotations

import configparser
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from wsgideploy.commands import uwsgi
from wsgideploy.commands.recipe import recipe
from wsgideploy.inventory import App
from wsgideploy.layout import Layout
from wsgideploy.modes import ServerContext, app_server
from wsgideploy.render import TEMPLATES_DIR, render_release_configs, template_context

from tests.unit.recipe_text import function_body

RID = "20261121T101500Z"
ROOT = "/srv/hello"

LAYOUTS = [
    pytest.param(Layout("/srv/hello"), id="plain"),
    pytest.param(Layout("/srv/my-app_2"), id="dash-underscore"),
    pytest.param(Layout("/home/o'neil/apps/x"), id="single-quote"),
    pytest.param(Layout("/srv/a;b&c|d"), id="shell-metacharacters"),
]

BUILDERS = {
    "check": lambda ctx: app_server("uwsgi").check(ctx, RID),
    "start": app_server("uwsgi").start,
    "upgrade": app_server("uwsgi").upgrade,
    "upgrade only if running": lambda ctx: app_server("uwsgi").upgrade(ctx, start_if_stopped=False),
    "stop": app_server("uwsgi").stop,
    "status": app_server("uwsgi").status,
}


def make_app(root: str = ROOT, **overrides) -> App:
    fields = dict(name="hello", source=Path("/nonexistent/hello"), wsgi="app:app", root=root,
                  server="uwsgi", proxy="nginx", server_name="hello.example.com", listen=8080)
    return App(**{**fields, **overrides})


def configs_for(root: str = ROOT, vars: dict | None = None, **overrides) -> dict[str, str]:
    app = make_app(root, **overrides)
    return render_release_configs(template_context(app, Layout(root), RID, "static", vars or {}))


def read_ini(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, inline_comment_prefixes=None)
    parser.read_string(text)
    return parser


# --- the protocol -----------------------------------------------------------------------


def test_the_mode_is_registered_and_names_its_templates() -> None:
    server = app_server("uwsgi")
    assert isinstance(server, uwsgi.Uwsgi) and server.fronts == ("nginx",)
    assert "uwsgi" in server.packages
    for template in server.config_templates.values():
        assert (TEMPLATES_DIR / template).is_file(), template
    for part in ("upstream", "location"):
        assert (TEMPLATES_DIR / "nginx" / f"{server.upstream}.{part}.j2").is_file()


@pytest.mark.parametrize("builder", list(BUILDERS))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_script_passes_bash_syntax_check(bash_syntax, layout: Layout, builder: str) -> None:
    ctx = ServerContext(layout, app=make_app(layout.root), timeout=60.5, graceful_timeout=30)
    assert bash_syntax(BUILDERS[builder](ctx)) is None


def test_scripts_control_uwsgi_through_the_fifo_and_the_pidfile_in_shared_run() -> None:
    ctx = ServerContext(Layout(ROOT), timeout=60, graceful_timeout=30)
    upgrade, stop, start = app_server("uwsgi").upgrade(ctx), app_server("uwsgi").stop(ctx), app_server("uwsgi").start(ctx)
    assert f"pidfile={ROOT}/shared/run/uwsgi.pid" in upgrade
    assert f"fifo={ROOT}/shared/run/uwsgi.fifo" in upgrade
    # chain reload, or a full reload when the master's options changed; q to stop
    assert "command=c" in upgrade and "command=r" in upgrade and "send $command" in upgrade
    stop_body = function_body("uwsgi", "uwsgi_stop")  # what the stop script runs
    assert "\nuwsgi_stop\n" in stop and "send q" in stop_body
    assert "kill -TERM" not in stop_body and "term_pid" not in stop_body and "pidfile_stop" not in stop_body
    assert 'setsid "$current/venv/bin/uwsgi" --ini "$live_ini"' in function_body("uwsgi", "start_master")
    assert f"\ncurrent={ROOT}/current\n" in start and f"\nroot={ROOT}\n" in start
    assert f"live_ini={ROOT}/current/.wsgideploy/uwsgi.ini" in start
    # graceful_timeout + 5
    assert "\nGRACEFUL_TIMEOUT=30\n" in stop and 'wait=$((GRACEFUL_TIMEOUT + 5))' in stop_body
    assert 'if wait_gone "$pid" $wait; then' in stop_body


def test_check_loads_the_app_in_the_new_release_with_a_timeout_and_flask_run_from_cli() -> None:
    text = app_server("uwsgi").check(ServerContext(Layout(ROOT), timeout=45), RID)
    release = f"{ROOT}/releases/{RID}"
    assert f"\nrelease={release}\n" in text and "\ncheck_timeout=45\n" in text and "\nconfig_dir_name=.wsgideploy\n" in text
    body = function_body("uwsgi", "uwsgi_check")
    assert 'local uwsgi="$release/venv/bin/uwsgi" ini="$release/$config_dir_name/uwsgi.ini"' in body
    assert 'WSGIDEPLOY_CHECK_RELEASE="$release" load_app "$check_timeout" "$uwsgi" --ini "$ini:check"' in body
    assert ('out=$(FLASK_RUN_FROM_CLI=true timeout -k 5 "$seconds" "$@" < /dev/null 2>&1)'
            in function_body("app_check", "load_app"))
    # The master's section is parsed only, and never with vacuum (it would remove the live pidfile).
    assert '"$uwsgi" --ini "$ini:uwsgi" --set vacuum=false --version' in body


# --- uwsgi.ini ----------------------------------------------------------------------------


def test_the_master_section_names_only_current_paths_and_the_chain_reload_options() -> None:
    ini = configs_for(vars={"workers": 3})["uwsgi.ini"]
    parser = read_ini(ini)
    master = dict(parser["uwsgi"])
    current = f"{ROOT}/current"
    assert {k: master[k] for k in ("master", "binary-path", "home", "pythonpath", "hook-post-fork",
                                   "lazy-apps", "master-fifo", "vacuum", "die-on-term", "socket",
                                   "pidfile", "processes", "wsgi-file", "strict")} == {
        "master": "true",
        "binary-path": f"{current}/venv/bin/uwsgi",
        "home": f"{current}/venv",
        "pythonpath": current,
        "hook-post-fork": f"chdir:{current}",
        "lazy-apps": "true",
        "master-fifo": f"{ROOT}/shared/run/{uwsgi.FIFO}",
        "vacuum": "true",
        "die-on-term": "true",
        "socket": f"{ROOT}/shared/run/{uwsgi.SOCKET}",
        "pidfile": f"{ROOT}/shared/run/{uwsgi.PIDFILE}",
        "processes": "3",
        "wsgi-file": f"{current}/.wsgideploy/uwsgi_app.py",
        "strict": "true",
    }
    assert "0.0.0.0" not in ini and "http-socket" not in ini
    section = ini.split("[uwsgi]", 1)[1].split("[check]", 1)[0]
    assert f"{ROOT}/releases" not in section, "the master section must never pin a release"
    assert "need-app" not in section, "need-app would make a broken chain reload kill the master"


def test_the_socket_is_the_one_the_nginx_upstream_names() -> None:
    configs = configs_for()
    assert read_ini(configs["uwsgi.ini"])["uwsgi"]["socket"] == f"{ROOT}/shared/run/uwsgi.sock"
    assert f"server unix:{ROOT}/shared/run/uwsgi.sock max_fails=0;" in configs["nginx.conf"]


def test_the_check_section_loads_the_release_itself_once_and_exits() -> None:
    check = dict(read_ini(configs_for()["uwsgi.ini"])["check"])
    release = f"{ROOT}/releases/{RID}"
    assert check["home"] == f"{release}/venv" and check["pythonpath"] == release
    assert check["chdir"] == release and check["wsgi-file"] == f"{release}/.wsgideploy/uwsgi_app.py"
    assert check["need-app"] == "true" and check["hook-post-app"] == "exit:0"
    assert check["master"] == "false" and check["processes"] == "1"
    assert check["socket"] == f"{ROOT}/shared/run/{uwsgi.CHECK_SOCKET}"
    assert "pidfile" not in check and "vacuum" not in check and "master-fifo" not in check


def test_both_sections_share_the_app_options() -> None:
    parser = read_ini(configs_for(url_prefix="/yourapplication")["uwsgi.ini"])
    keys = ("home", "pythonpath", "mount", "manage-script-name", "single-interpreter", "enable-threads")
    live = {k: parser["uwsgi"][k].replace(f"{ROOT}/current", "BASE") for k in keys}
    check = {k: parser["check"][k].replace(f"{ROOT}/releases/{RID}", "BASE") for k in keys}
    assert live == check


def test_a_url_prefix_mounts_the_entry_module_and_manages_script_name() -> None:
    master = read_ini(configs_for(url_prefix="/yourapplication")["uwsgi.ini"])["uwsgi"]
    assert master["mount"] == f"/yourapplication={ROOT}/current/.wsgideploy/uwsgi_app.py"
    assert master["manage-script-name"] == "true"
    assert "wsgi-file" not in master


def test_running_ini_comparison_ignores_comments_and_the_check_section() -> None:
    """Two releases with the same options: the same [uwsgi] section once comments are gone,
    so a deploy is a chain reload; other workers make it a full reload."""
    first = configs_for()["uwsgi.ini"]
    second = first.replace(RID, "20261122T000000Z")
    third = configs_for(vars={"workers": 5})["uwsgi.ini"]

    def master_options(text: str) -> str:
        script = ("awk '/^\\[/ { s = $0 } s == \"[uwsgi]\" && !/^[[:space:]]*[#;]/ && NF'")
        assert script in recipe("uwsgi")
        return subprocess.run(["bash", "-c", script], input=text, capture_output=True, text=True,
                              check=True).stdout

    assert first != second and master_options(first) == master_options(second)
    assert master_options(first) != master_options(third)
    assert "[check]" not in master_options(first) and "#" not in master_options(first)


# --- the entry module ---------------------------------------------------------------------


FAKE_APP = textwrap.dedent('''
    import os
    SEEN = os.environ.get("GREETING")
    def create_app(name="default"):
        def application(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [f"{name} {SEEN}".encode()]
        return application
    app = create_app("plain")
''')


def release_with_entry(tmp_path: Path, wsgi: str, app_source: str = FAKE_APP) -> tuple[Layout, Path]:
    """A release directory under tmp_path with the rendered configs and a fake app."""
    layout = Layout(str(tmp_path / "root"))
    release = Path(layout.release(RID))
    config_dir = release / ".wsgideploy"
    config_dir.mkdir(parents=True)
    for d in (layout.run, layout.log):
        Path(d).mkdir(parents=True)
    app = make_app(layout.root, wsgi=wsgi)
    for name, text in render_release_configs(template_context(app, layout, RID, None, {})).items():
        (config_dir / name).write_text(text)
    (release / "app.py").write_text(app_source)
    (Path(layout.shared) / ".env").write_text("GREETING='hello from .env'\n")
    return layout, release


def run_entry(release: Path, checking: bool = False) -> subprocess.CompletedProcess[str]:
    """Load .wsgideploy/uwsgi_app.py as uWSGI does (a file, the release on sys.path) and call it."""
    code = textwrap.dedent(f'''
        import runpy, sys, os
        sys.path.insert(0, {str(release)!r})
        namespace = runpy.run_path({str(release / ".wsgideploy" / "uwsgi_app.py")!r})
        body = namespace["application"]({{}}, lambda status, headers: None)
        print("PID", os.getpid())
        print("BODY", b"".join(body).decode())
    ''')
    env = {k: v for k, v in os.environ.items() if k not in ("WSGIDEPLOY_CHECK_RELEASE", "GREETING")}
    if checking:
        env["WSGIDEPLOY_CHECK_RELEASE"] = str(release)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=release, timeout=60)


@pytest.mark.parametrize("wsgi, body", [("app:app", "plain hello from .env"),
                                        ("app:create_app('prod')", "prod hello from .env")])
def test_the_entry_module_loads_the_app_with_the_env_file_and_marks_the_worker_ready(
        tmp_path: Path, wsgi: str, body: str) -> None:
    layout, release = release_with_entry(tmp_path, wsgi)
    result = run_entry(release)
    assert result.returncode == 0, result.stderr
    assert f"BODY {body}" in result.stdout
    pid = result.stdout.split("PID ", 1)[1].split()[0]
    assert sorted(p.name for p in Path(layout.run).iterdir()) == [f"uwsgi.ready.{pid}"]


def test_the_entry_module_marks_a_worker_that_cannot_load_the_app_as_failed(tmp_path: Path) -> None:
    layout, release = release_with_entry(tmp_path, "app:app", "import module_that_does_not_exist\n")
    result = run_entry(release)
    assert result.returncode != 0 and "module_that_does_not_exist" in result.stderr
    markers = [p.name for p in Path(layout.run).iterdir()]
    assert len(markers) == 1 and markers[0].startswith("uwsgi.failed.")


def test_the_check_run_leaves_no_marker(tmp_path: Path) -> None:
    layout, release = release_with_entry(tmp_path, "app:app")
    assert run_entry(release, checking=True).returncode == 0
    assert list(Path(layout.run).iterdir()) == []


def test_the_entry_module_compiles_for_factories_with_arguments() -> None:
    for wsgi in ("app:app", "pkg.web:create_app()", "app:create_app(\"prod\", debug=False)"):
        compile(configs_for(wsgi=wsgi)["uwsgi_app.py"], "uwsgi_app.py", "exec")


# --- the check against a fake uwsgi --------------------------------------------------------


def fake_uwsgi(release: Path, version_exit: int, check_exit: int, check_output: str) -> Path:
    binary = release / "venv" / "bin" / "uwsgi"
    binary.parent.mkdir(parents=True)
    binary.write_text(textwrap.dedent(f'''\
        #!/bin/bash
        echo "$@" >> "$(dirname "$0")/calls"
        env | grep -E '^(FLASK_RUN_FROM_CLI|WSGIDEPLOY_CHECK_RELEASE)=' >> "$(dirname "$0")/calls"
        case "$*" in
          *--version*) echo 2.0.31; exit {version_exit};;
          *) echo {check_output!r}; exit {check_exit};;
        esac
    '''))
    binary.chmod(0o755)
    return binary


@pytest.mark.parametrize("version_exit, check_exit, message", [
    (0, 0, None),
    (0, 22, "the app does not load in release"),
    (1, 0, "rejects the [uwsgi] section"),
    (0, 1, "could not run the [check] section"),
])
def test_the_check_script_maps_uwsgi_exit_codes_to_messages(
        tmp_path: Path, version_exit: int, check_exit: int, message: str | None) -> None:
    layout = Layout(str(tmp_path / "root"))
    release = Path(layout.release(RID))
    (release / ".wsgideploy").mkdir(parents=True)
    Path(layout.run).mkdir(parents=True)
    binary = fake_uwsgi(release, version_exit, check_exit, "Traceback: ImportError: no module x")
    result = subprocess.run(["bash", "-c", app_server("uwsgi").check(ServerContext(layout, timeout=20), RID)],
                            capture_output=True, text=True, timeout=60)
    if message is None:
        assert result.returncode == 0, result.stderr
        calls = (binary.parent / "calls").read_text()
        assert "FLASK_RUN_FROM_CLI=true" in calls and f"WSGIDEPLOY_CHECK_RELEASE={release}" in calls
        assert ".wsgideploy/uwsgi.ini:check" in calls
    else:
        assert result.returncode == 1 and message in result.stderr, result.stderr
    if check_exit == 22:
        assert "ImportError: no module x" in result.stderr


def test_the_check_fails_clearly_without_uwsgi_in_the_venv(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path / "root"))
    Path(layout.release(RID)).mkdir(parents=True)
    result = subprocess.run(["bash", "-c", app_server("uwsgi").check(ServerContext(layout), RID)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "uwsgi is not installed in the venv" in result.stderr


# --- stop and status against a fake master ------------------------------------------------


FAKE_MASTER = textwrap.dedent('''
    import os, signal, sys, time
    run = sys.argv[1]
    fifo = os.path.join(run, "uwsgi.fifo")
    os.mkfifo(fifo)
    kids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        kids.append(pid)
        open(os.path.join(run, "uwsgi.ready.%d" % pid), "w").close()
    with open(os.path.join(run, "uwsgi.pid"), "w") as fh:
        fh.write("%d\\n" % os.getpid())
    fd = os.open(fifo, os.O_RDWR)
    while True:
        command = os.read(fd, 1)
        with open(os.path.join(run, "commands"), "ab") as fh:
            fh.write(command)
        if command == b"q":
            for kid in kids:
                os.kill(kid, signal.SIGTERM)
                os.waitpid(kid, 0)
            os.unlink(os.path.join(run, "uwsgi.pid"))
            sys.exit(0)
''')


@pytest.fixture
def fake_master(tmp_path: Path):
    layout = Layout(str(tmp_path / "root"))
    run = Path(layout.run)
    run.mkdir(parents=True)
    Path(layout.log).mkdir(parents=True)
    process = subprocess.Popen([sys.executable, "-c", FAKE_MASTER, str(run)])
    deadline = time.monotonic() + 10
    while not (run / "uwsgi.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield layout, process
    finally:
        if process.poll() is None:
            for marker in run.glob("uwsgi.ready.*"):
                try:
                    os.kill(int(marker.name.rsplit(".", 1)[1]), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.kill()
            process.wait(5)


def facts(stdout: str) -> dict[str, str]:
    return dict(line.split(":", 1)[1].split("=", 1) for line in stdout.splitlines()
                if line.startswith("wsgideploy-fact:"))


def test_status_reports_the_master_and_its_ready_workers(fake_master) -> None:
    layout, process = fake_master
    result = subprocess.run(["bash", "-c", app_server("uwsgi").status(ServerContext(layout))],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    found = facts(result.stdout)
    assert found["pid"] == str(process.pid)
    assert len(found["workers"].split()) == 2 and found["ready_workers"] == "2"


def test_stop_writes_q_to_the_fifo_and_cleans_up(fake_master) -> None:
    layout, process = fake_master
    run = Path(layout.run)
    result = subprocess.run(["bash", "-c", app_server("uwsgi").stop(ServerContext(layout, graceful_timeout=5))],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert facts(result.stdout)["action"] == "stopped"
    assert process.wait(5) == 0
    assert (run / "commands").read_bytes() == b"q"
    assert sorted(p.name for p in run.iterdir()) == ["commands"], "pidfile, FIFO and markers removed"
    again = subprocess.run(["bash", "-c", app_server("uwsgi").stop(ServerContext(layout))],
                           capture_output=True, text=True, timeout=30)
    assert facts(again.stdout)["action"] == "not running"


# --- the nginx site -----------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "/yourapplication"])
def test_the_site_passes_nginx_t_and_speaks_uwsgi(tmp_path: Path, prefix: str) -> None:
    nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not nginx:
        pytest.skip("nginx is not installed")
    root = tmp_path / "root"
    (root / "shared" / "log").mkdir(parents=True)
    site = configs_for(str(root), url_prefix=prefix,
                       static_url=f"{prefix}/static")["nginx.conf"]
    assert "proxy_pass" not in site and "X-Forwarded" not in site
    assert site.count("uwsgi_pass wsgideploy_hello;") == (2 if prefix else 1)
    assert "uwsgi_param PATH_INFO $document_uri;" in site and "include uwsgi_params" not in site
    if prefix:
        assert "location = /yourapplication {" in site and "location /yourapplication/ {" in site
        assert "location / {" not in site
        assert "location /yourapplication/static/ {" in site
    else:
        assert "location / {" in site
    (tmp_path / "site.conf").write_text(site)
    main = tmp_path / "nginx.conf"
    main.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
                    f"http {{\n  uwsgi_temp_path {tmp_path}/uwsgi_temp;\n"
                    f"  client_body_temp_path {tmp_path}/body;\n  include {tmp_path}/site.conf;\n}}\n")
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(main), "-e", str(tmp_path / "e.log")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
