"""The standalone containers (gevent, tornado, twisted) behind nginx: their modules, templates and
control scripts.

Pure checks: each module has the protocol's names, every script passes ``bash -n`` for awkward
roots, the runners render and compile, and the nginx site reaches the runner's socket and passes
``nginx -t``.

Then the control scripts for real, on this machine and without the containers themselves: the
shared runner template (``standalone/runner.py.j2``) is rendered with a small stdlib ``serve()``
(a thread per connection, same drain and shutdown order as the real ones) in place of the
gevent one, and ``start``, ``upgrade``, ``stop``, ``status`` and ``check`` run against it in
``tmp_path``. A client hammers the socket during an upgrade: no request may fail. The real
containers behind nginx are tested in tests/integration/test_mode_standalone.py.
"""
from __future__ import annotations

import http.client
import inspect
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import jinja2
import pytest
from wsgideploy.commands import standalone
from wsgideploy.protocol import parse_facts
from wsgideploy.inventory import App
from wsgideploy.layout import Layout
from wsgideploy.modes import APP_SERVERS, ServerContext, app_server
from wsgideploy.render import (
    TEMPLATES_DIR,
    render,
    render_release_configs,
    template_context,
)

from tests.hosts.nginx import NginxPrefix
from tests.unit.recipe_text import function_body

SERVERS = ("gevent", "tornado", "twisted")
RID = "20261121T101500Z"
NGINX = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin:/bin")

LAYOUTS = [
    pytest.param(Layout("/srv/hello"), id="plain"),
    pytest.param(Layout("/home/o'neil/apps/x"), id="single-quote"),
    pytest.param(Layout("/srv/a;b&c|d $x"), id="shell-metacharacters"),
]


def hello_app(server: str, root: str = "/srv/hello", **fields) -> App:
    return App(**{"name": "hello", "source": Path("/nonexistent"), "wsgi": "app:create_app()",
                  "root": root, "server": server, "server_name": "hello.example.com", "listen": 8080,
                  **fields})


def configs(server: str, root: str = "/srv/hello", **fields) -> dict[str, str]:
    context = template_context(hello_app(server, root, **fields), Layout(root), RID, "static",
                               {"graceful_timeout": 12})
    return render_release_configs(context)


# --- the modules ---------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_each_container_module_has_the_protocol_names(server: str) -> None:
    module = app_server(server)
    assert isinstance(APP_SERVERS[server], standalone.Standalone) and module.fronts == ("nginx",)
    assert len(module.packages) == 1 and module.packages[0].lower().startswith(server)
    assert module.config_templates == {f"{server}_runner.py": f"standalone/{server}.py.j2"}
    assert module.upstream == "http-unix"
    for name, params in (("check", ["ctx", "release_id"]), ("start", ["ctx"]),
                         ("upgrade", ["ctx", "start_if_stopped"]), ("stop", ["ctx"]), ("status", ["ctx"])):
        assert list(inspect.signature(getattr(module, name)).parameters) == params
    ctx = ServerContext(Layout("/srv/hello"))
    # one class for the three: their scripts differ only in the server's name
    gevent = app_server("gevent")
    assert module.recipes == gevent.recipes
    assert ({k: str(v).replace(server, "X") for k, v in module.values(ctx).items()}
            == {k: str(v).replace("gevent", "X") for k, v in gevent.values(ctx).items()})
    assert f"{server}_runner.py" in module.start(ctx) and f"/{server}.pid" in module.start(ctx)


BUILDERS = {
    "check": lambda m, lay: m.check(ServerContext(lay, timeout=60.5), RID),
    "start": lambda m, lay: m.start(ServerContext(lay, timeout=60)),
    "upgrade": lambda m, lay: m.upgrade(ServerContext(lay, timeout=60, graceful_timeout=30)),
    "upgrade only if running": lambda m, lay: m.upgrade(ServerContext(lay, graceful_timeout=7.5), False),
    "stop": lambda m, lay: m.stop(ServerContext(lay, graceful_timeout=30)),
    "status": lambda m, lay: m.status(ServerContext(lay)),
}


@pytest.mark.parametrize("builder", list(BUILDERS))
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("server", SERVERS)
def test_every_script_passes_bash_syntax_check(bash_syntax, server: str, layout: Layout, builder: str) -> None:
    text = BUILDERS[builder](app_server(server), layout)
    assert text.startswith("set -eu\nfail() {")
    assert bash_syntax(text) is None


