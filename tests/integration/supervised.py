"""What the test_supervised_* modules share: every app-server mode that listens on a socket of its own,
under systemd on a booted Debian 12 server behind Debian's nginx (docs/supervision.md), gets the same proof
(`prove_mode`).

- a code deploy, a rollback and a restart under a bounded stream of requests: 0 failed, and each starts
  the idle instance (the other slot) while the live one serves;
- ``kill -9`` of the live instance's main process: systemd starts it again, the app answers within 10 s;
- ``stop`` leaves both instances stopped and disabled (nginx: 502), ``start`` brings the app back.

The per-mode modules (test_mode_uwsgi, ...) test each mode's own pidfile control (``supervisor = "none"``).
Each test_supervised_* module imports the fixtures `server` (module scope: a server of its own, so xdist
runs the modules side by side) and `make_site`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers.deploy_target import DeployTarget

from . import booted_modes
from .booted_modes import assert_served_after, boot_module, sites, under_load
from .fabcli import EXAMPLE
from .helpers import copy_app

BACK_WITHIN = 10.0


@pytest.fixture(scope="module")
def server() -> Iterator[DeployTarget]:
    """The module's own server over Debian's nginx layer; pip takes uWSGI from the wheelhouse."""
    with boot_module({"units": "nginx"}, wheelhouse=True) as targets:
        yield targets["units"]


@pytest.fixture
def make_site(server: DeployTarget, write_inventory: Callable[..., Path]) -> Iterator[Callable[..., booted_modes.Site]]:
    """``make_site(name, port, source, **app)``: an app of its own on the server; each is stopped after."""
    def write(target: DeployTarget, source: Path, port: int, app: dict) -> Path:
        return write_inventory("test", app=target.app_table(source, listen=port, proxy="nginx", **app),
                               hosts={target.alias: target.host_table()}, nginx=target.front_table(),
                               vars={"workers": 2})
    with sites(write) as make:
        yield lambda *args, **kwargs: make(server, *args, **kwargs)


def live_unit(site: booted_modes.Site) -> tuple[str, int]:
    """The app's active instance and its main pid (('', 0) when none runs)."""
    name = site.target.app_root.rsplit("/", 1)[-1]
    for slot in "ab":
        unit = f"wsgideploy-{name}@{slot}.service"
        if site.target.run(f"systemctl is-active {unit} || true").strip() == "active":
            return unit, int(site.target.run(f"systemctl show -p MainPID --value {unit}").strip())
    return "", 0


def answers_again(site: booted_modes.Site, seconds: float) -> tuple[int, str]:
    """The last (status, body) of ``/info``, polled until 200 or ``seconds`` pass."""
    end, last = time.monotonic() + seconds, (0, "")
    while time.monotonic() < end:
        try:
            last = site.get("/info")
        except OSError as exc:
            last = (0, str(exc))
        if last[0] == 200:
            break
        time.sleep(0.2)
    return last


def prove_mode(server_name: str, port: int, make_site: Callable[..., booted_modes.Site], tmp_path: Path,
               record_property: Callable[[str, object], None]) -> None:
    """Deploy, a code deploy, a rollback and a restart under load (0 failed), kill -9, stop and start."""
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    site = make_site(f"sup-{server_name}", port, v1, server=server_name)
    site.fab("deploy")
    first = site.info()
    unit, pid = live_unit(site)
    assert unit and site.target.run(f"systemctl is-enabled {unit}").strip() == "enabled"
    status = site.fab("status").stdout
    assert f"unit {unit} active/running" in status, status

    site.point_at(copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0"))
    run = under_load(site.target, site.port, lambda: site.fab("deploy").stdout,
                     f"systemd {server_name} code deploy", record_property)
    second = site.info()
    assert_served_after(run, "2.0.0", second["release"])
    unit2, _ = live_unit(site)
    assert unit2 != unit, "the new release runs in the other slot's instance"

    run = under_load(site.target, site.port, lambda: site.fab("rollback").stdout,
                     f"systemd {server_name} rollback", record_property)
    assert_served_after(run, "1.0.0", first["release"])

    before = live_unit(site)
    run = under_load(site.target, site.port, lambda: site.fab("restart").stdout,
                     f"systemd {server_name} restart", record_property)
    after = live_unit(site)
    assert after[0] != before[0] and after[1] != before[1]
    assert_served_after(run, "1.0.0", first["release"])

    unit, pid = after
    site.target.run(f"kill -9 {pid}")
    time.sleep(0.5)
    status_code, body = answers_again(site, BACK_WITHIN)
    assert status_code == 200, f"{BACK_WITHIN:.0f} s after kill -9 of {unit}'s main pid: {status_code} {body[:200]}"
    assert live_unit(site)[1] not in (0, pid)
    assert int(site.target.run(f"systemctl show -p NRestarts --value {unit}").strip()) >= 1

    site.fab("stop")
    assert live_unit(site) == ("", 0) and site.get("/")[0] == 502
    started = site.fab("start").stdout
    status_code, body = site.get("/info")
    assert status_code == 200, f"right after start: {status_code} {body[:200]}\n--- fab start\n{started}"
    assert site.info()["release"] == first["release"]
