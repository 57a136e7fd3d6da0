"""What every per-mode test on a booted server with a stock front server checks (tests/servers).

`deploy_change_and_roll_back` is the story the issue asks of each mode: a first deploy, a change of code
deployed under a bounded load with not one failed request, a rollback; after each step the front server
is active under systemd and Debian's default site (there before wsgideploy) still answers with its page.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.servers.deploy_target import DeployTarget

from .fabcli import EXAMPLE, fab
from .helpers import copy_app
from .load import RequestStream

APP_PORT = 8080
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Front:
    """A stock front server: its systemd unit, the text of Debian's default page, its error log."""

    unit: str
    default_page: str
    error_log: str


NGINX = Front("nginx", "Welcome to nginx!", "/var/log/nginx/error.log")
APACHE = Front("apache2", "Apache2 Debian Default Page", "/var/log/apache2/error.log")
LIGHTTPD = Front("lighttpd", "Placeholder page", "/var/log/lighttpd/error.log")
FRONTS = {"nginx": NGINX, "apache": APACHE, "lighttpd": LIGHTTPD}  # by the inventory's proxy name
# Debian's defaults, as the inventory has them; "auto" finds systemd on the server.
APACHE_TABLE = {"sites_available": "/etc/apache2/sites-available", "sites_enabled": "/etc/apache2/sites-enabled",
                "sudo": True, "control": "auto"}


def get(address: str, port: int, path: str = "/", timeout: float = 20, host: str | None = None,
        method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, str]:
    """A request to ``http://<address>:<port><path>`` from this machine, no proxy; (status, body).
    ``host``: the Host header (default ``<address>:<port>``)."""
    request = urllib.request.Request(f"http://{address}:{port}{path}", method=method,
                                     headers={"Host": host or f"{address}:{port}", **(headers or {})})
    try:
        with _NO_PROXY.open(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode("utf-8", "replace")


def served(target: DeployTarget, front: Front) -> dict[str, str]:
    """The example app's ``/info`` on the target (its front server's error log tail when not 200)."""
    status, body = get(target.address, APP_PORT, "/info")
    assert status == 200, f"{status}: {body[:300]}\n" + target.run(f"tail -n 8 {front.error_log}", check=False)
    return json.loads(body)


def assert_front_and_default_site_fine(target: DeployTarget, front: Front) -> None:
    """The front server is active under systemd, and Debian's default site answers with its page."""
    active = target.run(f"systemctl is-active {front.unit}", check=False).strip()
    assert active == "active", f"{front.unit} is {active}:\n" + target.run(
        f"journalctl -u {front.unit} -n 20 --no-pager", check=False)
    status, body = get(target.address, 80)
    assert status == 200 and front.default_page in body, f"Debian's default site: {status} {body[:200]}"


def deploy_change_and_roll_back(target: DeployTarget, front: Front, write: Callable[[Path], Path],
                                tmp_path: Path, rate: float = 40, min_requests: int = 30) -> dict[str, str]:
    """Deploy v1, deploy v2 under a bounded load (0 failed requests), roll back to v1; check the front
    server and its default site after each step. Returns what each step printed, by step."""
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")
    outputs = {}

    started = time.monotonic()
    outputs["deploy"] = fab(write(v1), "-H", target.alias, "deploy").stdout
    print(f"{target.alias}: first deploy {time.monotonic() - started:.1f} s")
    first = served(target, front)
    assert first["version"] == "1.0.0"
    assert_front_and_default_site_fine(target, front)

    with RequestStream(APP_PORT, "/info", address=target.address, threads=4, max_requests=2000,
                       max_seconds=40, rate=rate, timeout=20) as stream:
        time.sleep(0.5)
        started = time.monotonic()
        outputs["change"] = fab(write(v2), "-H", target.alias, "deploy").stdout
        print(f"{target.alias}: deploy under load {time.monotonic() - started:.1f} s")
        time.sleep(1.0)
    print(f"{target.alias}: {stream.count} requests under load, {len(stream.failures)} failed")
    assert stream.count >= min_requests, f"the load was too thin to show anything ({stream.count} requests)"
    assert not stream.failures, f"{len(stream.failures)} of {stream.count} requests failed:\n{stream.report()}"
    assert served(target, front)["version"] == "2.0.0"
    assert_front_and_default_site_fine(target, front)

    started = time.monotonic()
    outputs["rollback"] = fab(write(v2), "-H", target.alias, "rollback").stdout
    print(f"{target.alias}: rollback {time.monotonic() - started:.1f} s")
    back = served(target, front)
    assert back["version"] == "1.0.0" and back["release"] == first["release"]
    assert_front_and_default_site_fine(target, front)
    return outputs


def static_links_served(target: DeployTarget, port: int, host: str | None = None) -> dict[str, int]:
    """Plant links in the live release's static folder, as the deploy user (who can, as an upload could
    before issue 15), and ask the front server for each; then take them out. The status of each:
    ``passwd`` -> /etc/passwd, ``etc/hostname`` through a link to /etc, ``mine.css`` -> style.css (a link
    of the release's owner to its own file), and ``style.css`` itself (a file, reached through ``current``)."""
    static = f"{target.app_root}/current/static"
    target.run_as_deploy(f"ln -s /etc/passwd {static}/passwd && ln -s /etc {static}/etc && "
                         f"ln -s style.css {static}/mine.css")
    try:
        found = {}
        for name in ("passwd", "etc/hostname", "mine.css", "style.css"):
            status, body = get(target.address, port, f"/static/{name}", host=host)
            assert "root:" not in body, f"/static/{name} served /etc/passwd"
            found[name] = status
        return found
    finally:
        target.run_as_deploy(f"rm -f {static}/passwd {static}/etc {static}/mine.css")