def test_scripts_start_the_runner_of_the_resolved_live_release_with_setsid() -> None:
    text = app_server("tornado").start(ServerContext(Layout("/srv/hello"), timeout=40))
    launch = function_body("standalone", "launch")
    assert 'release=$(cd "$current" && pwd -P)' in launch and "\ncurrent=/srv/hello/current\n" in text
    assert ('exec setsid "$release/venv/bin/python" "$release/$config_dir_name/$runner" '
            '--pidfile "$target"') in launch
    assert "\nconfig_dir_name=.wsgideploy\n" in text and "\nrunner=tornado_runner.py\n" in text
    assert "\npidfile=/srv/hello/shared/run/tornado.pid\n" in text and "\nSTART_TIMEOUT=40\n" in text
    assert text.endswith("\npidfile_start\n") and 'launch "$pidfile"' in function_body("standalone", "start_master")
    upgrade = app_server("tornado").upgrade(ServerContext(Layout("/srv/hello"), graceful_timeout=9))
    body = function_body("standalone", "standalone_upgrade")
    assert upgrade.endswith("\nstandalone_upgrade\n") and "\nGRACEFUL_TIMEOUT=9\n" in upgrade
    # the pidfile names the new runner before the old one is stopped
    assert (body.index('launch "$pidfile.2"') < body.index('mv -f "$pidfile.2" "$pidfile"')
            < body.index('how=$(stop_runner "$old")'))


# --- the templates -------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_the_runner_renders_compiles_and_uses_the_socket_nginx_proxies_to(server: str) -> None:
    files = configs(server)
    assert sorted(files) == sorted([f"{server}_runner.py", "nginx.conf", "wsgideploy_entry.py",
                                    "wsgideploy_env.py", "wsgideploy_process.py", "logrotate.conf"])
    runner = files[f"{server}_runner.py"]
    compile(runner, f"{server}_runner.py", "exec")
    sock = f"/srv/hello/shared/run/{server}.sock"
    assert f"SOCKET = {sock!r}".replace("'", '"') in runner
    assert f"server unix:{sock} fail_timeout=0;" in files["nginx.conf"]
    assert "proxy_pass http://wsgideploy_hello;" in files["nginx.conf"]
    assert "0.0.0.0" not in runner and "AF_INET" not in runner, "the runner binds only the unix socket"
    assert 'SERVER = "%s"' % server in runner
    assert "GRACEFUL_TIMEOUT = float(12)" in runner
    assert "import wsgideploy_entry" in runner, "the app comes from the shared entry point (ProxyFix, logging)"
    assert "{{" not in runner and "{%" not in runner


def test_only_the_gevent_runner_monkey_patches_and_does_so_before_any_other_import() -> None:
    gevent = configs("gevent")["gevent_runner.py"]
    code = [line for line in gevent.splitlines() if line and not line.startswith("#")]
    assert code[:2] == ["from gevent import monkey", "monkey.patch_all()"]
    for server in ("tornado", "twisted"):
        assert "monkey" not in configs(server)[f"{server}_runner.py"]


