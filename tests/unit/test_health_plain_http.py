"""The health check's plain HTTP: HTTP/1.0 on a socket (issue 16: `http.client`, with the `ssl` and `email`
modules it imports, was half of the check's time on a host). Each case is a local server that answers one way,
asked by the real probe; none of them depends on timing: a probe that waited for the wrong thing runs into
the check's timeout and fails."""
from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from typing import Callable

import pytest

from wsgideploy.commands.health import http_check

Answer = Callable[[socket.socket, bytes], None]


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], int]]:
    """``serve(answer)``: a port whose connections ``answer(conn, request)`` handles; every server stops at the end."""
    listeners: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def start(answer: Answer) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def loop() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:  # closed: the test is over
                    return
                with conn:
                    request = b""
                    while b"\r\n\r\n" not in request:
                        request += conn.recv(4096)
                    answer(conn, request)
        thread = threading.Thread(target=loop)
        thread.start()
        threads.append(thread)
        return int(listener.getsockname()[1])
    yield start
    for listener in listeners:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept of its thread (a close alone does not)
        listener.close()
    for thread in threads:
        thread.join(timeout=15)
        assert not thread.is_alive()


def probe(port: int, timeout: float = 3.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", http_check(port, "/up", "shop.example.com", 200, timeout)],
                          capture_output=True, text=True, timeout=60)


def test_an_answer_is_read_to_its_content_length_without_waiting_for_the_close(serve) -> None:  # noqa: ANN001
    probed = threading.Event()

    def answer(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello")
        probed.wait(10)  # keeps the connection open past the check's timeout
    port = serve(answer)
    done = probe(port)
    probed.set()
    assert done.returncode == 0, done.stderr
    assert "wsgideploy-fact:body=hello" in done.stdout


def test_the_request_names_the_host_and_an_answer_without_length_ends_at_the_close(serve) -> None:  # noqa: ANN001
    seen: list[bytes] = []

    def answer(conn: socket.socket, request: bytes) -> None:
        seen.append(request)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall " + b"x" * 10000)
    done = probe(serve(answer))
    assert done.returncode == 0, done.stderr
    assert seen[0].startswith(b"GET /up HTTP/1.0\r\n") and b"\r\nHost: shop.example.com\r\n" in seen[0]
    assert "wsgideploy-fact:body=all xxxx" in done.stdout


def test_something_that_is_not_http_fails_the_check_and_says_what_came(serve) -> None:  # noqa: ANN001
    done = probe(serve(lambda conn, request: conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")), timeout=1.0)
    assert done.returncode != 0
    assert "not an HTTP answer: b'SSH-2.0-OpenSSH_9.2" in done.stderr
