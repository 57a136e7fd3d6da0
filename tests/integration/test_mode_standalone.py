"""Standalone WSGI containers behind Debian's stock nginx (``server = "gevent" | "tornado" | "twisted"``),
on a booted Debian 12 server (tests/servers): systemd, Debian's nginx as installed with its default site on
port 80, a ``deploy`` user; real ssh, real ``fab``, real HTTP from this machine to the server. The server
boots once for the module; one test per container, each deploying an app of its own (its own name, root
``/srv/<name>`` and port).

Per container: deploy the example app (the container from PyPI lands in the venv, the generated
runner serves it on the unix socket nginx proxies to, nginx serves /static itself); a release that does
not import never goes live; a requirements deploy (``six``) runs in a new venv and its new runner replaces
the old one; a rollback to the release before (from the new venv back to the old one) under a bounded
`RequestStream` that must see 0 failures, after which only the live release and venv answer; start, stop,
status, restart and reload act through the pidfile, and a stale pidfile does not stop a start.

Not repeated here: a first deploy, a code-only change deployed under load with 0 failed requests and a
rollback, with nginx and its default site fine after each step, for each container:
test_stock_nginx_modes.py::test_a_standalone_runner_deploys_changes_under_load_and_rolls_back_behind_the_stock_nginx.

Run with ``-s`` to see the zero-downtime counts. Under ``CI=true`` a machine that cannot boot servers
fails these tests (never a skip).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.deploy_target import DeployTarget

from .booted_modes import (
    Site,
    assert_served_after,
    boot_module,
    live,
    pidfile,
    sites,
    under_load,
    wait_for_text,
)
from .fabcli import EXAMPLE
from .helpers import copy_app

SERVERS = ("gevent", "tornado", "twisted")
PORTS = {"gevent": 8081, "tornado": 8082, "twisted": 8083}
# The load of test_zero_downtime.py: 8 threads, at most 500 requests a second, bounded.
THREADS, RATE, MAX_SECONDS, MIN_DURING_FAB, MIN_AFTER_FAB = 8, 500.0, 75.0, 200, 30
FAB_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def booted_server() -> Iterator[DeployTarget]:
    """``standalone``, booted over Debian's nginx layer."""
    with boot_module({"standalone": "nginx"}) as targets:
        yield targets["standalone"]


@pytest.fixture
def make_site(booted_server: DeployTarget, write_inventory) -> Iterator[Any]:
    """``make_site(name, port, source, **app)``: an app of its own behind the server's stock nginx."""
    def write(target: DeployTarget, source: Path, port: int, app: dict[str, Any]) -> Path:
        app.setdefault("supervisor", "none")  # the runners' own pidfile control; systemd: test_supervised_runners
        return write_inventory("test", app=target.app_table(source, proxy="nginx", listen=port, **app),
                               hosts={target.alias: target.host_table()}, nginx=target.front_table(),
                               vars={"graceful_timeout": 10})
    with sites(write) as make:
        yield lambda *args, **app: make(booted_server, *args, **app)


def cmdline(target: DeployTarget, pid: int) -> str:
    return target.run(f"tr '\\0' ' ' < /proc/{pid}/cmdline")


def add_dependency_route(source: Path) -> None:
    """v2 of the example imports a package v1 does not have."""
    with open(source / "app.py", "a") as fh:
        fh.write("\n\n@app.get('/dep')\ndef dep():\n    import six\n    return 'six ' + six.__version__\n")


def assert_serves(site: Site, server: str, version: str, release: str, prefix: str) -> int:
    """The live runner of ``server`` answers through nginx with this version, release and venv."""
    status, body = site.get("/")
    assert status == 200 and f"version {version}" in body, (status, body[:300])
    info = site.info()
    assert (info["version"], info["release"], info["prefix"]) == (version, release, prefix), info
    pid = pidfile(site.target, f"{server}.pid")
    assert site.target.pid_alive(pid), f"{server}.pid names pid {pid}, which is not running"
    line = cmdline(site.target, pid)
    assert f"/releases/{release}/.wsgideploy/{server}_runner.py" in line, line
    return pid


