"""gunicorn behind Debian's stock nginx on a booted Debian 12 server (tests/servers), over real ssh.

The server (``nginx_target``: systemd, Debian's nginx package with its default site on port 80, a
``deploy`` user with sudo) also serves a site that was there before wsgideploy: one more server block
on port 8081. The example app goes to port 8080. After every deploy, change and rollback: nginx is
active (``systemctl is-active nginx``) and both other sites still answer with their own pages.

Finding 5: a reload that nginx accepts as a signal but cannot apply (a port held by another program:
``nginx -t`` does not bind, the reloading master does, logs ``bind() ... failed (98: Address already in
use)`` and keeps the old config) used to be reported as "site tested, nginx reloaded". A deploy now
checks that the reload took (new workers), and when it did not, puts the previous site back, reloads,
and fails with nginx's own error line.
A site on ``<address>:80`` beside Debian's default ``listen 80`` does NOT make that failure with nginx
1.22: nginx serves the address from the wildcard socket it already has (tried on this server: the reload
took and the site answered). A port held by another program does.

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

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from .fabcli import EXAMPLE, fab
from .helpers import copy_app
from .load import RequestStream
from .stock import get, static_links_served

APP_PORT = 8080
OTHER_SITE_PORT = 8081
HELD_PORT = 8091
DEFAULT_PAGE = "Welcome to nginx!"
OTHER_SITE = """server {
    listen 8081;
    server_name _;
    location / { default_type text/plain; return 200 "the other site\\n"; }
}
"""


def wait_until_answering(address: str, port: int, timeout: float = 10) -> None:
    """Poll ``GET /`` until it answers 200 (a service just started)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if get(address, port, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answers on {address}:{port} after {timeout:g} s")
        time.sleep(0.1)


@contextmanager
def port_held(target: DeployTarget, port: int) -> Iterator[None]:
    """A program of the host's own listens on ``0.0.0.0:<port>`` (a transient unit) while inside."""
    unit = f"legacy-{port}"
    target.run(f"systemd-run --collect --unit={unit} --property=Type=exec "
               f"python3 -m http.server {port} --bind 0.0.0.0 --directory /tmp")
    try:
        wait_until_answering(target.address, port)
        assert "Directory listing" in get(target.address, port)[1], f"{unit} does not hold port {port}"
        yield
    finally:
        target.run(f"systemctl stop {unit}", check=False)


def version_served(target: DeployTarget, port: int = APP_PORT) -> str:
    status, body = get(target.address, port, "/info")
    assert status == 200, body
    return json.loads(body)["version"]


def assert_nginx_and_other_sites_fine(target: DeployTarget) -> None:
    """nginx runs under systemd, and the sites that were there before wsgideploy still answer."""
    assert target.run("systemctl is-active nginx", check=False).strip() == "active"
    status, body = get(target.address, 80)
    assert status == 200 and DEFAULT_PAGE in body, f"Debian's default site: {status} {body[:200]}"
    assert get(target.address, OTHER_SITE_PORT) == (200, "the other site\n")


@pytest.fixture(scope="module")
def stock(nginx_target: DeployTarget) -> DeployTarget:  # noqa: F811
    """The booted server with its default site and one more site of its own, both answering."""
    nginx_target.run(f"cat > /etc/nginx/sites-available/other <<'SITE'\n{OTHER_SITE}SITE\n"
                     "ln -sfn /etc/nginx/sites-available/other /etc/nginx/sites-enabled/other\n"
                     "nginx -t && systemctl reload nginx")
    wait_until_answering(nginx_target.address, OTHER_SITE_PORT)
    assert_nginx_and_other_sites_fine(nginx_target)
    return nginx_target


def inventory_writer(target: DeployTarget, write_inventory: Callable[..., Path],
                     **app: Any) -> Callable[..., Path]:
    """``write(source, **overrides) -> inventories`` for ``target`` with Debian's [nginx] table."""
    def write(source: Path, **overrides: Any) -> Path:
        return write_inventory("test", app=target.app_table(source, **{**app, **overrides}),
                               hosts={target.alias: target.host_table()}, nginx=target.front_table(),
                               vars={"workers": 2})
    return write


def test_deploy_change_and_rollback_beside_debians_sites_under_load(stock: DeployTarget, write_inventory,
                                                                    tmp_path: Path) -> None:
    write = inventory_writer(stock, write_inventory, listen=APP_PORT, server_name="hello.test")
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")

    started = time.monotonic()
    out = fab(write(v1), "-H", stock.alias, "deploy").stdout
    print(f"first deploy: {time.monotonic() - started:.1f} s")
    assert "site tested, nginx reloaded" in out
    assert version_served(stock) == "1.0.0"
    assert_nginx_and_other_sites_fine(stock)

    # A change of code goes live under a bounded load, without one failed request. Its site is the live
    # one byte for byte (it names no release): nginx is left alone, its workers the same processes.
    workers = "pgrep -P \"$(systemctl show -p MainPID --value nginx)\" | sort"
    workers_before = stock.run(workers).split()
    with RequestStream(APP_PORT, "/info", host="hello.test", address=stock.address, threads=4,
                       max_requests=3000, max_seconds=40, rate=60) as stream:
        time.sleep(0.5)
        started = time.monotonic()
        change = fab(write(v2), "-H", stock.alias, "deploy").stdout
        print(f"deploy under load: {time.monotonic() - started:.1f} s")
        time.sleep(1.0)
    print(f"{stream.count} requests under load, {len(stream.failures)} failed")
    assert stream.count >= 30, f"the load was too thin to show anything ({stream.count} requests)"
    assert not stream.failures, (f"{len(stream.failures)} of {stream.count} requests failed:\n"
                                 f"{stream.report()}")
    assert version_served(stock) == "2.0.0"
    assert_nginx_and_other_sites_fine(stock)
    assert "site unchanged, nginx left alone" in change, change
    assert stock.run(workers).split() == workers_before

    back = fab(write(v2), "-H", stock.alias, "rollback").stdout
    assert version_served(stock) == "1.0.0"
    assert_nginx_and_other_sites_fine(stock)
    assert "site unchanged, nginx left alone" in back and stock.run(workers).split() == workers_before, back


def test_a_reload_that_nginx_cannot_apply_fails_the_deploy_and_keeps_the_previous_site(
        stock: DeployTarget, write_inventory, tmp_path: Path) -> None:
    # nginx's [emerg] line is in its error log (www-data:adm 0640), which the deploy user reads in the
    # group adm, as `setup` makes it; no root command reads it.
    stock.run("usermod -aG adm deploy")
    stock.run("install -d -o deploy -g deploy /srv/clash")
    stock.add_app_user("clash")
    write = inventory_writer(stock, write_inventory, name="clash", root="/srv/clash", listen=8090,
                             server_name="clash.test")
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    fab(write(v1), "-H", stock.alias, "deploy")
    assert version_served(stock, 8090) == "1.0.0"

    # Another program holds the port the next site asks for: nginx -t passes, the reload cannot bind.
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")
    workers = "pgrep -P \"$(systemctl show -p MainPID --value nginx)\" | sort"
    with port_held(stock, HELD_PORT):
        workers_before = stock.run(workers).split()
        done = fab(write(v2, listen_address=stock.address, listen=HELD_PORT), "-H", stock.alias, "deploy",
                   expect=None)
        output = done.stdout + done.stderr
        print(output)
        assert done.returncode == 1, f"the deploy must fail, it exited {done.returncode}:\n{output}"
        assert "site tested, nginx reloaded" not in output
        assert "bind()" in output and "Address already in use" in output, output
        assert "the previous site was put back and nginx reloaded with it" in output, output
        # The previous site is back and nginx serves with it; the new release did not go live.
        site = stock.run("cat /etc/nginx/sites-enabled/clash")
        assert "listen 8090;" in site and f":{HELD_PORT}" not in site, site
        assert version_served(stock, 8090) == "1.0.0"
        assert_nginx_and_other_sites_fine(stock)
        # nginx was reloaded again with the previous site: it has new workers (the old ones may still be
        # finishing their connections).
        assert set(stock.run(workers).split()) - set(workers_before)


def test_a_deploy_never_leaves_nginx_stopped(stock: DeployTarget, write_inventory, tmp_path: Path) -> None:
    """nginx stopped before the deploy and a site it cannot start with: the previous config is back,
    nginx is started with it, and the deploy fails saying why (its error log, read in the group adm)."""
    stock.run("usermod -aG adm deploy")
    stock.run("install -d -o deploy -g deploy /srv/stopped")
    stock.add_app_user("stopped")
    write = inventory_writer(stock, write_inventory, name="stopped", root="/srv/stopped", listen=8092,
                             server_name="stopped.test")
    fab(write(copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")), "-H", stock.alias, "deploy")
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")
    with port_held(stock, HELD_PORT):
        stock.run("systemctl stop nginx")
        try:
            done = fab(write(v2, listen=HELD_PORT), "-H", stock.alias, "deploy", expect=None)
            output = done.stdout + done.stderr
            assert done.returncode == 1, f"the deploy must fail, it exited {done.returncode}:\n{output}"
            assert "Address already in use" in output, output
            assert "listen 8092;" in stock.run("cat /etc/nginx/sites-enabled/stopped")
            assert version_served(stock, 8092) == "1.0.0"
            assert_nginx_and_other_sites_fine(stock)
        finally:
            stock.run("systemctl is-active --quiet nginx || systemctl start nginx", check=False)


def test_the_static_location_follows_no_link_out_of_the_release(stock: DeployTarget) -> None:
    """After the deploys above: `disable_symlinks if_not_owner` (issue 15): a link to a root file is refused,
    the release's own link to its own file is served."""
    found = static_links_served(stock, APP_PORT, host="hello.test")
    assert found == {"passwd": 403, "etc/hostname": 403, "mine.css": 200, "style.css": 200}, found
