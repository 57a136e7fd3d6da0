"""FastCGI behind Debian's stock lighttpd on a booted Debian 12 server (tests/servers), over real ssh.

The server: systemd, Debian's lighttpd package as installed (it starts as root and drops to
``www-data``; its default site on port 80), a ``deploy`` user with sudo. The example app goes to
port 8080 with ``server = "fastcgi"``, ``proxy = "lighttpd"`` and Debian's ``[lighttpd]`` defaults.

Finding: lighttpd opens its logs as ``www-data``, at start and at every reload. The site's access log
in the deploy-owned ``shared/log`` could not be opened (``opening log ... failed: Permission denied``),
so the deploy's reload took the whole lighttpd down, with Debian's default site and every other site
on it, and systemd gave up after five restarts. The log is now lighttpd's own
(``/var/log/lighttpd/<app>.access.log``, which it creates as www-data), and a reload that lighttpd does
not survive puts the previous site back, starts lighttpd again and fails.

Under ``CI=true`` a machine that cannot boot servers fails these tests (never a skip).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.servers.deploy_target import DeployTarget, boot_targets
from tests.servers.fixtures import server_lab, unavailable  # noqa: F401  (server_lab is a fixture)
from tests.servers.image import ImageError
from tests.servers.lab import ServerLab
from tests.servers.machine import ServerError

from .fabcli import EXAMPLE, fab
from .helpers import copy_app
from .load import RequestStream
from .stock import get

APP_PORT = 8080
HELD_PORT = 8091
DEFAULT_PAGE = "/etc/lighttpd/conf-available/README"  # in Debian's default index.html
# Debian's defaults, as the inventory has them; "auto" finds systemd on the server.
LIGHTTPD_TABLE = {"sites_available": "/etc/lighttpd/conf-available", "sites_enabled": "/etc/lighttpd/conf-enabled",
                  "sudo": True, "control": "auto"}


def version_served(target: DeployTarget, port: int = APP_PORT) -> str:
    status, body = get(target.address, port, "/info")
    assert status == 200, body
    return json.loads(body)["version"]


def lighttpd_restarts(target: DeployTarget) -> int:
    return int(target.run("systemctl show -p NRestarts --value lighttpd").strip())


def assert_lighttpd_and_its_default_site_fine(target: DeployTarget, restarts: int) -> None:
    """lighttpd runs under systemd, was never restarted by it, and Debian's default site answers."""
    assert target.run("systemctl is-active lighttpd", check=False).strip() == "active", \
        target.run("journalctl -u lighttpd -n 20 --no-pager; tail -n 20 /var/log/lighttpd/error.log", check=False)
    assert lighttpd_restarts(target) == restarts, "systemd restarted lighttpd: it went down"
    status, body = get(target.address, 80)
    assert status == 200 and DEFAULT_PAGE in body, f"Debian's default site: {status} {body[:200]}"


def text_appears(target: DeployTarget, path: str, text: str, seconds: float = 10) -> bool:
    """Whether ``text`` shows up in the file at ``path`` within ``seconds``."""
    deadline = time.monotonic() + seconds
    while text not in target.run(f"cat {path}"):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.3)
    return True