@pytest.mark.parametrize("server", SERVERS)
def test_standalone_container_deploys_upgrades_rolls_back_and_is_controlled_by_its_pidfile(
        server, make_site, tmp_path, record_property):
    v1 = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    site = make_site(f"sa{server}", PORTS[server], v1, server=server)
    target = site.target

    # --- first deploy: the container from PyPI, the runner on the socket, nginx in front
    out = site.fab("deploy").stdout
    assert f"{server} started" in out, out
    release1, prefix1 = live(target)
    pid1 = assert_serves(site, server, "1.0.0", release1, prefix1)
    assert target.run(f"ls {prefix1}/lib/python*/site-packages/{server}/__init__.py", check=False).strip(), \
        f"{server} is not installed in the venv {prefix1}"
    assert not target.exists("shared/run/gunicorn.pid"), "gunicorn must not run in this mode"
    assert target.run(f"test -S {target.path(f'shared/run/{server}.sock')} && echo socket").strip() == "socket"
    assert target.exists(f"shared/run/{server}.ready.{pid1}")
    status, css = site.get("/static/style.css")
    assert status == 200 and "wsgideploy hello static" in css
    access_log = wait_for_text(target, f"shared/log/{server}.access.log", "/info")
    assert "/info" in access_log, f"the {server} runner logs requests to {server}.access.log"
    assert "/static/style.css" not in access_log, "nginx must serve static files itself"
    assert "ready:" in target.read(f"shared/log/{server}.error.log")

    # --- a release that does not import never goes live
    broken = copy_app(EXAMPLE, tmp_path / "hello-broken", version="9.9.9")
    (broken / "app.py").write_text((broken / "app.py").read_text() + "\nraise RuntimeError('broken on purpose')\n")
    site.point_at(broken)
    failed = site.fab("deploy", expect=1)
    assert "broken on purpose" in failed.stderr + failed.stdout
    assert live(target) == (release1, prefix1)
    assert assert_serves(site, server, "1.0.0", release1, prefix1) == pid1

    # --- a new requirement: a new venv, a new runner takes over the socket
    v2 = copy_app(EXAMPLE, tmp_path / "hello-2.0.0", version="2.0.0", extra_requirements=["six"])
    add_dependency_route(v2)
    site.point_at(v2)
    site.fab("deploy")
    release2, prefix2 = live(target)
    assert release2 != release1 and prefix2 != prefix1, "a requirements change must run in a new venv"
    pid2 = assert_serves(site, server, "2.0.0", release2, prefix2)
    assert pid2 != pid1 and not target.pid_alive(pid1), "the old runner must have exited"
    run_files = target.listdir("shared/run")
    assert not [n for n in run_files if n.endswith(".pid.2")] and f"{server}.old.pid" not in run_files
    status, body = site.get("/dep")
    assert status == 200 and body.startswith("six "), "the new dependency must be importable"

    # --- rollback under load: the previous release in its own venv
    run = under_load(target, site.port, lambda: site.fab("rollback", timeout=FAB_TIMEOUT).stdout,
                     f"zero-downtime {server} rollback", record_property, threads=THREADS, rate=RATE,
                     max_seconds=MAX_SECONDS, min_during=MIN_DURING_FAB, min_after=MIN_AFTER_FAB)
    assert live(target) == (release1, prefix1), "rollback did not go back to 1.0.0"
    assert_served_after(run, "1.0.0", release1, prefix1)
    pid4 = assert_serves(site, server, "1.0.0", release1, prefix1)
    assert site.get("/dep")[0] == 404

    # --- start, stop, status, restart, reload through the pidfile (the scripts' other cases, e.g.
    # "already running" or a reload of a stopped server, are in tests/unit/test_mode_standalone.py)
    out = site.fab("status").stdout
    assert f"{server} running, pid {pid4}" in out and "app answers  yes" in out, out
    assert f"live release {release1}" in out

    out = site.fab("stop").stdout
    assert "stopped" in out and not target.exists(f"shared/run/{server}.pid") and not target.pid_alive(pid4)
    assert site.get("/")[0] == 502
    out = site.fab("status").stdout
    assert f"{server} stopped" in out and "app answers  no" in out, out

    out = site.fab("start").stdout
    started = pidfile(target, f"{server}.pid")
    assert "started" in out and target.pid_alive(started)
    assert_serves(site, server, "1.0.0", release1, prefix1)

    site.fab("restart")
    restarted = assert_serves(site, server, "1.0.0", release1, prefix1)
    assert restarted != started and not target.pid_alive(started)
    site.fab("reload")
    reloaded = assert_serves(site, server, "1.0.0", release1, prefix1)
    assert reloaded != restarted and not target.pid_alive(restarted)

    # A stale pidfile (the runner was killed, its pid is gone) does not stop a start.
    target.run(f"kill -KILL {reloaded}")
    for _ in range(100):
        if not target.pid_alive(reloaded):
            break
        time.sleep(0.05)
    assert not target.pid_alive(reloaded)
    assert site.get("/")[0] == 502
    out = site.fab("status").stdout
    assert f"stale pidfile for pid {reloaded}" in out, out
    target.write(f"shared/run/{server}.pid", "4194300\n")
    out = site.fab("start").stdout
    assert "started" in out, out
    assert pidfile(target, f"{server}.pid") not in (reloaded, 4194300)
    assert_serves(site, server, "1.0.0", release1, prefix1)
