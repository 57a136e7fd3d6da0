"""A uWSGI worker that closes a connection it accepted without answering (the race in uWSGI's
graceful kill: a worker told to stop between ``accept()`` and the start of the request exits at
once) must not become a 502: nginx tries the request once more on the same socket.

On a booted Debian 12 server with its stock nginx, which serves the real site wsgideploy rendered
for a uWSGI deploy. In place of uWSGI, a small server on the same socket drops its first
connection and answers the next ones, so the race happens on every run instead of once in a few
thousand reloads. It runs on the server as the deploy user, in a transient unit of its own that the
test stops, and writes how many connections it accepted.
"""
from __future__ import annotations

import http.client
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers.deploy_target import DeployTarget

from .booted_modes import boot_module
from .fabcli import EXAMPLE, fab
from .helpers import copy_app

PORT = 8085
# The fake uWSGI server: listens on SOCKET, closes the first DROP connections unanswered, answers the rest.
DROPPING_UWSGI = r'''
import os, socket, sys
path, drop, count_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind(path)
os.chmod(path, 0o666)
sock.listen(16)
accepted = 0
open(count_file, "w").write("0")
while True:
    conn, _ = sock.accept()
    with conn:
        accepted += 1
        open(count_file, "w").write(str(accepted))
        if accepted <= drop:
            continue  # what a worker exiting right after accept() does
        conn.settimeout(2)
        conn.recv(65536)  # the uwsgi packet (nginx sends it in one go)
        body = b"answered"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
'''


@contextmanager
def dropping_uwsgi(target: DeployTarget, socket_path: str, drop: int) -> Iterator[Path]:
    """The fake server on ``socket_path`` while inside; yields the file that counts its connections."""
    unit, script, count = "wsgideploy-dropping-uwsgi", "/tmp/dropping_uwsgi.py", "/tmp/dropping_uwsgi.count"
    target.run(f"printf %s {shlex.quote(DROPPING_UWSGI)} > {script} && rm -f {count}")
    target.run(f"systemd-run --collect --unit={unit} --uid={target.user} --property=Type=exec "
               f"python3 {script} {shlex.quote(socket_path)} {drop} {count}")
    try:
        deadline = time.monotonic() + 10
        while not target.exists(count):
            assert time.monotonic() < deadline, "the fake uWSGI server did not start"
            time.sleep(0.1)
        yield Path(count)
    finally:
        target.run(f"systemctl stop {unit}; rm -f {shlex.quote(socket_path)}", check=False)
    assert target.run(f"systemctl is-active {unit} || true").strip() != "active", "the fake server did not stop"


def request(target: DeployTarget, method: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(target.address, PORT, timeout=10)
    try:
        conn.request(method, "/", body=b"x=1" if method == "POST" else None)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_a_connection_a_worker_dropped_is_retried_once_for_idempotent_requests(write_inventory, tmp_path):
    with boot_module({"uwsgi": "nginx"}, wheelhouse=True) as targets:
        target = targets["uwsgi"].with_app("dropped")
        source = copy_app(EXAMPLE, tmp_path / "app", version="1.0.0")
        inventories = write_inventory("test", app=target.app_table(source, server="uwsgi", listen=PORT, supervisor="none"),
                                      hosts={target.alias: target.host_table()}, nginx=target.front_table())
        fab(inventories, "-H", target.alias, "deploy")
        fab(inventories, "-H", target.alias, "stop")
        socket_path = f"{target.app_root}/shared/run/uwsgi.sock"
        assert not target.exists(socket_path), "the graceful stop removes the socket (vacuum)"

        with dropping_uwsgi(target, socket_path, drop=1) as count:
            assert request(target, "GET") == (200, "answered")
            assert target.read(str(count)) == "2", "nginx asked again after the dropped connection"

        # A POST is not retried: the app may have acted on it. nginx answers 502 at once.
        with dropping_uwsgi(target, socket_path, drop=1) as count:
            status, _ = request(target, "POST")
            assert status == 502 and target.read(str(count)) == "1"
