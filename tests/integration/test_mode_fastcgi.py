"""server = "fastcgi" (flup) behind Debian's stock nginx (fastcgi_pass) and lighttpd (mod_fastcgi), on
booted Debian 12 servers (tests/servers): systemd, the distribution's nginx and lighttpd as packaged with
their default site on port 80, a ``deploy`` user; real ssh, real ``fab``, real HTTP from this machine to
the servers. One server per front server, booted in parallel once for the module; each test deploys an app
of its own (its own name, root ``/srv/<name>`` and port). The runner is wsgideploy's generated
``.wsgideploy/app.fcgi``.

- a restart under a bounded load fails no request; a requirements change runs in a new venv; a rollback
  goes back to the old code and venv; the runner is a session of its own as the deploy user; the front
  server serves /static itself (lighttpd also with the app stopped, and reloads in place);
- SCRIPT_NAME and PATH_INFO at the root and under a ``url_prefix``, behind each front server;
- the runner also serves on its stdin (as mod_fcgid starts it) and explains a wrong Python, a relative
  path and a module that is not importable;
- start, stop, restart, reload and status act through the pidfile; a stale pidfile does not stop a start.

Not repeated here: a first deploy, a code-only change deployed under load with 0 failed requests and a
rollback, with the front server and its default site fine after each step:
test_stock_nginx_modes.py::test_fastcgi_deploys_changes_under_load_and_rolls_back_behind_the_stock_nginx and
test_stock_lighttpd.py::test_fastcgi_deploys_change_and_roll_back_behind_the_stock_lighttpd_which_stays_up.

Under ``CI=true`` a machine that cannot boot servers fails these tests (never a skip).
"""
from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.deploy_target import DeployTarget

from .booted_modes import (
    LIGHTTPD_TABLE,
    Site,
    assert_served_after,
    boot_module,
    live,
    pidfile,
    sites,
    under_load,
)
from .fabcli import EXAMPLE
from .helpers import ON_SERVER_GET, copy_app

PREFIX = "/yourapplication"
PROXIES = ("nginx", "lighttpd")

RATE = 400.0             # requests per second, at most
MAX_SECONDS = 60.0
MIN_DURING_FAB = 100     # fewer requests while fab ran: the test could not have seen downtime


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, DeployTarget]]:
    """``nginx`` and ``lighttpd``: a server over each front server's layer, booted in parallel."""
    with boot_module({proxy: proxy for proxy in PROXIES}) as targets:
        yield targets


@pytest.fixture
def make_site(write_inventory) -> Iterator[Callable[..., Site]]:
    """``make_site(server, name, port, source, **app)``: fastcgi behind the server's stock front server."""
    def write(target: DeployTarget, source: Path, port: int, app: dict[str, Any]) -> Path:
        proxy = target.front
        app.setdefault("supervisor", "none")  # the runner's own pidfile control; systemd: test_supervised_fastcgi
        table = target.app_table(source, server="fastcgi", proxy=proxy, listen=port, **app)
        if proxy == "nginx":
            return write_inventory("test", app=table, hosts={target.alias: target.host_table()},
                                   nginx=target.front_table())
        return write_inventory("test", app=table, hosts={target.alias: target.host_table()},
                               extra={"lighttpd": dict(LIGHTTPD_TABLE)})
    with sites(write) as make:
        yield make


def runner_pid(site: Site) -> int:
    return pidfile(site.target, "fastcgi.pid")


def lighttpd_pid(target: DeployTarget) -> int:
    return int(target.run("systemctl show -p MainPID --value lighttpd").strip())


def add_dependency_route(source: Path) -> None:
    """v2 of the example imports a package v1 does not have."""
    with open(source / "app.py", "a") as fh:
        fh.write("\n\n@app.get('/dep')\ndef dep():\n    import six\n    return 'six ' + six.__version__\n")


def restart_under_load(site: Site, proxy: str, record_property) -> None:
    """``fab restart`` under a bounded request stream of /info; no request may fail.

    The socket swap (a new runner on a temporary socket, renamed over the live one, then TERM to
    the old runner, which first serves what it had queued) is meant to drop nothing.
    """
    old = runner_pid(site)
    run = under_load(site.target, site.port, lambda: site.fab("restart", timeout=40).stdout,
                     f"fastcgi behind {proxy}, restart under load", record_property, rate=RATE,
                     max_seconds=MAX_SECONDS, min_during=MIN_DURING_FAB, min_after=10)
    assert runner_pid(site) != old and not site.target.pid_alive(old), "the old runner must be replaced and gone"
    version = site.info()["version"]
    assert_served_after(run, version, live(site.target)[0])  # after fab, only the live release answers


