"""Zero downtime: while a bounded stream of requests runs through nginx, none may fail.

The scenarios run on a booted Debian 12 server (tests/servers: systemd, Debian's own nginx with its
default site, real OpenSSH, a ``deploy`` user), booted once for the module; each scenario deploys an
app of its own (its own name, root ``/srv/<name>`` and port), and the stream goes from this machine to
the server's address over the lab's bridge. Under ``CI=true`` a machine that cannot boot servers fails
them (never a skip).

Scenarios (one test each, so xdist can run them in parallel): a deploy that changes only code,
a deploy that also changes requirements.txt (the app must move to a new venv), a rollback and a
restart. For each: deploy v1 without load, start the stream (``load.RequestStream``: a thread
pool, a new TCP connection per request, bounded in count and time), run the real ``fab`` command,
keep the stream going ~1.5 s after ``fab`` returns, stop it. Then assert:

- the stream sent enough requests while ``fab`` ran to have seen any downtime;
- not one request failed (no exception, no non-2xx);
- every response started after ``fab`` returned comes from the live release (``current``), in
  the venv that release links, with the expected version (and venv: new for a requirements
  change, the old one again for a rollback).

The stream asks for ``/info`` (the example's JSON: ``version``, ``prefix`` = the resolved venv,
``release``) so every single response says which code and venv served it; the live release and its
venv are read on the server (``readlink``), the gunicorn master's pid in its pidfile there.
Run with ``-s`` to see the one-line summary per scenario; it is also a junit property.

The first tests below check ``RequestStream`` itself against a local HTTP server.
"""
from __future__ import annotations

import http.server
import itertools
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from .booted_fleet import app_info, stop_apps
from .fabcli import EXAMPLE
from .fabcli import fab as run_fab
from .helpers import copy_app
from .load import RequestStream, Result
from .stock import get

# The load: a request every 2 ms on average from 8 threads (unpaced, 8 threads reach well over
# 1,000 requests a second here, which starves the other tests of a parallel run of CPU). That
# catches a gap of a few milliseconds at any moment of a deploy. Bounded in count and in time;
# fab's own timeout keeps it inside the time bound.
THREADS = 8
RATE = 500.0             # requests per second, at most
MAX_SECONDS = 120.0
MAX_REQUESTS = int(RATE * MAX_SECONDS)
MIN_DURING_FAB = 100     # fewer requests while fab ran: the test could not have seen downtime,
MIN_DENSITY = 0.4        # nor with fewer than this share of RATE while it ran (a restart takes 0.5 s)
MIN_AFTER_FAB = 30       # responses started after fab returned, to check what is served then
TAIL_SECONDS = 1.5       # how long the stream keeps going after fab returns
# fab under load takes 5-45 s on the booted server (measured beside other test runs; a venv build
# through the lab's proxy is the slow part); its timeout keeps warm-up + fab + tail inside
# MAX_SECONDS, so the stream never ends before the test stops it.
FAB_TIMEOUT = 100.0


# --- RequestStream self-checks (no root, no hosts: a local http.server) --------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        code = 500 if self.path.startswith("/bad") else 200
        body = f"path {self.path} host {self.headers.get('Host')}".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_request_stream_stops_by_itself_at_max_requests_and_records_every_response(local_server):
    stream = RequestStream(local_server, "/ok", host="app.test", threads=4, max_requests=120,
                           max_seconds=30)
    stream.start()
    assert stream.wait(30), "the stream did not stop by itself"
    assert stream.ended_by == "max_requests"
    assert stream.count == 120 and stream.failures == []
    assert all(r.status == 200 and r.detail == "path /ok host app.test" for r in stream.results)
    assert all(r.started <= r.finished for r in stream.results)
    stream.stop()  # stopping a finished stream is harmless


def test_request_stream_stops_by_itself_at_max_seconds(local_server):
    begin = time.monotonic()
    stream = RequestStream(local_server, "/ok", threads=2, max_requests=10_000_000, max_seconds=0.5)
    stream.start()
    assert stream.wait(15)
    assert stream.ended_by == "max_seconds"
    assert time.monotonic() - begin < 5
    assert 0 < stream.count < 10_000_000
    assert max(r.started for r in stream.results) < stream.started_at + 0.5


def test_request_stream_with_a_rate_paces_its_requests(local_server):
    stream = RequestStream(local_server, "/ok", threads=4, rate=50, max_requests=10_000,
                           max_seconds=1.0)
    stream.start()
    assert stream.wait(15) and stream.ended_by == "max_seconds"
    assert 10 <= stream.count <= 51, f"{stream.count} requests in 1 s at 50 per second"
    starts = sorted(r.started - stream.started_at for r in stream.results)
    assert all(t >= n / 50 - 0.001 for n, t in enumerate(starts)), "a request started before its turn"


