"""Behind nginx the app sees the real client and its own URLs; logs follow the stage's level."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from .fabcli import EXAMPLE, PROJECT, fab, hello_app_table
from .helpers import copy_app, http_get


def whoami(port: int, path: str = "/whoami", headers: dict[str, str] | None = None) -> dict[str, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Host": f"localhost:{port}", **(headers or {})})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return json.loads(response.read())


FORGED = {"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}


def test_proxyfix_gives_the_client_address_and_urls_and_ignores_forged_headers(make_host, write_inventory, tmp_path):
    host = make_host("web1")
    source = copy_app(EXAMPLE, tmp_path / "hello")
    inventory = write_inventory("test", app=hello_app_table(host, source), hosts={"web1": host.host_table()},
                                nginx=host.nginx_table())
    fab(inventory, "-H", "web1", "deploy")
    seen = whoami(host.http_port, headers=FORGED)
    assert seen == {"remote_addr": "127.0.0.1", "scheme": "http",
                    "external_url": f"http://localhost:{host.http_port}/"}

    # Without ProxyFix the app only sees nginx on a unix socket: the counts come from the inventory.
    inventory = write_inventory("test", app=hello_app_table(host, source, proxy_fix=False),
                                hosts={"web1": host.host_table()}, nginx=host.nginx_table())
    fab(inventory, "-H", "web1", "deploy")
    assert whoami(host.http_port, headers=FORGED)["remote_addr"] != "127.0.0.1"

    # Two proxies in front (x_for = 2): the address one hop further out is trusted.
    inventory = write_inventory("test", app=hello_app_table(host, source, proxy_fix={"x_for": 2}),
                                hosts={"web1": host.host_table()}, nginx=host.nginx_table())
    fab(inventory, "-H", "web1", "deploy")
    assert whoami(host.http_port, headers={"X-Forwarded-For": "198.51.100.7"})["remote_addr"] == "198.51.100.7"


def test_the_app_mounts_under_a_url_prefix(make_host, write_inventory, tmp_path):
    host = make_host("web1")
    source = copy_app(EXAMPLE, tmp_path / "hello")
    inventory = write_inventory("test", app=hello_app_table(host, source, url_prefix="/yourapplication",
                                                            health={"path": "/yourapplication/"}),
                                hosts={"web1": host.host_table()}, nginx=host.nginx_table())
    fab(inventory, "-H", "web1", "deploy")
    seen = whoami(host.http_port, "/yourapplication/whoami")
    assert seen["external_url"] == f"http://localhost:{host.http_port}/yourapplication/"
    assert http_get(host.http_port, "/yourapplication/info")[0] == 200
    assert http_get(host.http_port, "/info")[0] == 404


def test_logs_follow_the_stage_level_rotate_and_show_with_fab_logs(make_host, write_inventory, tmp_path):
    host = make_host("web1")
    source = copy_app(EXAMPLE, tmp_path / "hello")
    rotate_dir = Path(host.base) / "logrotate.d"
    rotate_dir.mkdir()
    os.chown(rotate_dir, *_ids(host.user))

    def deploy(level: str) -> Path:
        inventory = write_inventory("test", app=hello_app_table(host, source, log_level=level,
                                                                logrotate=str(rotate_dir)),
                                    hosts={"web1": host.host_table()}, nginx=host.nginx_table())
        fab(inventory, "-H", "web1", "deploy")
        return inventory

    deploy("WARNING")
    log_dir = Path(host.app_root) / "shared/log"
    http_get(host.http_port, "/")
    whoami(host.http_port)
    app_log = (log_dir / "app.log").read_text()
    assert "whoami asked by 127.0.0.1" in app_log and "index served" not in app_log
    inventory = deploy("INFO")
    http_get(host.http_port, "/")
    assert "index served, version 1.0.0" in (log_dir / "app.log").read_text()
    for name in ("gunicorn.access.log", "gunicorn.error.log", "nginx.access.log"):
        assert (log_dir / name).stat().st_size > 0, name

    # The rendered logrotate snippet is installed and really rotates (copytruncate keeps logging going).
    snippet = rotate_dir / "wsgideploy-hello"
    assert str(log_dir) in snippet.read_text()
    rotated = subprocess.run(["logrotate", "-v", "-f", "-s", str(tmp_path / "state"), str(snippet)],
                             capture_output=True, text=True)
    assert rotated.returncode == 0 and (log_dir / "app.log.1").exists(), rotated.stdout + rotated.stderr
    whoami(host.http_port)
    assert "whoami asked" in (log_dir / "app.log").read_text()

    out = fab(inventory, "-H", "web1", "logs", "--lines", "3").stdout
    assert f"[web1] ==> {log_dir}/app.log <==" in out and "whoami asked" in out

    # A reader that goes away early (`| head`) ends the command quietly, not with a traceback.
    piped = subprocess.run(["bash", "-c", "set -o pipefail; fab -H web1 logs --lines 50 | head -n 2"],
                           cwd=PROJECT, capture_output=True, text=True, timeout=60,
                           env={**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventory)})
    assert "Traceback" not in piped.stderr and len(piped.stdout.splitlines()) == 2, piped.stderr

    env = {**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventory)}
    follow = subprocess.Popen(["fab", "-H", "web1", "logs", "--follow", "--lines", "0"], cwd=PROJECT, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2)
        marker = "/info?follow-marker"
        deadline = time.monotonic() + 30
        seen = ""
        os.set_blocking(follow.stdout.fileno(), False)
        while time.monotonic() < deadline and "follow-marker" not in seen:
            http_get(host.http_port, marker)
            time.sleep(0.3)
            seen += follow.stdout.read() or ""
        assert "follow-marker" in seen and "[web1]" in seen
    finally:
        follow.send_signal(signal.SIGTERM)
        follow.wait(timeout=30)


def _ids(user: str) -> tuple[int, int]:
    import pwd
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


@pytest.mark.parametrize("server", ["gevent", "tornado", "twisted"])
def test_every_proxy_pass_container_sees_the_client_and_its_urls(make_host, write_inventory, tmp_path, server):
    host = make_host("web1")
    source = copy_app(EXAMPLE, tmp_path / "hello")
    inventory = write_inventory("test", app=hello_app_table(host, source, server=server),
                                hosts={"web1": host.host_table()}, nginx=host.nginx_table())
    fab(inventory, "-H", "web1", "deploy")
    seen = whoami(host.http_port, headers=FORGED)
    assert seen == {"remote_addr": "127.0.0.1", "scheme": "http",
                    "external_url": f"http://localhost:{host.http_port}/"}, server