@pytest.mark.parametrize("proxy", PROXIES)
def test_restart_under_load_a_new_venv_and_a_rollback(proxy, servers, make_site, tmp_path, record_property):
    server = servers[proxy]
    site = make_site(server, f"hello{proxy}", 8081, copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0"))
    target = site.target
    before = lighttpd_pid(target) if proxy == "lighttpd" else None

    out = site.fab("deploy").stdout
    assert "app loads (app:app)" in out and "fastcgi started" in out, out
    assert proxy != "lighttpd" or "lighttpd reloaded" in out, out
    status, headers, body = site.request("/")
    assert status == 200 and "version 1.0.0" in body
    first = site.info()
    assert (first["release"], first["prefix"]) == live(target)
    status, headers, css = site.request("/static/style.css")
    assert status == 200 and "wsgideploy hello static" in css
    sock = f"{target.app_root}/shared/run/fastcgi.sock"
    if proxy == "nginx":
        assert headers.get("cache-control") == "max-age=3600", "nginx (expires 1h) must serve /static itself"
        conf = target.read(f"/etc/nginx/sites-available/hello{proxy}")
        assert f"fastcgi_pass wsgideploy_hello{proxy};" in conf and sock in conf, conf
    else:
        assert headers["server"].startswith("lighttpd/")
        enabled = f"/etc/lighttpd/conf-enabled/wsgideploy-hello{proxy}.conf"
        assert target.run(f"test -L {enabled} && echo link").strip() == "link"
        assert sock in target.read(f"/etc/lighttpd/conf-available/wsgideploy-hello{proxy}.conf")
        assert lighttpd_pid(target) == before, "lighttpd reloads in place, it is not restarted"

    # The runner: its own session (it outlives the SSH session), the deploy user, its socket and marker.
    pid = runner_pid(site)
    assert int(target.run(f"ps -o sid= -p {pid}").strip()) == pid
    assert target.run(f"stat -c %U /proc/{pid}").strip() == target.run(f"stat -c %U {target.app_root}").strip()
    assert target.run(f"test -S {sock} && echo socket").strip() == "socket"
    assert target.exists(f"shared/run/fastcgi.ready.{pid}")
    assert "serving app:app" in target.read("shared/log/fastcgi.log")

    # A restart under load: not one request may fail.
    restart_under_load(site, proxy, record_property)

    # A new requirement: a new venv.
    v2 = copy_app(EXAMPLE, tmp_path / "hello-v2", version="2.0.0", extra_requirements=["six"])
    add_dependency_route(v2)
    site.point_at(v2)
    pid = runner_pid(site)
    site.fab("deploy")
    assert "version 2.0.0" in site.get("/")[1]
    assert site.get("/dep")[1].startswith("six ")
    second = site.info()
    assert (second["release"], second["prefix"]) == live(target)
    assert second["prefix"] != first["prefix"], "a requirements change must run in a new venv"
    assert not target.pid_alive(pid)

    # Back to the release before: its code and its venv.
    site.fab("rollback")
    assert "version 1.0.0" in site.get("/")[1]
    back = site.info()
    assert (back["release"], back["prefix"]) == (first["release"], first["prefix"]) == live(target)
    assert site.get("/dep")[0] == 404
    if proxy == "lighttpd":
        assert lighttpd_pid(target) == before, "lighttpd reloads in place, it is not restarted"
        # The front server serves /static itself: it still does with the app server stopped.
        site.fab("stop")
        assert site.get("/")[0] == 503
        status, css = site.get("/static/style.css")
        assert status == 200 and "wsgideploy hello static" in css


PROBE_APP = '''
"""Reports what the WSGI app sees of its mount point."""
from flask import Flask, jsonify, request, url_for

app = Flask(__name__)


@app.route("/", defaults={"rest": ""})
@app.route("/<path:rest>")
def probe(rest):
    return jsonify(script_root=request.script_root, path=request.path, query=request.query_string.decode(),
                   script_name=request.environ.get("SCRIPT_NAME"), path_info=request.environ.get("PATH_INFO"),
                   url_for_probe=url_for("probe", rest="a/b"))
'''


@pytest.mark.parametrize("proxy", PROXIES)
def test_script_name_and_path_info_are_right_at_the_root_and_under_a_url_prefix(
        proxy, servers, make_site, tmp_path):
    source = tmp_path / "probe"
    source.mkdir()
    (source / "probe.py").write_text(PROBE_APP)
    (source / "requirements.txt").write_text("flask>=3,<4\n")
    site = make_site(servers[proxy], f"probe{proxy}", 8082, source, wsgi="probe:app")

    site.fab("deploy")
    status, _, body = site.request("/x/y%20z?q=1")
    assert status == 200, body
    seen = json.loads(body)
    assert seen == {"script_root": "", "path": "/x/y z", "query": "q=1", "script_name": "",
                    "path_info": "/x/y z", "url_for_probe": "/a/b"}
    assert json.loads(site.request("/")[2])["path"] == "/"

    inventory = site.inventories / "test.toml"
    inventory.write_text(inventory.read_text().replace('wsgi = "probe:app"', f'wsgi = "probe:app"\n'
                                                        f'url_prefix = "{PREFIX}"\n'
                                                        f'health = {{ path = "{PREFIX}/" }}'))
    site.fab("deploy")
    status, _, body = site.request(f"{PREFIX}/x/y%20z?q=1")
    assert status == 200, body
    assert json.loads(body) == {"script_root": PREFIX, "path": "/x/y z", "query": "q=1", "script_name": PREFIX,
                                "path_info": "/x/y z", "url_for_probe": f"{PREFIX}/a/b"}
    assert json.loads(site.request(f"{PREFIX}/")[2])["path"] == "/"
    status, headers, _ = site.request(PREFIX)
    assert status in (301, 308) and headers["location"].endswith(f"{PREFIX}/"), "Flask redirects to the slash"
    assert site.request("/x/y")[0] == 404, "outside the prefix is not the app's"
    assert site.request(f"{PREFIX}-other/x")[0] == 404, "a longer name is not the prefix"


def as_deploy(target: DeployTarget, command: str) -> tuple[int, str, str]:
    """Run ``command`` as the deploy user on the server: (exit status, stdout, stderr)."""
    done = target.server.run(f"runuser -l {target.user} -c {shlex.quote(command)}", check=False, timeout=60)
    return done.returncode, done.stdout, done.stderr


def test_the_runner_also_serves_on_its_stdin_and_explains_a_wrong_python_a_relative_path_and_a_bad_module(
        servers, make_site, tmp_path):
    site = make_site(servers["nginx"], "stdin", 8083, copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0"))
    target = site.target
    site.fab("deploy")
    release = live(target)[0]
    runner = f"{target.app_root}/current/.wsgideploy/app.fcgi"

    # Started the way mod_fcgid starts a FastCGI app: the listening socket on its standard input.
    client = f"/home/{target.user}/fastcgi_client.py"
    target.write(client, Path(__file__).with_name("fastcgi_client.py").read_text())
    code, out, err = as_deploy(target, f"{target.app_root}/current/venv/bin/python {client} spawn {runner} "
                                       f"/home/{target.user}/fcgid.sock '' / /mount /info")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3, out + err
    assert "version 1.0.0" in lines[0]
    assert json.loads(lines[1])["release"] == release
    assert lines[2] == "exit 0"
    # It left no pidfile, marker or socket of its own: those belong to the runner wsgideploy supervises.
    assert set(target.listdir("shared/run")) == {"fastcgi.pid", "fastcgi.sock",
                                                 f"fastcgi.ready.{runner_pid(site)}"}

    # The runner with another Python than the release's venv (e.g. a FastCGI server that runs it with /usr/bin/python3).
    code, out, err = as_deploy(target, f"/usr/bin/python3 {runner} --check")
    assert code == 2 and "wrong Python" in err and f"{target.app_root}/current/venv/bin/python" in err, err
    # Executed directly, its first line picks the right one.
    code, out, err = as_deploy(target, f"cd / && {runner} --check")
    assert code == 0 and "app:app loads" in out, out + err
    # A relative path.
    code, out, err = as_deploy(target, f"cd {target.app_root} && {runner} --socket shared/run/x.sock")
    assert code == 2 and "must be an absolute path" in err, err

    # A module that is not importable: the check before the switch refuses it.
    inventory = site.inventories / "test.toml"
    good = inventory.read_text()
    inventory.write_text(good.replace('wsgi = "app:app"', 'wsgi = "hello_app:app"'))
    result = site.fab("deploy", expect=1)
    output = result.stdout + result.stderr
    assert "the module 'hello_app' (wsgi = 'hello_app:app') is not importable" in output, output
    assert "does not load in release" in output

    # An inventory python that does not exist on the host: refused before anything is uploaded.
    inventory.write_text(good.replace('wsgi = "app:app"', 'wsgi = "app:app"\npython = "/usr/bin/python3.99"'))
    result = site.fab("deploy", expect=1)
    assert "/usr/bin/python3.99 is not installed on the host" in result.stdout + result.stderr
    inventory.write_text(good)

    # Nothing of it went live.
    assert live(target)[0] == release
    status, body = site.get("/")
    assert status == 200 and "version 1.0.0" in body


def test_start_stop_restart_reload_and_status_act_through_the_pidfile(servers, make_site, tmp_path):
    site = make_site(servers["nginx"], "control", 8084, copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0"))
    target = site.target
    site.fab("deploy")

    out = site.fab("status").stdout
    pid = runner_pid(site)
    assert f"fastcgi running, pid {pid}" in out and "app answers  yes" in out
    assert f"live release {live(target)[0]}" in out
    out = site.fab("start").stdout
    assert "already running" in out and runner_pid(site) == pid

    out = site.fab("stop").stdout
    assert "fastcgi stopped" in out
    assert not target.exists("shared/run/fastcgi.pid") and not target.exists("shared/run/fastcgi.sock")
    assert not target.pid_alive(pid)
    assert not [n for n in target.listdir("shared/run") if n.startswith("fastcgi.ready.")]
    assert site.get("/")[0] == 502
    status, _, css = site.request("/static/style.css")
    assert status == 200 and "wsgideploy hello static" in css, "nginx serves /static without the app"
    out = site.fab("status").stdout
    assert "fastcgi stopped" in out and "app answers  no" in out
    result = site.fab("reload", expect=1)
    assert "not running (use start)" in result.stdout + result.stderr

    site.fab("start")
    started = runner_pid(site)
    assert site.get("/")[0] == 200
    site.fab("restart")
    restarted = runner_pid(site)
    assert restarted != started and not target.pid_alive(started) and site.get("/")[0] == 200
    site.fab("reload")
    assert runner_pid(site) != restarted and site.get("/")[0] == 200

    # A stale pidfile (the process is gone) does not stop a start.
    site.fab("stop")
    target.write("shared/run/fastcgi.pid", "4194300\n")
    out = site.fab("start").stdout
    assert "started" in out and site.get("/")[0] == 200
    assert not target.exists("shared/run/fastcgi.pid.2") and not target.exists("shared/run/fastcgi.new.sock")


# Run on the server as the deploy user, at the start of a second: requests while the runner's socket path is
# gone (the front server's connect fails), then the path back in the middle of that second; prints their
# answers and how long after the path came back the first 200 came.
GONE_THEN_BACK = ON_SERVER_GET + r"""
path = sys.argv[1]
time.sleep(1 - time.time() % 1)
os.rename(path, path + ".away")
gone = {get() for _ in range(8)}  # new connections: each front-server worker keeps its own state
time.sleep(max(0.0, 0.5 - time.time() % 1))  # back at the middle of that second
os.rename(path + ".away", path)
back = time.monotonic()
while get() != 200 and time.monotonic() - back < 5:
    time.sleep(0.02)
print(*sorted(gone), "then 200 after %.2f" % (time.monotonic() - back))
"""


@pytest.mark.parametrize("proxy", PROXIES)
def test_one_failed_connect_keeps_the_front_server_from_the_runner_only_briefly(
        proxy, servers, make_site, tmp_path):
    """A connect that fails (the runner stopped, or restarting) must not keep the front server from the
    socket long once the runner answers again. nginx ignores failure counts for an upstream of one server:
    at once. lighttpd's mod_fastcgi disables a backend whose connect failed until ``disable-time`` whole
    seconds have passed and enables it again in a check it makes once a second, so how long depends on
    where in its second the failure falls: up to 2 s with ``"disable-time" => 0`` (measured 0.25 s three
    times), up to 3 s with lighttpd's default, 1 (measured 1.26 and 2.26 s). The bound (2.2 s) holds for the
    first; the default can stay under it, so this test does not always catch a return to it (the unit
    test checks the site)."""
    site = make_site(servers[proxy], f"gone{proxy}", 8085, copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0"))
    site.fab("deploy")
    socket = f"{site.target.app_root}/shared/run/fastcgi.sock"
    out = site.target.run_as_deploy(f"python3 -c {shlex.quote(GONE_THEN_BACK)} {site.port} {socket}").split()
    assert out[0] in ("502", "503") and out[-3:-1] == ["200", "after"], out
    assert float(out[-1]) < (0.2 if proxy == "nginx" else 2.2), out
