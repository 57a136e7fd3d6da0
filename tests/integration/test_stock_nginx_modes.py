"""uWSGI, the standalone runners (gevent, tornado, twisted) and FastCGI behind Debian's stock nginx, each on a
booted Debian 12 server of its own.

The servers boot in parallel over Debian's nginx layer (systemd, nginx as installed, its default
site on port 80, a ``deploy`` user with sudo). For each mode (`stock.deploy_change_and_roll_back`): a first
deploy, a change deployed under a bounded load with 0 failed requests, a rollback; after each step nginx is
active and Debian's default site answers.

uWSGI has no binary wheel and Debian's stock server has no compiler: the lab mounts a wheelhouse built once
outside the clone (`tests.servers.wheelhouse`), and the uWSGI server's pip takes uWSGI from it.

Under ``CI=true`` a machine that cannot boot servers fails these tests (never a skip).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers.deploy_target import DeployTarget, boot_targets
from tests.servers.fixtures import open_lab, unavailable
from tests.servers.image import ImageError
from tests.servers.lab import LabError
from tests.servers.machine import ServerError
from tests.servers.wheelhouse import MOUNT, bind_spec, ensure_wheelhouse, use_wheelhouse

from .stock import APP_PORT, NGINX, assert_front_and_default_site_fine, deploy_change_and_roll_back

MODES = ("uwsgi", "gevent", "tornado", "twisted", "fastcgi")


@pytest.fixture(scope="module")
def targets() -> Iterator[dict[str, DeployTarget]]:
    """One server per mode (named for it), booted in parallel over Debian's nginx layer."""
    started = time.monotonic()
    try:
        wheelhouse = ensure_wheelhouse()
    except (ImageError, ServerError, LabError, OSError) as exc:
        unavailable(f"the wheelhouse cannot be built: {type(exc).__name__}: {exc}")
    print(f"wheelhouse {wheelhouse}: {time.monotonic() - started:.1f} s")
    with open_lab(binds=[bind_spec(wheelhouse)]) as lab:
        started = time.monotonic()
        try:
            booted = dict(zip(MODES, boot_targets(lab, MODES, front="nginx")))
            print(f"{len(MODES)} servers booted and made deploy targets: {time.monotonic() - started:.1f} s")
            started = time.monotonic()
            use_wheelhouse(booted["uwsgi"].server)
            print(f"the uwsgi server uses the wheelhouse: {time.monotonic() - started:.1f} s")
        except (ServerError, ImageError, RuntimeError) as exc:
            unavailable(f"{type(exc).__name__}: {exc}")
        for target in booted.values():
            assert_front_and_default_site_fine(target, NGINX)
        yield booted


def inventory_writer(target: DeployTarget, write_inventory: Callable[..., Path],
                     server: str) -> Callable[[Path], Path]:
    """``write(source) -> inventories``: ``server`` behind the target's stock nginx."""
    def write(source: Path) -> Path:
        return write_inventory("test", app=target.app_table(source, server=server, proxy="nginx", listen=APP_PORT),
                               hosts={target.alias: target.host_table()}, nginx=target.front_table(),
                               vars={"workers": 2})
    return write


def test_uwsgi_deploys_changes_under_load_and_rolls_back_behind_the_stock_nginx(
        targets: dict[str, DeployTarget], write_inventory, tmp_path: Path) -> None:
    target = targets["uwsgi"]
    out = deploy_change_and_roll_back(target, NGINX, inventory_writer(target, write_inventory, "uwsgi"), tmp_path)
    assert "site tested, nginx reloaded" in out["deploy"], out["deploy"]
    # uWSGI came from the wheelhouse: pip compiled nothing on the server.
    log = target.run_as_deploy(f"cat {target.app_root}/.deploy/pip-*.log")
    assert f"{MOUNT}/uwsgi-" in log and "Building wheel for uwsgi" not in log, log[-2000:]


@pytest.mark.parametrize("runner", ["gevent", "tornado", "twisted"])
def test_a_standalone_runner_deploys_changes_under_load_and_rolls_back_behind_the_stock_nginx(
        targets: dict[str, DeployTarget], write_inventory, tmp_path: Path, runner: str) -> None:
    target = targets[runner]
    out = deploy_change_and_roll_back(target, NGINX, inventory_writer(target, write_inventory, runner), tmp_path)
    assert "site tested, nginx reloaded" in out["deploy"], out["deploy"]


def test_fastcgi_deploys_changes_under_load_and_rolls_back_behind_the_stock_nginx(
        targets: dict[str, DeployTarget], write_inventory, tmp_path: Path) -> None:
    target = targets["fastcgi"]
    out = deploy_change_and_roll_back(target, NGINX, inventory_writer(target, write_inventory, "fastcgi"),
                                      tmp_path)
    assert "site tested, nginx reloaded" in out["deploy"], out["deploy"]
