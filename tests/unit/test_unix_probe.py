"""The health check of an app-server instance on its own unix socket (`health.UNIX_PROBE`), run for real
against small servers that speak each protocol the front servers speak: HTTP, uwsgi and FastCGI."""
from __future__ import annotations

import json
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wsgideploy.commands.health import UNIX_PROBE, unix_probe_config

Answer = Callable[[bytes], bytes]


def serve_once(path: Path, read: Callable[[socket.socket], bytes], answer: Answer, seen: list[bytes],
               times: int = 1) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def run() -> None:
        for _ in range(times):
            conn, _ = server.accept()
            with conn:
                request = read(conn)
                seen.append(request)
                conn.sendall(answer(request))
        server.close()
    threading.Thread(target=run, daemon=True).start()


def read_http(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(4096)
    return data


def read_uwsgi(conn: socket.socket) -> bytes:
    head = conn.recv(4, socket.MSG_WAITALL)
    _, size, _ = struct.unpack("<BHB", head)
    return conn.recv(size, socket.MSG_WAITALL)


def read_fastcgi(conn: socket.socket) -> bytes:
    params = b""
    while True:
        _, kind, _, size, pad = struct.unpack("!BBHHBx", conn.recv(8, socket.MSG_WAITALL))
        content = conn.recv(size + pad, socket.MSG_WAITALL)[:size] if size + pad else b""
        if kind == 4:
            params += content
        if kind == 5 and size == 0:
            return params


def fastcgi_answer(text: bytes) -> bytes:
    def record(kind: int, content: bytes) -> bytes:
        return struct.pack("!BBHHBx", 1, kind, 1, len(content), 0) + content
    return record(6, text) + record(6, b"") + record(3, struct.pack("!IB3x", 0, 0))


def probe(path: Path, upstream: str, health_path: str = "/up", status: int = 200,
          prefix: str = "") -> subprocess.CompletedProcess[str]:
    config = unix_probe_config(upstream, health_path, "example.org", status, 2, prefix)
    return subprocess.run([sys.executable, "-c", UNIX_PROBE, config, str(path)], capture_output=True, text=True,
                          timeout=30)


@pytest.fixture
def sock(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "app.sock"


def test_http_sends_the_front_servers_headers_and_passes_on_the_expected_status(sock: Path) -> None:
    seen: list[bytes] = []
    serve_once(sock, read_http, lambda _: b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", seen)
    result = probe(sock, "http-unix", "/app/up", prefix="/app")
    assert result.returncode == 0, result.stderr
    assert "own_socket=HTTP 200" in result.stdout
    request = seen[0].decode()
    assert request.startswith("GET /up HTTP/1.0\r\n"), "the prefix is the front server's to strip"
    assert "Host: example.org" in request and "X-Forwarded-Prefix: /app" in request


def test_uwsgi_sends_the_cgi_variables_and_reads_the_status_line(sock: Path) -> None:
    seen: list[bytes] = []
    serve_once(sock, read_uwsgi, lambda _: b"HTTP/1.1 200 OK\r\n\r\nok", seen)
    result = probe(sock, "uwsgi-unix", "/app/up", prefix="/app")
    assert result.returncode == 0, result.stderr
    assert b"\x09\x00PATH_INFO\x07\x00/app/up" in seen[0], "uWSGI's mount strips the prefix itself"
    assert b"\x09\x00HTTP_HOST\x0b\x00example.org" in seen[0]


def test_fastcgi_reads_the_status_header_and_fails_on_the_same_error_status_three_times(sock: Path) -> None:
    seen: list[bytes] = []
    serve_once(sock, read_fastcgi, lambda _: fastcgi_answer(b"Status: 500 Oops\r\n\r\nbroken"), seen, times=3)
    result = probe(sock, "fastcgi-unix", "/app/up", prefix="/app")
    assert result.returncode == 1
    assert "HTTP 500 (expected 200) 3 times in a row: broken" in result.stderr and str(sock) in result.stderr
    assert len(seen) == 3
    params = seen[0]
    assert b"\x0b\x04SCRIPT_NAME/app" in params and b"\x09\x03PATH_INFO/up" in params


def test_no_status_header_is_200_for_fastcgi(sock: Path) -> None:
    serve_once(sock, read_fastcgi, lambda _: fastcgi_answer(b"Content-Type: text/plain\r\n\r\nok"), [])
    assert probe(sock, "fastcgi-unix").returncode == 0


def test_nothing_listening_fails_after_the_timeout_with_the_reason(sock: Path) -> None:
    result = probe(sock, "http-unix")
    assert result.returncode == 1 and "FileNotFoundError" in result.stderr


def test_the_config_is_json_the_probe_reads() -> None:
    cfg = json.loads(unix_probe_config("uwsgi-unix", "/up", "localhost", 204, 5))
    assert cfg["protocol"] == "uwsgi" and cfg["status"] == 204 and cfg["environ"]["REQUEST_METHOD"] == "GET"


def test_a_probe_started_before_the_instance_answers_once_it_binds_and_accepts(sock: Path) -> None:
    """start_slot starts the probe beside the instance: first there is no socket, then one no worker accepts
    on yet (the connection waits in its queue), then the answer."""
    config = unix_probe_config("http-unix", "/up", "example.org", 200, 10)
    proc = subprocess.Popen([sys.executable, "-c", UNIX_PROBE, config, str(sock)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        threading.Event().wait(0.3)
        assert proc.poll() is None, "no socket yet is no answer yet, not a failure"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(sock))
        server.listen(8)
        threading.Event().wait(0.3)  # bound, but no worker accepts yet
        assert proc.poll() is None
        conn, _ = server.accept()
        with conn:
            assert read_http(conn).startswith(b"GET /up HTTP/1.0\r\n")
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        server.close()
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "own_socket=HTTP 200" in out


def start_probe(sock: Path, timeout: float, load_timeout: float) -> subprocess.Popen[str]:
    config = unix_probe_config("http-unix", "/up", "example.org", 200, timeout, load_timeout=load_timeout)
    return subprocess.Popen([sys.executable, "-c", UNIX_PROBE, config, str(sock)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], within: float) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=within)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def test_once_the_instance_answers_only_the_health_timeout_counts_not_the_load_allowance(sock: Path) -> None:
    """An instance that loaded and answers 503 (a status that may mean "starting") fails the check after
    the health timeout, as a check started after the load did: the load's allowance (60 s) is not added."""
    serve_once(sock, read_http, lambda _: b"HTTP/1.0 503 Busy\r\nContent-Length: 4\r\n\r\nbusy", [], times=50)
    code, err = finish(start_probe(sock, timeout=1, load_timeout=60), within=20)
    assert code == 1 and "HTTP 503 (expected 200)" in err


def test_once_told_the_instance_loaded_only_the_health_timeout_counts(sock: Path) -> None:
    """start_slot sends WINCH once the instance loaded the app: an instance that then takes connections
    but never answers fails after the health timeout, not after the load's allowance."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock))
    server.listen(8)  # connections wait in its queue; nothing ever takes them
    try:
        proc = start_probe(sock, timeout=1, load_timeout=60)
        threading.Event().wait(0.5)  # its handler is in place by then
        proc.send_signal(signal.SIGWINCH)
        code, _ = finish(proc, within=20)
    finally:
        server.close()
    assert code == 1


def test_a_loaded_signal_before_its_handler_or_as_it_exits_does_not_kill_the_probe(sock: Path) -> None:
    """start_slot's WINCH ("loaded") may come before the probe's Python has set its handler, or as it exits
    (Python puts a handled signal back to its default then): neither may end the probe. Sent all through
    its life, from its first instant."""
    for _ in range(5):
        serve_once(sock, read_http, lambda _: b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", [])
        proc = start_probe(sock, timeout=5, load_timeout=0)
        while proc.poll() is None:
            try:
                proc.send_signal(signal.SIGWINCH)
            except ProcessLookupError:
                break
        code, err = finish(proc, within=10)
        assert code == 0, (code, err)
        sock.unlink()
