"""What the per-mode modules (test_mode_uwsgi, test_mode_fastcgi, test_mode_apache, test_mode_standalone)
share on booted Debian 12 servers (tests/servers) with the distribution's own front server.

A module boots its servers once (`boot_module`, in a module-scoped fixture: one lab, its servers in
parallel, one per front server it needs). Each test then deploys an app of its own on them (`DeployTarget.with_app`: its
own ``name``, app root ``/srv/<name>`` owned by ``deploy``, and ``listen`` port), so tests never see each
other's releases, sites or processes, and stops what it started (`stop_app`).

Everything is observed on the server: files through `DeployTarget.read`/``exists``/``resolve``, processes
through `DeployTarget.run` (a pid wsgideploy prints, or its pidfiles hold, is the server's own: `DeployTarget.pid_alive`,
`children`), HTTP from this machine to the server's address (`request`, `info`), load with `under_load`.
"""
from __future__ import annotations

import http.client
import json
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers.deploy_target import DeployTarget, make_target
from tests.servers.fixtures import open_lab, unavailable
from tests.servers.image import ImageError
from tests.servers.lab import LabError
from tests.servers.machine import ServerError
from tests.servers.wheelhouse import bind_spec, ensure_wheelhouse, use_wheelhouse

from .fabcli import fab
from .load import RequestStream, Result

_BOOT_ERRORS = (ServerError, ImageError, LabError, RuntimeError, OSError)


@contextmanager
def boot_module(fronts: Mapping[str, str], wheelhouse: bool = False) -> Iterator[dict[str, DeployTarget]]:
    """One lab; a server per ``name: front`` (``nginx``, ``apache2``, ``lighttpd``) booted in parallel and
    made a deploy target, by name. ``wheelhouse``: the lab binds the cached wheelhouse and every server's pip
    takes uWSGI from it (`tests.servers.wheelhouse`: the stock server has no compiler). Torn down after."""
    binds: list[str] = []
    if wheelhouse:
        started = time.monotonic()
        try:
            binds.append(bind_spec(ensure_wheelhouse()))
        except _BOOT_ERRORS as exc:
            unavailable(f"the wheelhouse cannot be built: {type(exc).__name__}: {exc}")
        print(f"wheelhouse: {time.monotonic() - started:.1f} s", file=sys.stderr)
    with open_lab(binds=binds) as lab:
        started = time.monotonic()
        names = list(fronts)
        try:
            servers = lab.boot_servers(names, fronts=[fronts[n] for n in names])

            def prepare(server):
                target = make_target(lab, server, fronts[server.name])
                if wheelhouse:
                    use_wheelhouse(server)
                return target
            with ThreadPoolExecutor(max_workers=len(servers)) as pool:
                targets = dict(zip(names, pool.map(prepare, servers)))
        except _BOOT_ERRORS as exc:
            unavailable(f"{type(exc).__name__}: {exc}")
        print(f"{len(names)} servers booted and made deploy targets: {time.monotonic() - started:.1f} s",
              file=sys.stderr)
        yield targets




def stop_app(inventories: Path, target: DeployTarget) -> None:
    """``fab -H <alias> stop``: stop the app server a test started (best effort, at teardown)."""
    fab(inventories, "-H", target.alias, "stop", expect=None, timeout=120)


def point_at(inventories: Path, old: Path, new: Path) -> None:
    """Make the inventory deploy ``new`` instead of ``old``."""
    inventory = inventories / "test.toml"
    text = inventory.read_text()
    assert str(old) in text
    inventory.write_text(text.replace(str(old), str(new)))


# --- HTTP from this machine to the server ---------------------------------------------------------


