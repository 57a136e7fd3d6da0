"""mod_wsgi and FastCGI (mod_fcgid) in Debian's stock Apache, each on a booted Debian 12 server of its own.

The two servers boot in parallel over Debian's apache2 layer (systemd, apache2 as installed: mpm_event,
running as root with ``User www-data``, mod_wsgi and mod_fcgid enabled; its default site on port 80; a
``deploy`` user with sudo). For each mode (`stock.deploy_change_and_roll_back`): a first deploy, a change
deployed under a bounded load with 0 failed requests, a rollback; after each step apache2 is active and
Debian's default site answers. CGI has its own module (test_stock_apache.py).

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
from tests.servers.machine import ServerError

from .stock import APACHE, APACHE_TABLE, APP_PORT, assert_front_and_default_site_fine, deploy_change_and_roll_back, served

MODES = ("mod_wsgi", "fastcgi")


@pytest.fixture(scope="module")
def targets() -> Iterator[dict[str, DeployTarget]]:
    """One server per mode (named for it; ``mod-wsgi``: no ``_`` in a host name), booted in parallel."""
    with open_lab() as lab:
        started = time.monotonic()
        try:
            booted = boot_targets(lab, [mode.replace("_", "-") for mode in MODES], front="apache2")
        except (ServerError, ImageError, RuntimeError) as exc:
            unavailable(f"{type(exc).__name__}: {exc}")
        print(f"{len(MODES)} servers booted and made deploy targets: {time.monotonic() - started:.1f} s")
        for target in booted:
            assert_front_and_default_site_fine(target, APACHE)
        yield dict(zip(MODES, booted))


def inventory_writer(target: DeployTarget, write_inventory: Callable[..., Path],
                     server: str) -> Callable[[Path], Path]:
    """``write(source) -> inventories``: ``server`` in the target's stock Apache."""
    def write(source: Path) -> Path:
        table = target.app_table(source, server=server, proxy="apache", listen=APP_PORT)
        return write_inventory("test", app=table, hosts={target.alias: target.host_table()},
                               extra={"apache": APACHE_TABLE})
    return write


def test_mod_wsgi_deploys_changes_under_load_and_rolls_back_in_the_stock_apache(
        targets: dict[str, DeployTarget], write_inventory, tmp_path: Path) -> None:
    target = targets["mod_wsgi"]
    deploy_change_and_roll_back(target, APACHE, inventory_writer(target, write_inventory, "mod_wsgi"), tmp_path)
    pid = served(target, APACHE)["pid"]
    assert target.run(f"ps -o user= -p {int(pid)}").strip() == Path(target.app_root).name, \
        "mod_wsgi's daemon processes run as the app's own user, not the deploy user"


def test_fastcgi_deploys_changes_under_load_and_rolls_back_in_the_stock_apache(
        targets: dict[str, DeployTarget], write_inventory, tmp_path: Path) -> None:
    target = targets["fastcgi"]
    deploy_change_and_roll_back(target, APACHE, inventory_writer(target, write_inventory, "fastcgi"), tmp_path)
