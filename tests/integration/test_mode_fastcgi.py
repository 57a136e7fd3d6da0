"""server = "fastcgi" (flup) behind nginx (fastcgi_pass) and lighttpd (mod_fastcgi), over real SSH.

Every check is a real HTTP request through the test host's own front server: nginx from
the host fixture, or a private lighttpd (`tests.hosts.lighttpd.LighttpdPrefix`) run as the
test user on the host's port. The runner is wsgideploy's generated ``.wsgideploy/app.fcgi``.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.hosts.lighttpd import LIGHTTPD_BINARY, LighttpdPrefix
from tests.hosts.processes import pid_alive

from .fabcli import EXAMPLE, app_info, fab, hello_app_table
from .helpers import TestHost, copy_app, http_get, ssh_run
from .load import RequestStream

pytestmark = pytest.mark.skipif(not os.path.exists(LIGHTTPD_BINARY), reason="lighttpd is not installed")

PREFIX = "/yourapplication"


def get(port: int, path: str) -> tuple[int, dict[str, str], str]:
    """GET without following redirects: (status, headers with lowercase names, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": "localhost"})
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def live(host: TestHost) -> tuple[str, str]:
    """(release id, resolved venv) of the live release, read from the host's filesystem."""
    current = Path(host.app_root) / "current"
    return current.resolve().name, os.path.realpath(current / "venv")


def runner_pid(host: TestHost) -> int:
    return int((host.run_dir / "fastcgi.pid").read_text())


@pytest.fixture
def make_lighttpd(make_host) -> Iterator[Callable[[TestHost], LighttpdPrefix]]:
    """``make_lighttpd(host)``: a private lighttpd prefix for ``host`` on its http_port; stopped after the test."""
    made: list[LighttpdPrefix] = []

    def make(host: TestHost) -> LighttpdPrefix:
        prefix = LighttpdPrefix(host.base / "lighttpd", port=host.http_port, owner=host.user)
        prefix.prepare()
        made.append(prefix)
        return prefix

    yield make
    for prefix in made:
        prefix.stop()


def deploy_site(write_inventory, host: TestHost, source: Path, proxy: str,
                lighttpd: LighttpdPrefix | None = None, **app: Any) -> Path:
    extra = {"lighttpd": lighttpd.settings_table()} if lighttpd else None
    return write_inventory("test", app=hello_app_table(host, source, server="fastcgi", proxy=proxy, **app),
                           hosts={"web1": host.host_table()}, nginx=host.nginx_table(), extra=extra)


def point_at(inventories: Path, old: Path, new: Path) -> None:
    inventory = inventories / "test.toml"
    text = inventory.read_text()
    assert str(old) in text
    inventory.write_text(text.replace(str(old), str(new)))


def add_dependency_route(source: Path) -> None:
    """v2 of the example imports a package v1 does not have."""
    with open(source / "app.py", "a") as fh:
        fh.write("\n\n@app.get('/dep')\ndef dep():\n    import six\n    return 'six ' + six.__version__\n")


RATE = 400.0             # requests per second, at most
MAX_SECONDS = 60.0
MIN_DURING_FAB = 100     # fewer requests while fab ran: the test could not have seen downtime
TAIL_SECONDS = 1.5       # how long the stream keeps going after fab returns


def under_load(host: TestHost, inventories: Path, proxy: str, action: str, record_property) -> None:
    """Run ``fab <action>`` under a bounded request stream of /info; assert no request failed.

    The socket swap (a new runner on a temporary socket, renamed over the live one, then TERM to
    the old runner, which first serves what it had queued) is meant to drop nothing.
    """
    old = runner_pid(host)
    with RequestStream(host.http_port, "/info", threads=8, rate=RATE, max_seconds=MAX_SECONDS) as stream:
        while stream.count < 20 and time.monotonic() - (stream.started_at or 0) < 10:
            time.sleep(0.02)
        begin = time.monotonic()
        fab(inventories, "-H", "web1", action, timeout=40)
        end = time.monotonic()
        time.sleep(TAIL_SECONDS)
        ended_by = stream.ended_by
    during = stream.started_between(begin, end)
    summary = (f"fastcgi behind {proxy}, {action} under load: {stream.count} requests, "
               f"{len(stream.failures)} failed ({len(during)} during fab, {end - begin:.1f}s)")
    print(f"\n{summary}", file=sys.stderr)
    record_property(f"zero_downtime_{action}", summary)
    assert ended_by is None, f"the stream ended by itself ({ended_by}): {summary}"
    assert len(during) >= MIN_DURING_FAB, f"too few requests while fab ran to see downtime: {summary}"
    assert not stream.failures, summary + "\n" + stream.report()
    assert runner_pid(host) != old and not pid_alive(old), "the old runner must be replaced and gone"
    served = {(json.loads(r.detail)["version"], json.loads(r.detail)["release"])
              for r in stream.started_after(end)}
    assert served == {(app_info(host.http_port)["version"], live(host)[0])}, "after fab, only the live release answers"


@pytest.mark.parametrize("proxy", ["nginx", "lighttpd"])
def test_deploy_under_load_restart_under_load_a_new_venv_and_a_rollback(
        proxy, make_host, make_lighttpd, write_inventory, tmp_path, record_property):
    host = make_host("web1")
    lighttpd = make_lighttpd(host) if proxy == "lighttpd" else None
    v1 = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    inventories = deploy_site(write_inventory, host, v1, proxy, lighttpd)

    out = fab(inventories, "-H", "web1", "deploy").stdout
    assert "app loads (app:app)" in out and "fastcgi started" in out
    assert f"{proxy} started" in out or proxy == "nginx"
    status, headers, body = get(host.http_port, "/")
    assert status == 200 and "version 1.0.0" in body
    first = app_info(host.http_port)
    assert (first["release"], first["prefix"]) == live(host)
    status, headers, css = get(host.http_port, "/static/style.css")
    assert status == 200 and "wsgideploy hello static" in css
    if proxy == "nginx":
        assert headers.get("cache-control") == "max-age=3600", "nginx (expires 1h) must serve /static itself"
        site = (host.nginx.sites_available / "hello").read_text()
        assert "fastcgi_pass wsgideploy_hello;" in site and str(host.run_dir / "fastcgi.sock") in site
    else:
        assert headers["server"].startswith("lighttpd/")
        assert (lighttpd.sites_enabled / "wsgideploy-hello.conf").is_symlink()
        assert str(host.run_dir / "fastcgi.sock") in (lighttpd.sites_available / "wsgideploy-hello.conf").read_text()
        lighttpd_pid = lighttpd.pid
        assert lighttpd_pid is not None

    # The runner: its own session (it outlives the SSH session), the deploy user, its socket and marker.
    pid = runner_pid(host)
    assert os.getsid(pid) == pid
    assert os.stat(f"/proc/{pid}").st_uid == os.stat(host.app_root).st_uid
    assert (host.run_dir / "fastcgi.sock").is_socket()
    assert (host.run_dir / f"fastcgi.ready.{pid}").exists()
    assert "serving app:app" in (Path(host.app_root) / "shared/log/fastcgi.log").read_text()

    # A code-only deploy, then a restart, each under load: not one request may fail.
    app_py = v1 / "app.py"
    app_py.write_text(app_py.read_text().replace('VERSION = "1.0.0"', 'VERSION = "1.0.1"'))
    under_load(host, inventories, proxy, "deploy", record_property)
    patched = app_info(host.http_port)
    assert patched["version"] == "1.0.1" and patched["prefix"] == first["prefix"], "code-only: same venv"
    under_load(host, inventories, proxy, "restart", record_property)

    # A new requirement: a new venv.
    v2 = copy_app(EXAMPLE, tmp_path / "hello-v2", version="2.0.0", extra_requirements=["six"])
    add_dependency_route(v2)
    point_at(inventories, v1, v2)
    pid = runner_pid(host)
    fab(inventories, "-H", "web1", "deploy")
    assert "version 2.0.0" in http_get(host.http_port, "/")[1]
    assert http_get(host.http_port, "/dep")[1].startswith("six ")
    second = app_info(host.http_port)
    assert (second["release"], second["prefix"]) == live(host)
    assert second["prefix"] != first["prefix"], "a requirements change must run in a new venv"
    assert not pid_alive(pid)

    # Back to the release before: its code and its venv.
    fab(inventories, "-H", "web1", "rollback")
    assert "version 1.0.1" in http_get(host.http_port, "/")[1]
    back = app_info(host.http_port)
    assert (back["release"], back["prefix"]) == (patched["release"], first["prefix"]) == live(host)
    assert http_get(host.http_port, "/dep")[0] == 404
    if lighttpd is not None:
        assert lighttpd.pid == lighttpd_pid, "lighttpd reloads in place (SIGUSR1), it is not restarted"
        # The front server serves /static itself: it still does with the app server stopped.
        fab(inventories, "-H", "web1", "stop")
        assert get(host.http_port, "/")[0] == 503
        status, _, css = get(host.http_port, "/static/style.css")
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


@pytest.mark.parametrize("proxy", ["nginx", "lighttpd"])
def test_script_name_and_path_info_are_right_at_the_root_and_under_a_url_prefix(
        proxy, make_host, make_lighttpd, write_inventory, tmp_path):
    host = make_host("web1")
    lighttpd = make_lighttpd(host) if proxy == "lighttpd" else None
    source = tmp_path / "probe"
    source.mkdir()
    (source / "probe.py").write_text(PROBE_APP)
    (source / "requirements.txt").write_text("flask>=3,<4\n")
    inventories = deploy_site(write_inventory, host, source, proxy, lighttpd, wsgi="probe:app")

    fab(inventories, "-H", "web1", "deploy")
    status, _, body = get(host.http_port, "/x/y%20z?q=1")
    assert status == 200, body
    seen = json.loads(body)
    assert seen == {"script_root": "", "path": "/x/y z", "query": "q=1", "script_name": "",
                    "path_info": "/x/y z", "url_for_probe": "/a/b"}
    assert json.loads(get(host.http_port, "/")[2])["path"] == "/"

    inventory = inventories / "test.toml"
    inventory.write_text(inventory.read_text().replace('wsgi = "probe:app"', f'wsgi = "probe:app"\n'
                                                        f'url_prefix = "{PREFIX}"\n'
                                                        f'health = {{ path = "{PREFIX}/" }}'))
    fab(inventories, "-H", "web1", "deploy")
    status, _, body = get(host.http_port, f"{PREFIX}/x/y%20z?q=1")
    assert status == 200, body
    assert json.loads(body) == {"script_root": PREFIX, "path": "/x/y z", "query": "q=1", "script_name": PREFIX,
                                "path_info": "/x/y z", "url_for_probe": f"{PREFIX}/a/b"}
    assert json.loads(get(host.http_port, f"{PREFIX}/")[2])["path"] == "/"
    status, headers, _ = get(host.http_port, PREFIX)
    assert status in (301, 308) and headers["location"].endswith(f"{PREFIX}/"), "Flask redirects to the slash"
    assert get(host.http_port, "/x/y")[0] == 404, "outside the prefix is not the app's"
    assert get(host.http_port, f"{PREFIX}-other/x")[0] == 404, "a longer name is not the prefix"


def test_the_runner_also_serves_on_its_stdin_and_explains_a_wrong_python_a_relative_path_and_a_bad_module(
        make_host, write_inventory, tmp_path):
    host = make_host("web1")
    v1 = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    inventories = deploy_site(write_inventory, host, v1, "nginx")
    fab(inventories, "-H", "web1", "deploy")
    release = live(host)[0]
    runner = f"{host.app_root}/current/.wsgideploy/app.fcgi"

    # Started the way mod_fcgid starts a FastCGI app: the listening socket on its standard input.
    client = host.base / "fastcgi_client.py"
    shutil.copy(Path(__file__).with_name("fastcgi_client.py"), client)
    code, out, err = ssh_run(host, f"{host.app_root}/current/venv/bin/python {client} spawn {runner} "
                                   f"{host.base}/fcgid.sock '' / /mount /info")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3, out + err
    assert "version 1.0.0" in lines[0]
    assert json.loads(lines[1])["release"] == release
    assert lines[2] == "exit 0"
    # It left no pidfile, marker or socket of its own: those belong to the runner wsgideploy supervises.
    assert {p.name for p in host.run_dir.iterdir()} == {"fastcgi.pid", "fastcgi.sock",
                                                       f"fastcgi.ready.{runner_pid(host)}"}

    # The runner with another Python than the release's venv (e.g. a FastCGI server that runs it with /usr/bin/python3).
    code, out, err = ssh_run(host, f"/usr/bin/python3 {runner} --check")
    assert code == 2 and "wrong Python" in err and f"{host.app_root}/current/venv/bin/python" in err, err
    # Executed directly, its first line picks the right one.
    code, out, err = ssh_run(host, f"cd / && {runner} --check")
    assert code == 0 and "app:app loads" in out, out + err
    # A relative path.
    code, out, err = ssh_run(host, f"cd {host.app_root} && {runner} --socket shared/run/x.sock")
    assert code == 2 and "must be an absolute path" in err, err

    # A module that is not importable: the check before the switch refuses it.
    inventory = inventories / "test.toml"
    good = inventory.read_text()
    inventory.write_text(good.replace('wsgi = "app:app"', 'wsgi = "hello_app:app"'))
    result = fab(inventories, "-H", "web1", "deploy", expect=1)
    output = result.stdout + result.stderr
    assert "the module 'hello_app' (wsgi = 'hello_app:app') is not importable" in output, output
    assert "does not load in release" in output

    # An inventory python that does not exist on the host: refused before anything is uploaded.
    inventory.write_text(good.replace('wsgi = "app:app"', 'wsgi = "app:app"\npython = "/usr/bin/python3.99"'))
    result = fab(inventories, "-H", "web1", "deploy", expect=1)
    assert "/usr/bin/python3.99 is not installed on the host" in result.stdout + result.stderr

    # Nothing of it went live.
    assert live(host)[0] == release
    status, body = http_get(host.http_port, "/")
    assert status == 200 and "version 1.0.0" in body


def test_start_stop_restart_reload_and_status_act_through_the_pidfile(make_host, write_inventory, tmp_path):
    host = make_host("web1")
    v1 = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    inventories = deploy_site(write_inventory, host, v1, "nginx")
    fab(inventories, "-H", "web1", "deploy")
    pidfile, sock = host.run_dir / "fastcgi.pid", host.run_dir / "fastcgi.sock"

    out = fab(inventories, "-H", "web1", "status").stdout
    pid = int(pidfile.read_text())
    assert f"fastcgi running, pid {pid}" in out and "app answers  yes" in out
    assert f"live release {live(host)[0]}" in out
    out = fab(inventories, "-H", "web1", "start").stdout
    assert "already running" in out and int(pidfile.read_text()) == pid

    out = fab(inventories, "-H", "web1", "stop").stdout
    assert "fastcgi stopped" in out
    assert not pidfile.exists() and not sock.exists() and not pid_alive(pid)
    assert not list(host.run_dir.glob("fastcgi.ready.*"))
    assert http_get(host.http_port, "/")[0] == 502
    status, _, css = get(host.http_port, "/static/style.css")
    assert status == 200 and "wsgideploy hello static" in css, "nginx serves /static without the app"
    out = fab(inventories, "-H", "web1", "status").stdout
    assert "fastcgi stopped" in out and "app answers  no" in out
    result = fab(inventories, "-H", "web1", "reload", expect=1)
    assert "not running (use start)" in result.stdout + result.stderr

    fab(inventories, "-H", "web1", "start")
    started = int(pidfile.read_text())
    assert http_get(host.http_port, "/")[0] == 200
    fab(inventories, "-H", "web1", "restart")
    restarted = int(pidfile.read_text())
    assert restarted != started and not pid_alive(started) and http_get(host.http_port, "/")[0] == 200
    fab(inventories, "-H", "web1", "reload")
    assert int(pidfile.read_text()) != restarted and http_get(host.http_port, "/")[0] == 200

    # A stale pidfile (the process is gone) does not stop a start.
    fab(inventories, "-H", "web1", "stop")
    pidfile.write_text("4194300\n")
    out = fab(inventories, "-H", "web1", "start").stdout
    assert "started" in out and http_get(host.http_port, "/")[0] == 200
    assert not (host.run_dir / "fastcgi.pid.2").exists() and not (host.run_dir / "fastcgi.new.sock").exists()