def request(target: DeployTarget, port: int, path: str = "/", host: str = "localhost",
            timeout: float = 20) -> tuple[int, dict[str, str], str]:
    """GET ``path`` from ``target``'s ``port`` with ``Host: <host>``, redirects not followed:
    (status, headers with lowercase names, body). A refused connection raises (``OSError``)."""
    conn = http.client.HTTPConnection(target.address, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def http_get(target: DeployTarget, port: int, path: str = "/") -> tuple[int, str]:
    """(status, body) of `request`."""
    status, _, body = request(target, port, path)
    return status, body


def info(target: DeployTarget, port: int) -> dict[str, Any]:
    """The example app's ``/info``: version, venv (``prefix``) and release it was loaded from."""
    status, body = http_get(target, port, "/info")
    assert status == 200, f"{target.alias}:{port}/info: {status} {body[:300]}"
    return json.loads(body)


# --- the server's files and processes --------------------------------------------------------------


def live(target: DeployTarget) -> tuple[str, str]:
    """(release id, resolved venv) of the live release, read on the server."""
    return target.live_release(), target.resolve("current/venv")




def children(target: DeployTarget, pid: int) -> set[int]:
    """The live children of ``pid`` on the server (``pgrep -P``)."""
    return {int(p) for p in target.run(f"pgrep -P {int(pid)} || true").split()}


def pidfile(target: DeployTarget, name: str) -> int:
    """The pid in ``shared/run/<name>`` of the app."""
    text = target.read(f"shared/run/{name}").strip()
    assert text.isdigit(), f"shared/run/{name} holds {text!r}"
    return int(text)


def wait_for_text(target: DeployTarget, path: str, text: str, seconds: float = 10.0) -> str:
    """The content of ``path`` once it holds ``text`` (a server logs a request after answering it)."""
    end = time.monotonic() + seconds
    while True:
        content = target.run(f"cat {shlex.quote(target.path(path))} 2>/dev/null || true")
        if text in content or time.monotonic() > end:
            return content
        time.sleep(0.2)


# --- load ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadRun:
    """A stopped stream, fab's output, and when fab started and returned (``time.monotonic()``)."""

    stream: RequestStream
    fab_started: float
    fab_returned: float
    output: str

    @property
    def during(self) -> list[Result]:
        return self.stream.started_between(self.fab_started, self.fab_returned)

    @property
    def after(self) -> list[Result]:
        return self.stream.started_after(self.fab_returned)


def under_load(target: DeployTarget, port: int, run_fab: Callable[[], str], label: str,
               record_property: Callable[[str, object], None], threads: int = 8, rate: float = 400.0,
               max_seconds: float = 75.0, min_during: int = 100, min_after: int = 30,
               tail_seconds: float = 1.5, fail_none: bool = True) -> LoadRun:
    """Run ``run_fab()`` (returns fab's stdout) while a bounded `RequestStream` asks the server's
    ``port`` for ``/info``; assert the stream was running all along and saw enough requests while fab
    ran (and after) to have caught downtime, and (``fail_none``) that not one request failed."""
    stream = RequestStream(port, "/info", address=target.address, threads=threads, rate=rate,
                           max_requests=int(rate * max_seconds), max_seconds=max_seconds, timeout=20)
    with stream:
        warm_until = time.monotonic() + 10
        while stream.count < 20 and stream.running and time.monotonic() < warm_until:
            time.sleep(0.02)
        assert stream.count >= 20, f"the request stream did not get going:\n{stream.report(stream.results)}"
        started = time.monotonic()
        output = run_fab()
        returned = time.monotonic()
        time.sleep(tail_seconds)
        ended_by = stream.ended_by
    run = LoadRun(stream, started, returned, output)
    slowest = max((r.finished - r.started for r in stream.results), default=0.0)
    summary = (f"{label}: {stream.count} requests, {len(stream.failures)} failed ({len(run.during)} during fab "
               f"[{returned - started:.1f}s], {len(run.after)} after, slowest {slowest:.3f}s)")
    print(f"\n{summary}", file=sys.stderr)
    record_property(label.replace(" ", "_"), summary)
    assert ended_by is None, f"the stream ended by itself ({ended_by}): {summary}"
    assert len(run.during) >= min_during, f"too few requests while fab ran to see downtime: {summary}"
    assert len(run.after) >= min_after, summary
    if fail_none:
        assert not stream.failures, summary + "\n" + stream.report()
    return run


def parsed(result: Result) -> dict[str, Any]:
    """The JSON body of a response to ``/info`` (empty when it is not JSON)."""
    try:
        data = json.loads(result.detail)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def assert_served_after(run: LoadRun, version: str, release: str, prefix: str | None = None) -> None:
    """Every response started after fab returned came from this version, release (and venv)."""
    wrong = [r for r in run.after
             if (parsed(r).get("version"), parsed(r).get("release")) != (version, release)
             or (prefix is not None and parsed(r).get("prefix") != prefix)]
    assert not wrong, (f"{len(wrong)} responses after fab returned were not version {version}, release "
                       f"{release}, venv {prefix}:\n" + run.stream.report(wrong))


# --- one test's app ----------------------------------------------------------------------------------

# Debian's lighttpd, as the inventory has it (test_stock_lighttpd.py); "auto" finds systemd on the server.
LIGHTTPD_TABLE = {"sites_available": "/etc/lighttpd/conf-available", "sites_enabled": "/etc/lighttpd/conf-enabled",
                  "sudo": True, "control": "auto"}


class Site:
    """One test's app on a server: its target (with the app's root), port, inventories and source."""

    def __init__(self, target: DeployTarget, port: int, inventories: Path, source: Path) -> None:
        self.target, self.port, self.inventories, self.source = target, port, inventories, source

    def fab(self, *args: str, expect: int | None = 0, timeout: float = 600):
        return fab(self.inventories, "-H", self.target.alias, *args, expect=expect, timeout=timeout)

    def get(self, path: str = "/") -> tuple[int, str]:
        return http_get(self.target, self.port, path)

    def request(self, path: str = "/") -> tuple[int, dict[str, str], str]:
        return request(self.target, self.port, path)

    def info(self) -> dict[str, Any]:
        return info(self.target, self.port)

    def point_at(self, source: Path) -> None:
        """Deploy ``source`` from now on."""
        point_at(self.inventories, self.source, source)
        self.source = source


@contextmanager
def sites(write: Callable[[DeployTarget, Path, int, dict[str, Any]], Path]) -> Iterator[Callable[..., Site]]:
    """``make(on, name, port, source, **app) -> Site``: an app of its own on the server ``on`` (`DeployTarget.with_app`),
    its inventories from ``write(target, source, port, app)``; every app made is stopped on exit."""
    made: list[Site] = []

    def make(on: DeployTarget, name: str, port: int, source: Path, /, **app: Any) -> Site:
        target = on.with_app(name)
        made.append(Site(target, port, write(target, source, port, {"name": name, **app}), source))
        return made[-1]

    try:
        yield make
    finally:
        for site in made:
            stop_app(site.inventories, site.target)