@contextmanager
def port_held(target: DeployTarget, port: int) -> Iterator[None]:
    """A program of the host's own listens on ``0.0.0.0:<port>`` (a transient unit) while inside."""
    unit = f"legacy-{port}"
    target.run(f"systemd-run --collect --unit={unit} --property=Type=exec "
               f"python3 -m http.server {port} --bind 0.0.0.0 --directory /tmp")
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if get(target.address, port, timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"nothing answers on port {port}"
            time.sleep(0.1)
        yield
    finally:
        target.run(f"systemctl stop {unit}", check=False)


@pytest.fixture(scope="module")
def stock(server_lab: ServerLab) -> DeployTarget:  # noqa: F811
    """``web1`` booted over Debian's lighttpd layer, made a deploy target, its default site answering."""
    try:
        [target] = boot_targets(server_lab, ["web1"], front="lighttpd")
    except (ServerError, ImageError, RuntimeError) as exc:
        unavailable(f"{type(exc).__name__}: {exc}")
    assert_lighttpd_and_its_default_site_fine(target, lighttpd_restarts(target))
    return target


def inventory_writer(target: DeployTarget, write_inventory: Callable[..., Path],
                     **app: Any) -> Callable[..., Path]:
    """``write(source, **overrides) -> inventories``: fastcgi behind the server's stock lighttpd."""
    def write(source: Path, **overrides: Any) -> Path:
        table = target.app_table(source, server="fastcgi", proxy="lighttpd", **{**app, **overrides})
        return write_inventory("test", app=table, hosts={target.alias: target.host_table()},
                               extra={"lighttpd": LIGHTTPD_TABLE})
    return write


def test_fastcgi_deploys_change_and_roll_back_behind_the_stock_lighttpd_which_stays_up(
        stock: DeployTarget, write_inventory, tmp_path: Path) -> None:
    write = inventory_writer(stock, write_inventory, listen=APP_PORT)
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")
    restarts = lighttpd_restarts(stock)

    started = time.monotonic()
    out = fab(write(v1), "-H", stock.alias, "deploy").stdout
    print(f"first deploy: {time.monotonic() - started:.1f} s")
    assert "lighttpd reloaded" in out, out
    assert version_served(stock) == "1.0.0"
    assert_lighttpd_and_its_default_site_fine(stock, restarts)
    access_log = f"/var/log/lighttpd/{Path(stock.app_root).name}.access.log"  # lighttpd's own, not shared/log
    assert stock.run(f"stat -c '%U' {access_log}").split() == ["www-data"], "lighttpd made it, as www-data"
    assert not stock.exists("shared/log/lighttpd.access.log")
    # lighttpd's mod_accesslog buffers its lines and writes them out about once a second.
    assert text_appears(stock, access_log, "GET /info"), "lighttpd writes its access log there"
    # /var/log/lighttpd is www-data's (0750): the deploy user reads it in that group, and is told so before
    stock.run(f"gpasswd -d {stock.user} www-data || true")
    out = fab(write(v1), "-H", stock.alias, "logs").stdout
    assert "the front server's logs are read by the group www-data" in out, out
    stock.run(f"usermod -aG www-data {stock.user}")
    assert "GET /info" in fab(write(v1), "-H", stock.alias, "logs").stdout, "and the deploy user reads it"

    # A change of code goes live under a bounded load, without one failed request.
    with RequestStream(APP_PORT, "/info", address=stock.address, threads=4, max_requests=2000,
                       max_seconds=40, rate=40) as stream:
        time.sleep(0.5)
        started = time.monotonic()
        change = fab(write(v2), "-H", stock.alias, "deploy").stdout
        print(f"deploy under load: {time.monotonic() - started:.1f} s")
        time.sleep(1.0)
    assert stream.count >= 30, f"the load was too thin to show anything ({stream.count} requests)"
    assert not stream.failures, f"{len(stream.failures)} of {stream.count} requests failed:\n{stream.report()}"
    assert version_served(stock) == "2.0.0"
    assert_lighttpd_and_its_default_site_fine(stock, restarts)
    # the site names no release: a change of code leaves lighttpd alone (no test, no reload)
    assert "site unchanged, lighttpd left alone" in change, change

    back = fab(write(v2), "-H", stock.alias, "rollback").stdout
    assert version_served(stock) == "1.0.0"
    assert_lighttpd_and_its_default_site_fine(stock, restarts)
    assert "site unchanged, lighttpd left alone" in back, back


def test_a_reload_lighttpd_does_not_survive_puts_the_previous_site_back_and_starts_lighttpd_again(
        stock: DeployTarget, write_inventory, tmp_path: Path) -> None:
    # lighttpd's own lines (a port it cannot bind) are in the journal, which the deploy user reads in the
    # group adm, as `setup` makes it; no root command reads it.
    stock.run("usermod -aG adm deploy")
    stock.run("install -d -o deploy -g deploy /srv/clash")
    stock.add_app_user("clash")
    write = inventory_writer(stock, write_inventory, name="clash", root="/srv/clash", listen=8090)
    fab(write(copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")), "-H", stock.alias, "deploy")
    assert version_served(stock, 8090) == "1.0.0"

    # Another program holds the port the next site asks for: lighttpd -tt passes, the reload cannot bind.
    with port_held(stock, HELD_PORT):
        done = fab(write(copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0"), listen=HELD_PORT),
                   "-H", stock.alias, "deploy", expect=None)
        output = done.stdout + done.stderr
        assert done.returncode == 1, f"the deploy must fail, it exited {done.returncode}:\n{output}"
        assert "lighttpd reloaded" not in output
        assert "lighttpd stopped after the reload" in output and "started again" in output, output
        assert "Address already in use" in output, "lighttpd's own error line is shown"
        site = stock.run("cat /etc/lighttpd/conf-enabled/wsgideploy-clash.conf")
        assert ":8090" in site and f":{HELD_PORT}" not in site, site
        assert version_served(stock, 8090) == "1.0.0"
        assert version_served(stock, APP_PORT) == "1.0.0", "the other app's site is back too"
        assert stock.run("systemctl is-active lighttpd", check=False).strip() == "active"
        assert DEFAULT_PAGE in get(stock.address, 80)[1]


def test_uninstall_takes_one_site_out_of_the_stock_lighttpd_which_keeps_the_others(
        stock: DeployTarget, write_inventory, tmp_path: Path) -> None:
    """After the tests above (the apps hello on 8080 and clash on 8090): uninstalling clash removes its site
    through `lighttpd -tt` and a watched reload; lighttpd, its default site and hello keep serving. (lighttpd
    keeps listening on 8090 after a graceful reload, until it restarts: docs/uninstall.md.)"""
    restarts = lighttpd_restarts(stock)
    write = inventory_writer(stock, write_inventory, name="clash", root="/srv/clash", listen=8090)
    done = fab(write(copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")), "-H", stock.alias, "uninstall", "--yes")
    print(done.stdout)
    assert "lighttpd site removed, lighttpd reloaded" in done.stdout, done.stdout
    for name in ("conf-available", "conf-enabled"):
        assert not stock.exists(f"/etc/lighttpd/{name}/wsgideploy-clash.conf")
    # A graceful reload keeps the sockets lighttpd has (until a restart): the port answers from lighttpd's
    # own document root, no longer from the app.
    status, body = get(stock.address, 8090, "/info")
    assert status == 404 and "404 Not Found" in body, (status, body[:200])
    assert version_served(stock, APP_PORT) == "1.0.0", "hello keeps serving"
    assert_lighttpd_and_its_default_site_fine(stock, restarts)
