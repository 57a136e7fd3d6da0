"""Behind nginx the app sees the real client and its own URLs; logs follow the stage's level.

The tests run on a booted Debian 12 server (tests/servers: systemd, Debian's stock nginx with its default
site, real OpenSSH), booted once for the module; each test deploys its own app (its own name, root under
/srv and port). The client the app must see is this machine, at its address on the servers' bridge.
nginx logs the app in its own folder (/var/log/nginx/<app>.*.log, rotated by Debian's snippet), the app's
logs rotate as the deploy user, and root installs only the snippet the controller rendered: one planted
in the release or in current/ (a postrotate, which logrotate runs as root) never reaches /etc/logrotate.d,
and a link planted in shared/log makes root create nothing.
"""
from __future__ import annotations

import json
import os
import select
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from .booted_deploy import controller_address, inventory
from .fabcli import EXAMPLE, PROJECT, fab
from .helpers import copy_app
from .stock import get

FORGED = {"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}


def whoami(target: DeployTarget, port: int, path: str = "/whoami",
           headers: dict[str, str] | None = None) -> dict[str, str]:
    status, body = get(target.address, port, path, headers=headers)
    assert status == 200, f"{status}: {body[:300]}"
    return json.loads(body)


@pytest.fixture(scope="module")
def client(nginx_target: DeployTarget) -> str:  # noqa: F811
    """This machine's address as the server sees it."""
    return controller_address(nginx_target)


def test_proxyfix_gives_the_client_address_and_urls_and_ignores_forged_headers(
        nginx_target, client, write_inventory, tmp_path):  # noqa: F811
    port = 8080
    host = nginx_target.with_app("proxyfix")
    source = copy_app(EXAMPLE, tmp_path / "hello")
    fab(inventory(write_inventory, host, source, listen=port), "-H", host.alias, "deploy")
    seen = whoami(host, port, headers=FORGED)
    assert seen == {"remote_addr": client, "scheme": "http", "external_url": f"http://{host.address}:{port}/"}

    # Without ProxyFix the app only sees nginx on a unix socket: the counts come from the inventory.
    fab(inventory(write_inventory, host, source, listen=port, proxy_fix=False), "-H", host.alias, "deploy")
    assert whoami(host, port, headers=FORGED)["remote_addr"] != client

    # Two proxies in front (x_for = 2): the address one hop further out is trusted.
    fab(inventory(write_inventory, host, source, listen=port, proxy_fix={"x_for": 2}), "-H", host.alias, "deploy")
    assert whoami(host, port, headers={"X-Forwarded-For": "198.51.100.7"})["remote_addr"] == "198.51.100.7"


def test_the_app_mounts_under_a_url_prefix(nginx_target, write_inventory, tmp_path):  # noqa: F811
    port = 8081
    host = nginx_target.with_app("prefixed")
    source = copy_app(EXAMPLE, tmp_path / "hello")
    fab(inventory(write_inventory, host, source, listen=port, url_prefix="/yourapplication",
                  health={"path": "/yourapplication/"}), "-H", host.alias, "deploy")
    seen = whoami(host, port, "/yourapplication/whoami")
    assert seen["external_url"] == f"http://{host.address}:{port}/yourapplication/"
    assert get(host.address, port, "/yourapplication/info")[0] == 200
    assert get(host.address, port, "/info")[0] == 404


def deploy_logs_app(host: DeployTarget, write_inventory, source: Path, level: str, port: int) -> Path:
    inventories = inventory(write_inventory, host, source, listen=port, log_level=level)
    fab(inventories, "-H", host.alias, "deploy")
    return inventories


def test_logs_follow_the_stage_level_and_show_with_fab_logs(nginx_target, write_inventory, tmp_path):  # noqa: F811
    port = 8086
    host = nginx_target.with_app("logs")
    source = copy_app(EXAMPLE, tmp_path / "hello")

    deploy_logs_app(host, write_inventory, source, "WARNING", port)
    get(host.address, port, "/")
    whoami(host, port)
    app_log = host.read("shared/log/app.log")
    assert "whoami asked by" in app_log and "index served" not in app_log
    inventories = deploy_logs_app(host, write_inventory, source, "INFO", port)
    get(host.address, port, "/")
    assert "index served, version 1.0.0" in host.read("shared/log/app.log")
    for name in ("gunicorn.access.log", "gunicorn.error.log"):
        assert int(host.run(f"stat -c %s {host.path('shared/log/' + name)}")) > 0, name
    nginx_log = "/var/log/nginx/logs.access.log"  # nginx's own folder, never the deploy's shared/log
    assert int(host.run(f"stat -c %s {nginx_log}")) > 0 and not host.exists("shared/log/nginx.access.log")
    snippet = "/etc/logrotate.d/wsgideploy-logs"
    assert host.run(f"stat -c '%U %a' {snippet}").split() == ["root", "644"], "root's snippet, root's file"
    assert f"{host.app_root}/shared/log" in host.read(snippet)

    whoami(host, port)  # the app's last line, for `logs --lines 3` (workers log their start at INFO too)
    out = fab(inventories, "-H", host.alias, "logs", "--lines", "3").stdout
    assert f"[{host.alias}] ==> {host.app_root}/shared/log/app.log <==" in out and "whoami asked" in out
    assert f"==> {nginx_log} <==" in out and "GET /whoami" in out, out

    # As Debian's logrotate leaves nginx's logs (www-data:adm 0640), a deploy user outside adm cannot read
    # them: `logs` says so and names the fix; in the group adm (what `setup` does), it reads them.
    host.run(f"chown www-data:adm {nginx_log} && chmod 0640 {nginx_log} && gpasswd -d {host.user} adm || true")
    out = fab(inventories, "-H", host.alias, "logs", "--lines", "3").stdout
    assert f"(not readable by {host.user}: the front server's logs are read by the group adm" in out, out
    assert "whoami asked" in out, "the app's own logs are still shown"
    host.run(f"usermod -aG adm {host.user}")
    out = fab(inventories, "-H", host.alias, "logs", "--lines", "3").stdout
    assert "not readable" not in out and "GET /whoami" in out, out

    # A reader that goes away early (`| head`) ends the command quietly, not with a traceback.
    env = {**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventories)}
    piped = subprocess.run(["bash", "-c", f"set -o pipefail; fab -H {host.alias} logs --lines 50 | head -n 2"],
                           cwd=PROJECT, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert "Traceback" not in piped.stderr and len(piped.stdout.splitlines()) == 2, piped.stderr

    follow = subprocess.Popen(["fab", "-H", host.alias, "logs", "--follow", "--lines", "0"], cwd=PROJECT,
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        time.sleep(2)
        deadline = time.monotonic() + 30
        seen = b""
        fd = follow.stdout.fileno()
        while time.monotonic() < deadline and b"follow-marker" not in seen:
            get(host.address, port, "/info?follow-marker")
            # Bytes from the pipe as they come: a text stream's read() on an empty non-blocking pipe can
            # raise TypeError inside its decoder.
            while select.select([fd], [], [], 0.3)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                seen += chunk
        text = seen.decode("utf-8", "replace")
        assert "follow-marker" in text and f"[{host.alias}]" in text
    finally:
        follow.send_signal(signal.SIGTERM)
        follow.wait(timeout=30)


def install_logrotate(host: DeployTarget) -> None:
    """The stock server has /etc/logrotate.d but not logrotate itself (it comes through the proxy)."""
    host.run("command -v logrotate || { apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -q install -y "
             "logrotate; }", timeout=300)


def test_the_logrotate_snippet_rotates_every_log_of_the_app(nginx_target, write_inventory, tmp_path):  # noqa: F811
    """Every log in shared/log is the deploy user's (nginx's are in /var/log/nginx), so the snippet, which
    rotates as that user, rotates them all; and Debian's own nginx snippet covers nginx's logs of the app.
    (The finding was: nginx's master, root, created shared/log/nginx.*.log as root: Permission denied.)"""
    port = 8087
    host = nginx_target.with_app("rotated")
    deploy_logs_app(host, write_inventory, copy_app(EXAMPLE, tmp_path / "hello"), "INFO", port)
    get(host.address, port, "/")
    whoami(host, port)
    install_logrotate(host)
    rotated = host.run("logrotate -v -f -s /tmp/rotated.state /etc/logrotate.d/wsgideploy-rotated 2>&1; "
                       "echo exit=$?")
    assert rotated.rstrip().endswith("exit=0"), rotated
    assert host.exists("shared/log/app.log.1"), "the app's own log is rotated:\n" + rotated
    assert host.exists("shared/log/gunicorn.access.log.1"), rotated
    whoami(host, port)
    assert "whoami asked" in host.read("shared/log/app.log"), "copytruncate keeps the app logging"
    owners = set(host.run(f"stat -c '%U:%G' {host.path('shared/log')}/*.log*").split())
    assert owners <= {f"{host.user}:rotated", "rotated:rotated"}, \
        f"shared/log holds files of the app user (the app server's logs, rotated as it) or of the deploy user (made " \
        f"by the app check), all in the app's group: {owners}"
    debian = host.run("logrotate -d -s /tmp/debian.state /etc/logrotate.d/nginx 2>&1 || true")
    for name in ("rotated.access.log", "rotated.error.log"):
        assert f"considering log /var/log/nginx/{name}" in debian, debian


PLANTED = """{root}/shared/log/*.log {{
    daily
    postrotate
        id > /root/planted-by-the-app
    endscript
}}
"""


def test_a_snippet_planted_in_the_release_never_reaches_logrotate_d_nor_a_link_in_shared_log_root(
        nginx_target, write_inventory, tmp_path):  # noqa: F811
    """The audit's two paths to root, closed: root copied current/.wsgideploy/logrotate.conf (which the app
    can write) into /etc/logrotate.d, where a planted postrotate ran as root; and nginx (root) opened its
    logs in shared/log, where a planted link made it create a root-owned file elsewhere. Here the app's
    code (a before_switch hook, which runs as the app does) plants both in the new release, and the live
    release's current/ has one too; the deploy installs the controller's snippet and root opens nothing
    in shared/log."""
    port = 8088
    host = nginx_target.with_app("planted")
    source = copy_app(EXAMPLE, tmp_path / "hello")
    inventories = deploy_logs_app(host, write_inventory, source, "INFO", port)
    snippet = "/etc/logrotate.d/wsgideploy-planted"
    controllers = host.read(snippet)
    assert "postrotate" not in controllers and "su planted planted" in controllers, "rotated as the app's user"

    planted = PLANTED.format(root=host.app_root)
    host.write("current/.wsgideploy/logrotate.conf", planted)
    for name in ("nginx.access.log", "nginx.error.log"):  # where nginx logged before
        host.run_as_deploy(f"ln -sfn /etc/planted-{name} {host.path('shared/log/' + name)}")
    host.run_as_deploy(f"ln -sfn /root/planted-by-a-link.log {host.path('shared/log/link.log')}")
    plant = f"printf %s {shlex.quote(planted)} > .wsgideploy/logrotate.conf"
    fab(inventory(write_inventory, host, source, listen=port, log_level="INFO",
                  extra={"hooks": {"before_switch": [plant]}}), "-H", host.alias, "deploy")
    assert "postrotate" in host.read("current/.wsgideploy/logrotate.conf"), "the hook planted it in the release"
    assert host.read(snippet) == controllers, "root installed the controller's snippet, not the release's"
    host.run("nginx -t 2>&1")  # root opens every log the config names: none in shared/log
    for name in ("nginx.access.log", "nginx.error.log"):
        assert not host.exists(f"/etc/planted-{name}"), name
    install_logrotate(host)
    host.run(f"logrotate -f -s /tmp/planted.state {snippet} 2>&1 || true")
    assert not host.exists("/root/planted-by-the-app") and not host.exists("/root/planted-by-a-link.log")
    assert host.run("ls /etc/logrotate.d").split().count("wsgideploy-planted") == 1
    fab(inventories, "-H", host.alias, "stop")


@pytest.mark.parametrize("server, port", [("gevent", 8083), ("tornado", 8084), ("twisted", 8085)])
def test_every_proxy_pass_container_sees_the_client_and_its_urls(
        nginx_target, client, write_inventory, tmp_path, server, port):  # noqa: F811
    host = nginx_target.with_app(f"via-{server}")
    source = copy_app(EXAMPLE, tmp_path / "hello")
    fab(inventory(write_inventory, host, source, listen=port, server=server), "-H", host.alias, "deploy")
    seen = whoami(host, port, headers=FORGED)
    assert seen == {"remote_addr": client, "scheme": "http",
                    "external_url": f"http://{host.address}:{port}/"}, server
