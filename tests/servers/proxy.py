"""The registry proxy on the host side of a session's bridge: Debian's ``tinyproxy``, run by the harness.

It listens only on the bridge's address (``10.213.<N>.1:3128``) and allows only the bridge's range, so the
servers reach apt's mirrors (plain HTTP, absolute-URI GET) and PyPI (HTTPS, CONNECT) through it and through
nothing else: there is no NAT and no route out of a server. Measured here: both answer 200 through it
(``curl -x`` from this machine and ``curl`` with ``https_proxy`` from a booted server); the servers trust
this machine's CAs, which the image copies, so a TLS-intercepting egress works too.

tinyproxy runs in the foreground (``-d``) with its own config file, as ``nobody`` after it has written its
pidfile (as root, so it cannot remove it at exit: `Proxy.stop` does). It is one process (threads), stopped
by its pid (``SIGTERM``, then ``SIGKILL``); its log is its stdout, ``tinyproxy.log`` in the session folder.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PORT = 3128
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class ProxyError(RuntimeError):
    """tinyproxy is missing or did not start; the message carries its log's tail."""


def _listening(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Proxy:
    """A running tinyproxy for one bridge; `url` is what servers put in ``http_proxy``/``https_proxy``."""

    address: str
    subnet: str
    folder: Path
    port: int = PORT
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def pidfile(self) -> Path:
        return self.folder / "tinyproxy.pid"

    @property
    def log(self) -> Path:
        return self.folder / "tinyproxy.log"

    def config_text(self) -> str:
        return "\n".join([
            "User nobody", "Group nogroup",
            f"Listen {self.address}", f"Port {self.port}",
            f'PidFile "{self.pidfile}"',
            "Timeout 600", "MaxClients 200", "LogLevel Info",
            f"Allow {self.subnet}",
            "DisableViaHeader Yes", "",
        ])

    def start(self) -> None:
        """Start tinyproxy and wait until it accepts connections on the bridge address."""
        binary = shutil.which("tinyproxy", path="/usr/bin:/usr/sbin:/bin:/sbin")
        if binary is None:
            raise ProxyError("tinyproxy is not installed (apt-get install tinyproxy)")
        config = self.folder / "tinyproxy.conf"
        config.write_text(self.config_text())
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([binary, "-d", "-c", str(config)], stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(self.address, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-1500:]
                raise ProxyError(f"tinyproxy did not listen on {self.address}:{self.port}:\n{tail}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM by pid, SIGKILL after `STOP_TIMEOUT`; remove the pidfile. Safe to call twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT)
        self.pidfile.unlink(missing_ok=True)
