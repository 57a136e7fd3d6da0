"""A uWSGI worker that closes a connection it accepted without answering (the race in uWSGI's
graceful kill: a worker told to stop between ``accept()`` and the start of the request exits at
once) must not become a 502: nginx tries the request once more on the same socket.

The real nginx of the test host serves the real site wsgideploy rendered for a uWSGI deploy; in
place of uWSGI, a small server on the same socket drops its first connection and answers the
next ones, so the race happens on every run instead of once in a few thousand reloads.
"""
from __future__ import annotations

import http.client
import os
import socket
import threading
from pathlib import Path

from .fabcli import fab
from .test_mode_uwsgi import deploy_setup


class DroppingUwsgi:
    """Listen on ``path``; close the first ``drop`` connections unanswered, answer the rest."""

    def __init__(self, path: Path, drop: int) -> None:
        self.path, self.drop = path, drop
        self.accepted = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        os.chmod(path, 0o666)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def __enter__(self) -> DroppingUwsgi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()
        self.path.unlink(missing_ok=True)
        assert not self.thread.is_alive(), "the fake uWSGI server did not stop"

    def serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                self.accepted += 1
                if self.accepted <= self.drop:
                    continue  # what a worker exiting right after accept() does
                conn.settimeout(2)
                conn.recv(65536)  # the uwsgi packet (nginx sends it in one go)
                body = b"answered"
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


def request(port: int, method: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, "/", body=b"x=1" if method == "POST" else None)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_a_connection_a_worker_dropped_is_retried_once_for_idempotent_requests(
        make_host, write_inventory, tmp_path):
    host, inventories, _ = deploy_setup(make_host, write_inventory, tmp_path)
    fab(inventories, "-H", "web1", "deploy")
    fab(inventories, "-H", "web1", "stop")
    socket_path = host.run_dir / "uwsgi.sock"
    assert not socket_path.exists(), "the graceful stop removes the socket (vacuum)"

    with DroppingUwsgi(socket_path, drop=1) as server:
        assert request(host.http_port, "GET") == (200, "answered")
        assert server.accepted == 2, "nginx asked again after the dropped connection"

    # A POST is not retried: the app may have acted on it. nginx answers 502 at once.
    with DroppingUwsgi(socket_path, drop=1) as server:
        status, _ = request(host.http_port, "POST")
        assert status == 502 and server.accepted == 1
