"""A minimal FastCGI client, and a stand-in for a server that spawns FastCGI apps (mod_fcgid).

Standard library only, so it runs on a test host with any Python:

    python fastcgi_client.py spawn RUNNER SOCKET SCRIPT_NAME PATH_INFO [SCRIPT_NAME PATH_INFO ...]

binds a unix socket at SOCKET, starts RUNNER with that listening socket as its standard input
(what mod_fcgid does), sends one GET per SCRIPT_NAME/PATH_INFO pair, prints each response
body on a line, then TERMs the runner and prints ``exit <code>``.
"""
from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6
RESPONDER = 1


def _record(kind: int, content: bytes, request_id: int = 1) -> bytes:
    return struct.pack("!BBHHBx", 1, kind, request_id, len(content), 0) + content


def _pair(name: bytes, value: bytes) -> bytes:
    def length(n: int) -> bytes:
        return struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)
    return length(len(name)) + length(len(value)) + name + value


def request(path: str, params: dict[str, str], timeout: float = 10) -> str:
    """Send one request without a body to the FastCGI socket ``path``; return its stdout (headers and body)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(path)
    body = b"".join(_pair(k.encode(), v.encode()) for k, v in params.items())
    sock.sendall(_record(BEGIN_REQUEST, struct.pack("!HB5x", RESPONDER, 0))
                 + _record(PARAMS, body) + _record(PARAMS, b"") + _record(STDIN, b""))
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    sock.close()
    out = b""
    while len(data) >= 8:
        _, kind, _, length, padding = struct.unpack("!BBHHB", data[:7])
        content, data = data[8:8 + length], data[8 + length + padding:]
        if kind == STDOUT:
            out += content
    return out.decode("utf-8", "replace")


def get_params(script_name: str, path_info: str) -> dict[str, str]:
    return {"REQUEST_METHOD": "GET", "SCRIPT_NAME": script_name, "PATH_INFO": path_info, "QUERY_STRING": "",
            "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "localhost", "GATEWAY_INTERFACE": "CGI/1.1", "REMOTE_ADDR": "127.0.0.1"}


def spawn_and_ask(runner: str, path: str, pairs: list[tuple[str, str]]) -> int:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    proc = subprocess.Popen([runner], stdin=listener.fileno(), cwd="/")
    try:
        for script_name, path_info in pairs:
            deadline = time.monotonic() + 30
            while True:  # the runner answers once it has imported the app; until then requests wait queued
                try:
                    response = request(path, get_params(script_name, path_info))
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    time.sleep(0.1)
            print(response.split("\r\n\r\n", 1)[-1].replace("\n", " "))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        listener.close()
        os.unlink(path)
    print(f"exit {code}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 6 or sys.argv[1] != "spawn" or len(sys.argv[4:]) % 2:
        sys.exit(__doc__)
    args = sys.argv[4:]
    sys.exit(spawn_and_ask(sys.argv[2], sys.argv[3], list(zip(args[::2], args[1::2]))))
