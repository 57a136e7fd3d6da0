"""CGI behind Debian's stock Apache on a booted Debian 12 server (tests/servers), over real ssh.

The server: systemd, Debian's apache2 as installed (mpm_event, running as root with ``User
www-data``, mod_wsgi and mod_fcgid enabled, not mod_cgi/mod_cgid; its default site on port 80), a
``deploy`` user with sudo. The example app goes to port 8080 with ``server = "cgi"``,
``proxy = "apache"`` and Debian's ``[apache]`` defaults.

Findings: the site loaded mod_cgid (what Debian's ``a2enmod cgi`` picks under mpm_event), and a
graceful restart loads the module but never starts its daemon, so every request answered 503 ("unable
to connect to cgi daemon after multiple tries"). A deploy now restarts Apache fully when the site loads
a module anew (or mod_cgid's daemon is missing) and says so. Every later graceful restart restarts that
daemon too, and a request meanwhile answered 503 (test_tls_apache_site.py): the site loads mod_cgi now. And the CGI script runs as www-data, which cannot write
the deploy's ``shared/log/app.log``: the app logs to Apache's error log instead of answering 500.

Under ``CI=true`` a machine that cannot boot servers fails these tests (never a skip).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.servers.deploy_target import DeployTarget, boot_targets
from tests.servers.fixtures import server_lab, unavailable  # noqa: F401  (server_lab is a fixture)
from tests.servers.image import ImageError
from tests.servers.lab import ServerLab
from tests.servers.machine import ServerError

from .fabcli import EXAMPLE, fab
from .helpers import copy_app
from .load import RequestStream
from .stock import APACHE_TABLE, get, static_links_served

APP_PORT = 8080
DEFAULT_PAGE = "Apache2 Debian Default Page"


def served(target: DeployTarget) -> dict[str, str]:
    status, body = get(target.address, APP_PORT, "/info")
    assert status == 200, f"{status}: {body[:300]}\n" + target.run(
        f"tail -n 5 /var/log/apache2/{Path(target.app_root).name}.error.log /var/log/apache2/error.log", check=False)
    return json.loads(body)


def assert_apache_and_its_default_site_fine(target: DeployTarget) -> None:
    """Apache runs under systemd, and Debian's default site answers."""
    assert target.run("systemctl is-active apache2", check=False).strip() == "active"
    status, body = get(target.address, 80)
    assert status == 200 and DEFAULT_PAGE in body, f"Debian's default site: {status} {body[:200]}"


@pytest.fixture(scope="module")
def stock(server_lab: ServerLab) -> DeployTarget:  # noqa: F811
    """``web1`` booted over Debian's apache2 layer, made a deploy target, its default site answering."""
    try:
        [target] = boot_targets(server_lab, ["web1"], front="apache2")
    except (ServerError, ImageError, RuntimeError) as exc:
        unavailable(f"{type(exc).__name__}: {exc}")
    modules = [line.split()[0] for line in target.run("apache2ctl -M 2>/dev/null").splitlines()[1:]]
    assert "cgid_module" not in modules and "mpm_event_module" in modules, modules
    assert_apache_and_its_default_site_fine(target)
    return target


def test_cgi_deploys_change_and_rolls_back_behind_the_stock_apache(stock: DeployTarget, write_inventory,
                                                                   tmp_path: Path) -> None:
    def write(source: Path) -> Path:
        return write_inventory("test", app=stock.app_table(source, server="cgi", proxy="apache", listen=APP_PORT),
                               hosts={stock.alias: stock.host_table()}, extra={"apache": APACHE_TABLE})
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")

    started = time.monotonic()
    out = fab(write(v1), "-H", stock.alias, "deploy").stdout
    print(f"first deploy: {time.monotonic() - started:.1f} s")
    assert "apache restarted, not reloaded: the site loads cgi_module anew" in out, out
    first = served(stock)
    assert first["version"] == "1.0.0"
    assert_apache_and_its_default_site_fine(stock)
    # The app logged, as www-data, to the site's error log (mod_cgi's) rather than failing on shared/log/app.log.
    site_log = f"/var/log/apache2/{Path(stock.app_root).name}.error.log"
    logged = stock.run(f"cat {site_log}").count("index served, version 1.0.0")
    assert get(stock.address, APP_PORT, "/")[0] == 200
    assert stock.run(f"cat {site_log}").count("index served, version 1.0.0") == logged + 1

    # A new version: the site is the same, so Apache is left alone, and CGI answers all along.
    with RequestStream(APP_PORT, "/info", address=stock.address, threads=2, max_requests=300,
                       max_seconds=30, rate=5, timeout=20) as stream:
        time.sleep(0.5)
        out = fab(write(v2), "-H", stock.alias, "deploy").stdout
        time.sleep(1.0)
    assert "site unchanged, apache left alone" in out, out
    assert stream.count >= 5, f"the load was too thin to show anything ({stream.count} requests)"
    assert not stream.failures, f"{len(stream.failures)} of {stream.count} requests failed:\n{stream.report()}"
    assert served(stock)["version"] == "2.0.0"
    assert_apache_and_its_default_site_fine(stock)

    fab(write(v2), "-H", stock.alias, "rollback")
    assert served(stock)["release"] == first["release"]
    assert_apache_and_its_default_site_fine(stock)


def test_the_static_location_follows_no_link_out_of_the_release(stock: DeployTarget) -> None:
    """After the deploys above: `Options SymLinksIfOwnerMatch` (issue 15): a link to a root file is refused,
    the release's own link to its own file is served."""
    found = static_links_served(stock, APP_PORT)
    assert found == {"passwd": 403, "etc/hostname": 403, "mine.css": 200, "style.css": 200}, found


def test_uninstall_takes_the_site_out_of_the_stock_apache_which_keeps_its_default_site(
        stock: DeployTarget, write_inventory, tmp_path: Path) -> None:
    """After the test above: the CGI app's site, its link and its Listen file go, tested by `apachectl -t`,
    and Apache is reloaded gracefully, its default site answering."""
    inventories = write_inventory("test", app=stock.app_table(copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0"),
                                                              server="cgi", proxy="apache", listen=APP_PORT),
                                  hosts={stock.alias: stock.host_table()}, extra={"apache": APACHE_TABLE})
    done = fab(inventories, "-H", stock.alias, "uninstall", "--yes")
    print(done.stdout)
    assert "apache site removed" in done.stdout, done.stdout
    name = stock.app_root.rsplit("/", 1)[-1]
    assert stock.run(f"ls /etc/apache2/sites-available /etc/apache2/sites-enabled | grep -c '^{name}' || true"
                     ).strip() == "0"
    assert stock.run(f"ss -Hltn 'sport = :{APP_PORT}'").strip() == "", "Apache no longer listens for the app"
    assert_apache_and_its_default_site_fine(stock)
