"""Standalone WSGI containers behind nginx (``server = "gevent" | "tornado" | "twisted"``), over
real SSH with the real ``fab`` CLI: one test per container, each check a real HTTP request through
the test host's own nginx.

Per container: deploy the example app (the container from PyPI lands in the venv, the generated
runner serves it on the unix socket nginx proxies to, nginx serves /static itself); a code-only
deploy and a rollback to the release before a requirements change (from the new venv back to
the old one), each under a bounded `RequestStream` that must see 0 failures, after which only the
live release and venv answer; a requirements deploy (``six``) runs in a new venv; a release that does not import never goes live; start, stop, status, restart and reload act through
the pidfile, and a stale pidfile does not stop a start.

Run with ``-s`` to see the zero-downtime counts.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.hosts.processes import pid_alive

from .fabcli import EXAMPLE, app_info, hello_app_table
from .helpers import TestHost, copy_app, http_get
from .test_zero_downtime import Site, assert_served_after_fab, live, run_under_load

SERVERS = ("gevent", "tornado", "twisted")


def pid_of(host: TestHost, server: str) -> int:
    text = (host.run_dir / f"{server}.pid").read_text().strip()
    assert text.isdigit(), f"{server}.pid holds {text!r}"
    return int(text)


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def wait_for_text(path: Path, text: str, seconds: float = 5.0) -> str:
    """The content of ``path`` once it holds ``text`` (a server logs a request after answering it)."""
    end = time.monotonic() + seconds
    content = ""
    while time.monotonic() < end:
        content = path.read_text() if path.exists() else ""
        if text in content:
            break
        time.sleep(0.05)
    return content


def add_dependency_route(source: Path) -> None:
    """v2 of the example imports a package v1 does not have."""
    with open(source / "app.py", "a") as fh:
        fh.write("\n\n@app.get('/dep')\ndef dep():\n    import six\n    return 'six ' + six.__version__\n")


def assert_serves(site: Site, server: str, version: str, release: str, prefix: str) -> int:
    """The live runner of ``server`` answers through nginx with this version, release and venv."""
    host = site.host
    status, body = http_get(host.http_port, "/")
    assert status == 200 and f"version {version}" in body, (status, body[:300])
    info = app_info(host.http_port)
    assert (info["version"], info["release"], info["prefix"]) == (version, release, prefix), info
    pid = pid_of(host, server)
    assert pid_alive(pid), f"{server}.pid names pid {pid}, which is not running"
    assert f"/releases/{release}/.wsgideploy/{server}_runner.py" in cmdline(pid), cmdline(pid)
    return pid


@pytest.mark.parametrize("server", SERVERS)
def test_standalone_container_deploys_upgrades_rolls_back_and_is_controlled_by_its_pidfile(
        server, make_host, write_inventory, tmp_path, record_property):
    host = make_host("web1")
    v1 = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    inventories = write_inventory("test", app=hello_app_table(host, v1, server=server),
                                  hosts={"web1": host.host_table()}, nginx=host.nginx_table(),
                                  vars={"graceful_timeout": 10})
    site = Site(host, inventories, v1, tmp_path)
    run_dir, log_dir = host.run_dir, Path(host.app_root) / "shared/log"

    # --- first deploy: the container from PyPI, the runner on the socket, nginx in front
    out = site.fab("deploy").stdout
    assert f"{server} started" in out, out
    release1, prefix1 = live(host)
    pid1 = assert_serves(site, server, "1.0.0", release1, prefix1)
    assert any(Path(prefix1).glob(f"lib/python*/site-packages/{server}/__init__.py")), \
        f"{server} is not installed in the venv {prefix1}"
    assert not (run_dir / "gunicorn.pid").exists(), "gunicorn must not run in this mode"
    assert (run_dir / f"{server}.sock").is_socket()
    assert (run_dir / f"{server}.ready.{pid1}").exists()
    status, css = http_get(host.http_port, "/static/style.css")
    assert status == 200 and "wsgideploy hello static" in css
    access_log = wait_for_text(log_dir / f"{server}.access.log", "/info")
    assert "/info" in access_log, f"the {server} runner logs requests to {server}.access.log"
    assert "/static/style.css" not in access_log, "nginx must serve static files itself"
    assert "ready:" in (log_dir / f"{server}.error.log").read_text()

    # --- a code-only deploy under load: the venv is reused, a new runner takes over the socket
    site.set_version("1.0.1")
    run = run_under_load(site, f"{server} code-only deploy", ("deploy",), record_property)
    release2, prefix2 = live(host)
    assert release2 != release1 and prefix2 == prefix1, "a code-only deploy keeps the venv"
    assert_served_after_fab(run, "1.0.1", release2, prefix2)
    pid2 = assert_serves(site, server, "1.0.1", release2, prefix2)
    assert pid2 != pid1 and not pid_alive(pid1), "the old runner must have exited"
    assert not list(run_dir.glob("*.pid.2")) and not (run_dir / f"{server}.old.pid").exists()

    # --- a release that does not import never goes live
    broken = copy_app(EXAMPLE, tmp_path / "hello-broken", version="9.9.9")
    (broken / "app.py").write_text((broken / "app.py").read_text() + "\nraise RuntimeError('broken on purpose')\n")
    inventory = inventories / "test.toml"
    inventory.write_text(inventory.read_text().replace(str(v1), str(broken)))
    failed = site.fab("deploy", expect=1)
    assert "broken on purpose" in failed.stderr + failed.stdout
    inventory.write_text(inventory.read_text().replace(str(broken), str(v1)))
    assert live(host) == (release2, prefix2)
    assert assert_serves(site, server, "1.0.1", release2, prefix2) == pid2

    # --- a new requirement: a new venv (the rollback below switches venvs under load)
    site.switch_source("2.0.0", extra_requirements=["six"])
    add_dependency_route(site.source)
    site.fab("deploy")
    release3, prefix3 = live(host)
    assert prefix3 != prefix1, "a requirements change must run in a new venv"
    assert_serves(site, server, "2.0.0", release3, prefix3)
    status, body = http_get(host.http_port, "/dep")
    assert status == 200 and body.startswith("six "), "the new dependency must be importable"

    # --- rollback under load: the previous release in its own venv
    run = run_under_load(site, f"{server} rollback", ("rollback",), record_property)
    assert live(host) == (release2, prefix1), "rollback did not go back to 1.0.1"
    assert_served_after_fab(run, "1.0.1", release2, prefix1)
    pid4 = assert_serves(site, server, "1.0.1", release2, prefix1)
    assert http_get(host.http_port, "/dep")[0] == 404

    # --- start, stop, status, restart, reload through the pidfile (the scripts' other cases, e.g.
    # "already running" or a reload of a stopped server, are in tests/unit/test_mode_standalone.py)
    pidfile = run_dir / f"{server}.pid"
    out = site.fab("status").stdout
    assert f"{server} running, pid {pid4}" in out and "app answers  yes" in out, out
    assert f"live release {release2}" in out

    out = site.fab("stop").stdout
    assert "stopped" in out and not pidfile.exists() and not pid_alive(pid4)
    assert http_get(host.http_port, "/")[0] == 502
    out = site.fab("status").stdout
    assert f"{server} stopped" in out and "app answers  no" in out, out

    out = site.fab("start").stdout
    started = pid_of(host, server)
    assert "started" in out and pid_alive(started)
    assert_serves(site, server, "1.0.1", release2, prefix1)

    site.fab("restart")
    restarted = assert_serves(site, server, "1.0.1", release2, prefix1)
    assert restarted != started and not pid_alive(started)
    site.fab("reload")
    reloaded = assert_serves(site, server, "1.0.1", release2, prefix1)
    assert reloaded != restarted and not pid_alive(restarted)

    # A stale pidfile (the runner was killed, its pid is gone) does not stop a start.
    os.kill(reloaded, signal.SIGKILL)
    for _ in range(100):
        if not pid_alive(reloaded):
            break
        time.sleep(0.05)
    assert not pid_alive(reloaded)
    assert http_get(host.http_port, "/")[0] == 502
    out = site.fab("status").stdout
    assert f"stale pidfile for pid {reloaded}" in out, out
    pidfile.write_text("4194300\n")
    out = site.fab("start").stdout
    assert "started" in out, out
    assert pid_of(host, server) not in (reloaded, 4194300)
    assert_serves(site, server, "1.0.1", release2, prefix1)