def test_request_stream_counts_error_statuses_and_refused_connections_as_failures(local_server):
    with RequestStream(local_server, "/bad", threads=2, max_requests=10, max_seconds=10) as bad:
        assert bad.wait(10)
    assert bad.count == 10 and len(bad.failures) == 10
    assert {r.status for r in bad.failures} == {500}

    with RequestStream(_closed_port(), "/", threads=2, max_requests=6, max_seconds=10) as refused:
        assert refused.wait(10)
    assert refused.count == 6 and len(refused.failures) == 6
    assert all(r.status is None and "Connection" in r.detail for r in refused.failures)
    assert "ERR" in refused.report()


def test_request_stream_stop_ends_it_and_started_after_splits_by_start_time(local_server):
    stream = RequestStream(local_server, "/ok", threads=2, max_requests=10_000_000, max_seconds=30)
    with stream:
        time.sleep(0.3)
        middle = time.monotonic()
        time.sleep(0.3)
    assert stream.ended_by == "stopped" and not stream.running
    frozen = stream.count
    time.sleep(0.2)
    assert stream.count == frozen, "requests were still sent after stop()"
    after = stream.started_after(middle)
    before = stream.started_between(stream.started_at, middle)
    assert after and before and len(after) + len(before) == frozen
    assert all(r.started >= middle for r in after) and all(r.started < middle for r in before)


# --- the scenarios through fab, gunicorn and nginx ----------------------------------------