def test_runner_pool_sizes_come_from_vars() -> None:
    context = template_context(hello_app("twisted"), Layout("/srv/hello"), RID, None,
                               {"standalone_threads": 3, "standalone_connections": 50, "standalone_backlog": 64})
    runner = render("standalone/twisted.py.j2", context)
    assert "THREADS = int(3)" in runner and "CONNECTIONS = int(50)" in runner and "BACKLOG = int(64)" in runner
    assert "THREADS = int(8)" in configs("twisted")["twisted_runner.py"]


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
@pytest.mark.parametrize("server", SERVERS)
def test_the_nginx_site_passes_nginx_t(tmp_path: Path, server: str) -> None:
    prefix = NginxPrefix(tmp_path / "nginx")
    prefix.prepare()
    root = tmp_path / "app"
    (root / "shared" / "log").mkdir(parents=True)  # nginx -t opens the site's logs
    (prefix.sites_enabled / "hello").write_text(configs(server, root=str(root), url_prefix="/sub")["nginx.conf"])
    command = [NGINX, "-t", "-e", "stderr", "-c", str(prefix.conf)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    (prefix.sites_enabled / "broken").write_text("server { listen 1 }\n")
    assert subprocess.run(command, capture_output=True, timeout=30).returncode != 0, "the test must be able to fail"


# --- the control scripts against a stdlib runner ---------------------------------------------

# The shared runner with a stdlib serve(): what the real ones do, without gevent/tornado/twisted.
STDLIB_RUNNER = '''{% extends "standalone/runner.py.j2" %}
{% block server %}
SERVER_LOGGERS = ()
ACCESS_LOGGER = "wsgideploy.access"


def check_server():
    pass


def serve(app, listener, access_log):
    import signal
    import threading
    from wsgiref.handlers import SimpleHandler

    sock = listener.open()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = []

    def handle(conn):
        with conn, conn.makefile("rb") as rfile, conn.makefile("wb") as wfile:
            method, target, _ = rfile.readline().decode("latin-1").split(" ", 2)
            while rfile.readline() not in (b"\\r\\n", b"\\n", b""):
                pass
            environ = {"REQUEST_METHOD": method, "PATH_INFO": target, "QUERY_STRING": "",
                       "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.0"}
            SimpleHandler(rfile, wfile, sys.stderr, environ, multithread=True).run(app)
            access_log.info("%s %s", method, target)

    def accept_queued():
        while not listener.backlog_empty():
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                return
            conn.setblocking(True)
            threads.append(threading.Thread(target=handle, args=(conn,)))
            threads[-1].start()

    listener.publish()
    while not stop.wait(0.005):
        accept_queued()
    for _ in drain_steps(listener):
        accept_queued()
        time.sleep(0.01)
    sock.close()
    for thread in threads:
        thread.join(GRACEFUL_TIMEOUT)
{% endblock %}
'''

APP = '''import os, time

VERSION = "{version}"


def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(1.0)
    body = ("%s %d %s" % (VERSION, os.getpid(), os.environ.get("GREETING", "-"))).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


class Host:
    """An app root in tmp_path with releases whose runner is the stdlib one (named gevent)."""

    server = "gevent"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.layout = Layout(str(root))
        self.ctx = ServerContext(self.layout, timeout=20, graceful_timeout=5)
        for d in ("releases", "shared/run", "shared/log"):
            (root / d).mkdir(parents=True)
        (root / "shared/.env").write_text("GREETING=hi\n")
        env = jinja2.Environment(loader=jinja2.ChoiceLoader([
            jinja2.DictLoader({"standalone/stdlib.py.j2": STDLIB_RUNNER}),
            jinja2.FileSystemLoader(str(TEMPLATES_DIR))]), undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
        self.env = env

    def release(self, rid: str, version: str, broken: bool = False) -> str:
        rel = self.root / "releases" / rid
        (rel / ".wsgideploy").mkdir(parents=True)
        (rel / "venv/bin").mkdir(parents=True)
        (rel / "venv/bin/python").symlink_to(sys.executable)
        (rel / "app.py").write_text(APP.format(version=version) + ("raise RuntimeError('broken on purpose')\n"
                                                                   if broken else ""))
        app = App(name="hello", source=Path("/nonexistent"), wsgi="app:app", root=str(self.root),
                  server=self.server)
        context = template_context(app, self.layout, rid, None, {"graceful_timeout": 5})
        files = {"gevent_runner.py": self.env.get_template("standalone/stdlib.py.j2").render(**context),
                 "wsgideploy_entry.py": render("wsgideploy_entry.py.j2", context),
                 "wsgideploy_env.py": (TEMPLATES_DIR / "wsgideploy_env.py").read_text()}
        for name, text in files.items():
            (rel / ".wsgideploy" / name).write_text(text)
        return rid

    def switch(self, rid: str) -> None:
        tmp = self.root / ".current.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(f"releases/{rid}")
        os.replace(tmp, self.root / "current")

    def run(self, script: str, ok: bool = True) -> tuple[dict[str, str], str]:
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
        assert (result.returncode == 0) == ok, (result.returncode, result.stdout, result.stderr)
        return parse_facts(result.stdout), result.stderr

    def start(self, ok: bool = True) -> dict[str, str]:
        return self.run(app_server(self.server).start(self.ctx), ok)[0]

    def get(self, path: str = "/") -> str:
        conn = http.client.HTTPConnection("localhost", timeout=10)
        conn.sock = socket.socket(socket.AF_UNIX)
        conn.sock.settimeout(10)
        conn.sock.connect(str(self.root / "shared/run/gevent.sock"))
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read().decode()
            assert response.status == 200, body
            return body
        finally:
            conn.close()

    @property
    def pidfile(self) -> Path:
        return self.root / "shared/run/gevent.pid"

    def pid(self) -> int:
        return int(self.pidfile.read_text())

    def pids(self) -> set[int]:
        """Every runner a pidfile or ready marker of this host names."""
        found = set()
        for path in (self.root / "shared/run").glob("gevent.*"):
            text = path.name.rsplit(".", 1)[-1] if ".ready." in path.name else (
                path.read_text().strip() if path.suffix in (".pid", ".2") else "")
            if text.isdigit():
                found.add(int(text))
        return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def wait_dead(pid: int, seconds: float = 10) -> bool:
    end = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < end:
        time.sleep(0.02)
    return not alive(pid)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    made = Host(tmp_path / "app")
    seen: set[int] = set()
    try:
        yield made
    finally:
        seen |= made.pids()
        for pid in seen:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        assert not [p for p in seen if not wait_dead(p)]


def test_start_serves_the_live_release_through_the_pidfile_socket_and_ready_marker(host: Host) -> None:
    host.switch(host.release("R1", "1.0.0"))
    facts = host.start()
    pid = int(facts["pid"])
    assert facts["action"] == "started" and alive(pid) and host.pid() == pid
    assert host.get() == f"1.0.0 {pid} hi", "the runner serves R1 with the variables of shared/.env"
    run = host.root / "shared/run"
    assert (run / "gevent.sock").is_socket() and (run / f"gevent.ready.{pid}").is_file()
    assert not list(run.glob("*.new")), "the temporary socket name was renamed over the real one"
    assert os.getsid(pid) == pid, "the runner has a session of its own"
    assert Path(f"/proc/{pid}/cwd").resolve() == (host.root / "releases/R1").resolve()
    assert host.start() == {"pid": str(pid), "action": "already running"}

    status = host.run(app_server("gevent").status(host.ctx))[0]
    assert status == {"pid": str(pid), "current": "R1"}


def test_upgrade_hands_the_socket_to_the_new_release_without_failing_a_request(host: Host) -> None:
    host.switch(host.release("R1", "1.0.0"))
    old = int(host.start()["pid"])
    host.switch(host.release("R2", "2.0.0"))
    results: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                results.append(host.get().split()[0])
            except Exception as exc:  # noqa: BLE001 - every failure is recorded
                results.append(f"FAILED {type(exc).__name__}: {exc}")

    slow: list[str] = []
    clients = [threading.Thread(target=hammer) for _ in range(4)]
    clients.append(threading.Thread(target=lambda: slow.append(host.get("/slow"))))
    for client in clients:
        client.start()
    time.sleep(0.3)
    try:
        facts = host.run(app_server("gevent").upgrade(host.ctx))[0]
        returned = len(results)
        time.sleep(0.3)
    finally:
        stop.set()
        for client in clients:
            client.join(15)
    new = int(facts["pid"])
    assert facts["action"] == "upgraded" and int(facts["old_pid"]) == old and facts["old_stop"] == "stopped"
    assert [r for r in results if r.startswith("FAILED")] == []
    assert {"1.0.0", "2.0.0"} <= set(results) and set(results[returned + 8:]) == {"2.0.0"}
    assert slow and slow[0].startswith(f"1.0.0 {old}"), "the request in flight finished in the old runner"
    assert host.pid() == new and not alive(old)
    run = host.root / "shared/run"
    assert not (run / "gevent.pid.2").exists() and not (run / "gevent.old.pid").exists()
    assert [p.name for p in run.glob("gevent.ready.*")] == [f"gevent.ready.{new}"]


def test_a_runner_that_cannot_load_its_release_leaves_the_old_one_serving(host: Host) -> None:
    host.switch(host.release("R1", "1.0.0"))
    old = int(host.start()["pid"])
    host.switch(host.release("R2", "2.0.0", broken=True))
    _, err = host.run(app_server("gevent").upgrade(host.ctx), ok=False)
    assert "broken on purpose" in err and f"pid {old} still serves the previous release" in err
    assert host.pid() == old and host.get().startswith(f"1.0.0 {old}")
    assert not (host.root / "shared/run/gevent.pid.2").exists()

    _, err = host.run(app_server("gevent").check(host.ctx, "R2"), ok=False)
    assert "broken on purpose" in err and "does not load with gevent in release R2" in err
    assert host.run(app_server("gevent").check(host.ctx, "R1"))[0] == {}


def test_a_runner_that_never_gets_ready_is_stopped_and_the_old_one_keeps_serving(host: Host) -> None:
    host.switch(host.release("R1", "1.0.0"))
    old = int(host.start()["pid"])
    rid = host.release("R2", "2.0.0")
    app_py = host.root / "releases" / rid / "app.py"
    app_py.write_text("import time\ntime.sleep(60)\n" + app_py.read_text())
    host.switch(rid)
    seen_new: list[int] = []
    pid2 = host.root / "shared/run/gevent.pid.2"

    def watch() -> None:  # the new runner's pid, while it hangs
        end = time.monotonic() + 10
        while time.monotonic() < end and not seen_new:
            text = pid2.read_text().strip() if pid2.exists() else ""
            if text.isdigit():
                seen_new.append(int(text))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    _, err = host.run(app_server("gevent").upgrade(ServerContext(host.layout, timeout=2, graceful_timeout=2)),
                      ok=False)
    watcher.join()
    assert "did not get ready within 2s" in err and f"pid {old} still serves" in err
    assert seen_new and not alive(seen_new[0]), "the runner that hung was stopped"
    assert host.pid() == old and host.get().startswith(f"1.0.0 {old}") and not pid2.exists()


def test_check_bounds_an_import_that_hangs(host: Host) -> None:
    rid = host.release("R1", "1.0.0")
    app_py = host.root / "releases" / rid / "app.py"
    app_py.write_text("import time\ntime.sleep(30)\n" + app_py.read_text())
    ctx = ServerContext(host.layout, timeout=1)
    _, err = host.run(app_server("gevent").check(ctx, rid), ok=False)
    assert "took longer than 1s" in err


def test_stop_status_stale_pidfile_and_reload_of_a_stopped_server(host: Host) -> None:
    host.switch(host.release("R1", "1.0.0"))
    pid = int(host.start()["pid"])
    facts = host.run(app_server("gevent").stop(host.ctx))[0]
    assert facts == {"pid": str(pid), "action": "stopped"}
    assert not alive(pid) and not host.pidfile.exists()
    assert not list((host.root / "shared/run").glob("gevent.ready.*"))
    assert host.run(app_server("gevent").stop(host.ctx))[0] == {"action": "not running"}
    assert host.run(app_server("gevent").status(host.ctx))[0] == {"pid": "", "current": "R1"}

    _, err = host.run(app_server("gevent").upgrade(host.ctx, start_if_stopped=False), ok=False)
    assert "gevent is not running (use start)" in err

    host.pidfile.write_text("4194300\n")
    assert host.run(app_server("gevent").status(host.ctx))[0] == {"pid": "", "stale_pid": "4194300", "current": "R1"}
    facts = host.start()
    assert facts["stale_pid"] == "4194300" and facts["action"] == "started"
    assert host.get().startswith(f"1.0.0 {facts['pid']}")

    os.kill(int(facts["pid"]), signal.SIGKILL)
    assert wait_dead(int(facts["pid"]))
    facts = host.run(app_server("gevent").upgrade(host.ctx))[0]
    assert facts["action"] == "started" and facts["stale_pid"] != facts["pid"]
    assert host.get().startswith(f"1.0.0 {facts['pid']}")


def test_the_drain_waits_for_connections_queued_on_the_socket_and_publish_renames_it(host: Host) -> None:
    import importlib.util
    rid = host.release("R1", "1.0.0")
    path = host.root / "releases" / rid / ".wsgideploy/gevent_runner.py"
    spec = importlib.util.spec_from_file_location("stdlib_runner", path)
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    listener = runner.Listener()
    sock = listener.open()
    try:
        assert Path(listener.tmp).is_socket() and not (host.root / "shared/run/gevent.sock").exists()
        client = socket.socket(socket.AF_UNIX)
        client.connect(listener.tmp)  # queued: nobody accepted it yet
        assert not listener.backlog_empty()
        steps = runner.drain_steps(listener)
        next(steps)  # still waiting for the queued connection
        conn, _ = sock.accept()
        assert listener.backlog_empty()
        assert len(list(steps)) <= 3, "the drain ends once the backlog stays empty"
        listener.publish()
        assert (host.root / "shared/run/gevent.sock").is_socket() and not Path(listener.tmp).exists()
        assert Path(runner.READY_MARKER).read_text() == f"{os.getpid()}\n"
        conn.close()
        client.close()
    finally:
        sock.close()
        listener.cleanup()
    assert not Path(runner.READY_MARKER).exists()


def test_start_without_a_live_release_fails_clearly(host: Host) -> None:
    _, err = host.run(app_server("gevent").start(host.ctx), ok=False)
    assert "no release is live yet: run deploy first" in err