def fab(inventories: Path, *args: str, expect: int = 0,
        timeout: float = FAB_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """The real ``fab`` CLI (see fabcli), with this module's time bound."""
    return run_fab(inventories, *args, expect=expect, timeout=timeout)


_APPS = itertools.count(1)  # each scenario deploys an app of its own: zd<N> on port 8100 + N


def info(site: Site) -> dict[str, str]:
    return app_info(site.host, site.port)


def live(host: DeployTarget) -> tuple[str, str]:
    """(release id, resolved venv) of the live release, read from the server's filesystem."""
    return host.live_release(), host.resolve("current/venv")


class Site:
    """The example app on the booted server (its own name, root and port), and ways to change it."""

    def __init__(self, host: DeployTarget, port: int, inventories: Path, source: Path, tmp_path: Path) -> None:
        self.host, self.port, self.inventories, self.source, self.tmp_path = host, port, inventories, source, tmp_path

    def fab(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return fab(self.inventories, "-H", self.host.alias, *args, **kwargs)

    def set_version(self, version: str) -> None:
        app_py = self.source / "app.py"
        text = app_py.read_text()
        assert 'VERSION = "1.0.0"' in text
        app_py.write_text(text.replace('VERSION = "1.0.0"', f'VERSION = "{version}"'))

    def switch_source(self, version: str, extra_requirements: list[str]) -> Path:
        """Point the inventory at a copy of the app with another version and requirements."""
        new = copy_app(EXAMPLE, self.tmp_path / f"hello-{version}", version=version,
                       extra_requirements=extra_requirements)
        inventory = self.inventories / "test.toml"
        text = inventory.read_text()
        assert str(self.source) in text
        inventory.write_text(text.replace(str(self.source), str(new)))
        self.source = new
        return new


WORKERS = 2  # each site's gunicorn workers


@pytest.fixture
def site(nginx_target: DeployTarget, write_inventory, tmp_path) -> Iterator[Site]:  # noqa: F811
    """The example app, version 1.0.0, deployed (without load) and answering through the server's nginx;
    its app server is stopped after the test."""
    n = next(_APPS)
    host, port = nginx_target.with_app(f"zd{n}"), 8100 + n
    source = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    inventories = write_inventory(
        "test", app=host.app_table(source, listen=port),
        hosts={host.alias: host.host_table()}, nginx=host.front_table(), vars={"workers": WORKERS})
    result = Site(host, port, inventories, source, tmp_path)
    result.fab("deploy")
    assert info(result)["version"] == "1.0.0"
    yield result
    stop_apps(inventories, "-H", host.alias)


def _parse(result: Result) -> dict[str, Any] | None:
    try:
        data = json.loads(result.detail)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class LoadRun:
    """A stopped stream, and when fab started and returned (``time.monotonic()``)."""

    stream: RequestStream
    fab_started: float
    fab_returned: float


def run_under_load(site: Site, scenario: str, fab_args: tuple[str, ...],
                   record_property: Callable[[str, object], None]) -> LoadRun:
    """Run ``fab <fab_args>`` while a `RequestStream` goes through nginx; check the load was
    real and nothing failed."""
    stream = RequestStream(site.port, "/info", address=site.host.address, threads=THREADS, rate=RATE,
                           max_requests=MAX_REQUESTS, max_seconds=MAX_SECONDS)
    with stream:
        warm_until = time.monotonic() + 10
        while stream.count < 20 and stream.running and time.monotonic() < warm_until:
            time.sleep(0.02)
        assert stream.count >= 20, f"the request stream did not get going:\n{stream.report(stream.results)}"
        fab_started = time.monotonic()
        site.fab(*fab_args)
        fab_returned = time.monotonic()
        time.sleep(TAIL_SECONDS)
        ended_by_itself = stream.ended_by
    during = stream.started_between(fab_started, fab_returned)
    after = stream.started_after(fab_returned)
    failures = stream.failures
    summary = (f"zero-downtime {scenario}: {stream.count} requests, {len(failures)} failures "
               f"({len(during)} during fab {' '.join(fab_args)} [{fab_returned - fab_started:.1f}s], "
               f"{len(after)} after)")
    # stderr: with -s it shows under xdist too (a worker's stdout does not reach the terminal).
    print(f"\n{summary}", file=sys.stderr)
    record_property("zero_downtime", summary)

    assert ended_by_itself is None, (
        f"the request stream ended by itself ({ended_by_itself}) before it was stopped: "
        f"raise MAX_REQUESTS/MAX_SECONDS. {summary}")
    need = max(MIN_DURING_FAB, int(MIN_DENSITY * RATE * (fab_returned - fab_started)))
    assert len(during) >= need, (
        f"the load was too thin to catch downtime: only {len(during)} requests started while "
        f"fab ran (need {need}). {summary}")
    assert len(after) >= MIN_AFTER_FAB, (
        f"only {len(after)} requests started after fab returned (need {MIN_AFTER_FAB}). {summary}")
    assert len(failures) == 0, (
        f"{len(failures)} of {stream.count} requests failed (times from the stream's start; fab ran "
        f"+{fab_started - stream.started_at:.3f}s..+{fab_returned - stream.started_at:.3f}s):\n"
        + stream.report(failures, limit=10))
    return LoadRun(stream, fab_started, fab_returned)


def _served(stream: RequestStream, result: Result) -> str:
    """One line: when, and which version, release and venv answered (or the raw response)."""
    data = _parse(result)
    if data is None:
        return result.describe(stream.started_at or 0.0)
    return (f"+{result.started - (stream.started_at or 0.0):.3f}s  {result.status}  version "
            f"{data.get('version')}  release {data.get('release')}  venv {data.get('prefix')}")


def assert_served_after_fab(run: LoadRun, version: str, release: str, prefix: str) -> None:
    """Every response started after fab returned: this version, release and venv."""
    stream, wrong = run.stream, []
    for result in stream.started_after(run.fab_returned):
        data = _parse(result)
        if data is None or (data.get("version"), data.get("release"), data.get("prefix")) != (
                version, release, prefix):
            wrong.append(result)
    assert len(wrong) == 0, (
        f"{len(wrong)} of the responses after fab returned did not come from version {version}, "
        f"release {release}, venv {prefix}:\n" + "\n".join(_served(stream, r) for r in wrong[:10]))


def test_a_code_only_deploy_under_load_fails_no_request_and_then_serves_the_new_code(
        site, record_property):
    before = info(site)
    site.set_version("2.0.0")

    run = run_under_load(site, "code-only deploy", ("deploy",), record_property)

    release, prefix = live(site.host)
    assert release != before["release"], "the deploy did not switch to a new release"
    assert prefix == before["prefix"], "a code-only deploy keeps the venv"
    assert_served_after_fab(run, "2.0.0", release, prefix)
    assert "version 2.0.0" in get(site.host.address, site.port, "/")[1]


def test_a_deploy_that_changes_requirements_under_load_fails_no_request_and_then_runs_in_the_new_venv(
        site, record_property):
    before = info(site)
    site.switch_source("2.0.0", extra_requirements=["six"])

    run = run_under_load(site, "requirements deploy", ("deploy",), record_property)

    release, prefix = live(site.host)
    assert release != before["release"], "the deploy did not switch to a new release"
    assert prefix != before["prefix"], "a requirements change must run in a new venv"
    assert site.host.run(f"ls {prefix}/lib/python*/site-packages/six.py 2>/dev/null || true").strip(), (
        f"six is not installed in {prefix}")
    assert_served_after_fab(run, "2.0.0", release, prefix)


def test_a_rollback_under_load_fails_no_request_and_then_serves_the_old_code_in_its_old_venv(
        site, record_property):
    first = info(site)
    site.switch_source("2.0.0", extra_requirements=["six"])
    site.fab("deploy")
    second = info(site)
    assert second["version"] == "2.0.0" and second["prefix"] != first["prefix"]

    run = run_under_load(site, "rollback", ("rollback",), record_property)

    release, prefix = live(site.host)
    assert (release, prefix) == (first["release"], first["prefix"]), "rollback did not go back to v1"
    assert_served_after_fab(run, "1.0.0", first["release"], first["prefix"])


def master(site: Site) -> str:
    """The main pid of the app's live systemd instance (the gunicorn master), or ''."""
    name = site.host.app_root.rsplit("/", 1)[-1]
    for slot in "ab":
        unit = f"wsgideploy-{name}@{slot}.service"
        if site.host.run(f"systemctl is-active {unit} || true").strip() == "active":
            return site.host.run(f"systemctl show -p MainPID --value {unit}").strip()
    return ""


def test_a_restart_under_load_fails_no_request_and_replaces_the_master(site, record_property):
    first = info(site)
    old_master = master(site)

    run = run_under_load(site, "restart", ("restart",), record_property)

    new_master = master(site)
    assert new_master and new_master != old_master, "restart did not replace the gunicorn master"
    assert not site.host.pid_alive(old_master), f"the old master (pid {old_master}) still runs on the server"
    assert live(site.host) == (first["release"], first["prefix"])
    assert_served_after_fab(run, "1.0.0", first["release"], first["prefix"])


def test_a_master_started_with_setsid_by_an_earlier_version_moves_under_its_unit_with_no_failed_request(
        site, record_property):
    """An app that wsgideploy ran through its pidfile (as versions before systemd supervision did, and as
    ``supervisor = "none"`` does) is taken over by the unit at the next deploy, under load."""
    inventory = site.inventories / "test.toml"
    text = inventory.read_text()
    site.fab("stop")
    inventory.write_text(text.replace("[app]\n", '[app]\nsupervisor = "none"\n', 1))
    site.fab("start")
    old_master = site.host.read("shared/run/gunicorn.pid").strip()
    assert site.host.pid_alive(old_master) and master(site) == ""
    inventory.write_text(text)
    site.set_version("1.0.1")

    run = run_under_load(site, "move under the unit", ("deploy", "--allow-dirty"), record_property)

    assert master(site) and not site.host.pid_alive(old_master), "the setsid master is gone, the unit serves"
    assert not site.host.exists("shared/run/gunicorn.pid")
    release, prefix = live(site.host)
    assert_served_after_fab(run, "1.0.1", release, prefix)


SLOW_ROUTE = '''

@app.route("/slow")
def slow():
    import time
    time.sleep(float(request.args.get("s", "1")))
    return jsonify(version=VERSION, release=RELEASE)
'''


def test_a_deploy_returns_while_the_old_instance_still_has_requests_queued_and_the_next_deploy_waits(site):
    """The old instance is retired without waiting for it (issue 16: under load a redeploy spent most of
    its time waiting for the old workers): ``WORKERS + 1`` slow requests are sent, so every worker of the
    live instance holds one and one more waits on its socket, not yet accepted. The deploy returns while
    all of them are still unanswered (it waited for that queue to empty before; stopping the instance
    then would have dropped it), and the old instance answers every one. The deploy after, which starts
    that slot again, waits until they are done."""
    app_py = site.source / "app.py"
    app_py.write_text(app_py.read_text().replace('\n\nif __name__ == "__main__":', SLOW_ROUTE + '\n\nif __name__ == "__main__":'))
    site.fab("deploy")
    answers: dict[int, tuple[tuple[int, str], float]] = {}

    def slow_request(n: int) -> None:
        response = get(site.host.address, site.port, "/slow?s=8", timeout=60)
        answers[n] = (response, time.monotonic())

    requesters = [threading.Thread(target=slow_request, args=(n,)) for n in range(WORKERS + 1)]
    for requester in requesters:
        requester.start()
    time.sleep(1.5)  # by now each worker of the live instance holds one, and one waits on its socket
    site.set_version("2.0.0")
    out = site.fab("deploy").stdout
    waiting = sum(requester.is_alive() for requester in requesters)
    assert "(the old instance finishes its requests)" in out, out
    assert waiting == WORKERS + 1, f"the deploy waited for the old instance: {waiting} of {WORKERS + 1} unanswered"
    assert info(site)["version"] == "2.0.0"

    app_py.write_text(app_py.read_text().replace('VERSION = "2.0.0"', 'VERSION = "3.0.0"'))
    site.fab("deploy")  # starts the slot of the instance that is still answering the slow requests
    third_returned = time.monotonic()
    for requester in requesters:
        requester.join(60)
    assert sorted(answers) == list(range(WORKERS + 1))
    for (status, body), ended in answers.values():
        assert status == 200 and json.loads(body)["version"] == "1.0.0", (status, body)
        assert ended <= third_returned, "the next deploy did not wait for the old instance"
    assert info(site)["version"] == "3.0.0"
