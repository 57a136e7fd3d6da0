"""How commands get to a host: one SSH connection per host per run.

A `HostConnection` opens one Fabric/paramiko connection, checks the host key
against ``known_hosts`` (rejecting unknown and changed keys unless trusting a
new host was asked for), and runs each phase as one ``bash -c`` script with
standard input closed or fed from bytes, under a timeout.
"""
from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import paramiko
from fabric import Config, Connection

from . import host_keys
from .commands.shell import stop_session
from .protocol import session_id
from .inventory import Host, Ssh

# paramiko logs a connection that fails (a port that closes before its SSH banner...) with its traceback,
# which logging's last resort prints on stderr; the person is told by `ConnectError` instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class ConnectError(Exception):
    """The host could not be reached or refused us; the message says why."""


class CommandTimeout(Exception):
    """A remote command ran past its timeout."""


class _OutputFailed(Exception):
    """The local ``on_line`` callback failed (e.g. stdout is a closed pipe): not an SSH error."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


@dataclass(frozen=True)
class RemoteResult:
    """What a remote command returned."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class HostConnection:
    """One SSH connection to one inventory host, reused for every step."""

    def __init__(self, host: Host, ssh: Ssh, trust_new_host_key: bool = False) -> None:
        self.host = host
        self.ssh = ssh
        self.trust_new_host_key = trust_new_host_key
        self.round_trips = 0
        # Sees every line of remote output, stdout and stderr, as it arrives (the run log, -v).
        self.on_output: Callable[[str], None] | None = None
        self._cxn: Connection | None = None
        self._interrupt = threading.Event()

    def interrupt(self) -> None:
        """Stop the command running now (or the next one) as Ctrl-C would, from another thread.

        Used when a run with hosts side by side is interrupted: only the main
        thread sees Ctrl-C or SIGTERM. The interrupted command's session is
        stopped on the host; commands run after it (cleanup) run normally.
        """
        self._interrupt.set()

    def open(self) -> None:
        """Connect and authenticate, or raise `ConnectError` with the reason."""
        host = self.host
        connect_kwargs: dict[str, object] = {"transport_factory": aead_first}
        if host.identity:
            connect_kwargs.update(key_filename=host.identity, look_for_keys=False, allow_agent=False)
        config = Config(overrides={"load_ssh_configs": True})
        cxn = Connection(host=host.hostname, user=host.user, port=host.port, config=config,
                         connect_timeout=self.ssh.connect_timeout, connect_kwargs=connect_kwargs)
        known_hosts = Path(host.known_hosts or "~/.ssh/known_hosts").expanduser()
        where = f"{host.alias} ({host.user + '@' if host.user else ''}{host.hostname}:{host.port})"
        # The host's key, and each ProxyJump hop's (Fabric would accept any hop's key), from known_hosts.
        host_keys.guard(cxn.client, known_hosts, host.hostname, host.port, self.trust_new_host_key, where)
        gateway = cxn.gateway
        while isinstance(gateway, Connection):
            host_keys.guard(gateway.client, known_hosts, gateway.host, int(gateway.port), self.trust_new_host_key,
                            f"{where}: its ProxyJump hop {gateway.host}:{gateway.port}")
            gateway = gateway.gateway
        try:
            _open(cxn, self.ssh.connect_timeout)
        except host_keys.HostKeyRefused as exc:
            raise ConnectError(str(exc)) from None
        except paramiko.BadHostKeyException:
            raise ConnectError(
                f"{where}: the host key has CHANGED since it was recorded in {known_hosts}. "
                "This may be a man-in-the-middle attack, or the host was rebuilt. "
                "Check it, then remove the old key (ssh-keygen -R) if the change is expected.") from None
        except paramiko.SSHException as exc:
            if isinstance(exc, paramiko.AuthenticationException):
                raise ConnectError(f"{where}: authentication failed ({exc})") from None
            raise ConnectError(f"{where}: SSH error: {exc}") from None
        except (socket.timeout, TimeoutError):
            raise ConnectError(f"{where}: connection timed out after {self.ssh.connect_timeout:g}s") from None
        except OSError as exc:
            raise ConnectError(f"{where}: {exc.strerror or exc}") from None
        self._cxn = cxn

    def close(self) -> None:
        """Close the connection (safe to call twice)."""
        if self._cxn is not None:
            self._cxn.close()
            self._cxn = None

    def __enter__(self) -> "HostConnection":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_script(self, script: str, stdin: bytes | None = None, timeout: float | None = None,
                   on_line: Callable[[str], None] | None = None) -> RemoteResult:
        """Run a shell script as one remote command (one round trip). The script travels on standard input,
        ahead of ``stdin``: never on a command line (where every user of the host sees it in ``ps``, and the
        kernel caps its size); see `script_runner`."""
        body = script.encode()
        return self.run(script_runner(len(body)), stdin=body + (stdin or b""), timeout=timeout, on_line=on_line)

    def run(self, command: str, stdin: bytes | None = None, timeout: float | None = None,
            on_line: Callable[[str], None] | None = None) -> RemoteResult:
        """Run ``command``; feed it ``stdin`` (or nothing) and close its input.

        ``on_line`` receives each complete line of stdout as it arrives (for
        output a person watches, like ``logs --follow``). Raises `CommandTimeout`
        past ``timeout`` seconds (default: the stage's ``ssh.command_timeout``)
        and `ConnectError` if the connection drops.
        """
        if self._cxn is None:
            raise ConnectError(f"{self.host.alias}: not connected")
        transport = self._cxn.client.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectError(f"{self.host.alias}: the SSH connection was lost")
        if self._interrupt.is_set():  # interrupted between commands: start nothing more
            self._interrupt.clear()
            raise KeyboardInterrupt(f"{self.host.alias}: interrupted")
        limit = timeout if timeout is not None else self.ssh.command_timeout
        deadline = time.monotonic() + limit
        self.round_trips += 1
        try:
            channel = transport.open_session(timeout=self.ssh.connect_timeout)
            channel.exec_command(command)
            out, err = bytearray(), bytearray()
            if stdin:
                self._send(channel, stdin, deadline, limit, out, err)
            channel.shutdown_write()
            shown = 0  # how much of ``out`` went to on_line / on_output
            shown_err = 0  # how much of ``err`` went to on_output
            while True:
                if channel.recv_ready():
                    out += channel.recv(65536)
                    if on_line or self.on_output:
                        end = out.rfind(b"\n") + 1
                        for line in out[shown:end].decode(errors="replace").splitlines():
                            try:
                                if self.on_output:
                                    self.on_output(line)
                                if on_line:
                                    on_line(line)
                            except Exception as exc:
                                raise _OutputFailed(exc) from exc
                        shown = max(shown, end)
                    continue
                if channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                    if self.on_output:
                        shown_err = _pass_lines(err, shown_err, self.on_output)
                    continue
                if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
                if time.monotonic() > deadline:
                    channel.close()
                    raise CommandTimeout(f"{self.host.alias}: remote command timed out after {limit:g}s")
                if not transport.is_active():
                    raise ConnectError(f"{self.host.alias}: the SSH connection was lost")
                if self._interrupt.is_set():
                    self._interrupt.clear()
                    raise KeyboardInterrupt(f"{self.host.alias}: interrupted")
                if channel.eof_received:
                    # The output has ended and the exit status is still to come (sshd sends the EOF first): wait
                    # for the status. The channel's file stays readable after its EOF: a select would not wait.
                    channel.status_event.wait(0.2)
                else:
                    select.select([channel], [], [], 0.2)
            code = channel.recv_exit_status()
            channel.close()
            if self.on_output:  # what is left: a last line without a newline
                for data, start in ((out, shown), (err, shown_err)):
                    if len(data) > start:
                        _pass_lines(data[start:] + b"\n", 0, self.on_output)
            if code == -1:  # the channel closed without an exit status: the connection dropped
                raise ConnectError(f"{self.host.alias}: the SSH connection dropped while a command ran")
        except KeyboardInterrupt:
            self._stop_remote(out.decode(errors="replace"))
            raise
        except _OutputFailed as failed:  # stop what runs on the host, then report the local error
            channel.close()
            self._stop_remote(out.decode(errors="replace"))
            raise failed.error from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(f"{self.host.alias}: the SSH connection failed: {str(exc) or type(exc).__name__}") from None
        return RemoteResult(code, out.decode(errors="replace"), err.decode(errors="replace"))


    def _send(self, channel: paramiko.Channel, data: bytes, deadline: float, limit: float,
              out: bytearray, err: bytearray) -> None:
        """Send ``data`` as the command's input within the command's deadline: a host that stops reading (a
        stalled disk, a script that never reads) ends the command at its timeout, as a slow one does. What the
        command prints meanwhile is kept, so that it never blocks on a full output."""
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                channel.close()
                raise CommandTimeout(f"{self.host.alias}: remote command timed out after {limit:g}s "
                                     f"while sending its input ({len(data) - len(view)} of {len(data)} bytes sent)")
            if self._interrupt.is_set():
                self._interrupt.clear()
                raise KeyboardInterrupt(f"{self.host.alias}: interrupted")
            while channel.recv_ready():
                out += channel.recv(65536)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
            channel.settimeout(min(remaining, 0.5))
            try:
                sent = channel.send(view[:32768])
            except socket.timeout:
                continue
            finally:
                channel.settimeout(None)
            if sent <= 0:
                return
            view = view[sent:]

    def _stop_remote(self, partial_stdout: str) -> None:
        """After Ctrl-C or SIGTERM, stop the interrupted script's session on the host.

        Without a pty, closing the channel does not stop what the script started.
        Services the scripts start (gunicorn, nginx) run in sessions of their own.
        """
        for line in partial_stdout.splitlines():
            sid = session_id(line)
            if sid is not None:
                try:
                    self.run(stop_session(sid), timeout=10)
                except (ConnectError, CommandTimeout):
                    pass
                return


def _open(cxn: Connection, timeout: float) -> None:
    """Connect and log in; what failed is closed (the socket too)."""
    # our own socket where there is no hop, so that the key exchange and the login send at once too
    sock = tcp_socket(cxn.host, int(cxn.port), timeout) if cxn.gateway is None else None
    if sock is not None:
        cxn.connect_kwargs["sock"] = sock
    try:
        cxn.open()
    except BaseException:
        with contextlib.suppress(Exception):  # the reason to show is the connect's, not the close's
            cxn.close()
            if sock is not None:
                sock.close()
        raise
    if sock is None:  # through a hop: its socket, opened by Fabric
        send_at_once(cxn)


# Asked for first (the server picks the first of ours it has; OpenSSH has had them since 6.2): an AES-GCM
# packet's tag is checked inside `cryptography`, where paramiko's default (AES-CTR with an HMAC) computes each
# packet's MAC and compares it byte by byte in Python. The rest of paramiko's list follows, in its order.
AEAD_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def aead_first(sock: object, **kwargs: object) -> paramiko.Transport:
    """A paramiko `Transport` (paramiko's `SSHClient` hands it what it would give its own) whose cipher list
    starts with `AEAD_CIPHERS`."""
    transport = paramiko.Transport(sock, **kwargs)  # type: ignore[arg-type]
    options = transport.get_security_options()
    known = options.ciphers
    options.ciphers = tuple(c for c in AEAD_CIPHERS if c in known) + tuple(c for c in known if c not in AEAD_CIPHERS)
    return transport


def tcp_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to ``host``:``port`` (each of its addresses in turn, as paramiko tries them) that sends
    small packets at once (`_no_delay`)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    _no_delay(sock)
    return sock


def send_at_once(cxn: Connection) -> None:
    """`_no_delay` on the TCP socket of a connection made through hops: its first ProxyJump hop's (the others
    are SSH channels inside it)."""
    hop: object = cxn
    while isinstance(hop, Connection):
        sock = getattr(hop.client.get_transport(), "sock", None)
        if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
            _no_delay(sock)
        hop = hop.gateway


def _no_delay(sock: socket.socket) -> None:
    """TCP_NODELAY, as OpenSSH's client sets it: a command sends a few small SSH messages in a row (open, exec,
    input, EOF), and with Nagle's algorithm each waited for the acknowledgement of the one before, which the
    server delays by up to 40 ms (measured: 44 ms per command, against 2 ms). paramiko leaves it to its caller."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def script_runner(size: int) -> str:
    """The command that runs a script sent first on its standard input (``size`` bytes): into a file of its
    own (mktemp: mode 0600), which bash runs with the rest of standard input as its own, then removed."""
    return ("f=$(mktemp) || { echo 'cannot make a temporary file for the script (mktemp): is /tmp full?' >&2; exit 1; }; "
            "trap 'rm -f \"$f\"' EXIT; trap 'exit 143' HUP INT TERM; "
            f"head -c {int(size)} > \"$f\" && bash \"$f\"")


def _pass_lines(data: bytearray | bytes, start: int, receive: Callable[[str], None]) -> int:
    """Give ``receive`` each complete line of ``data`` after ``start``; return where the next starts."""
    end = data.rfind(b"\n") + 1
    if end > start:
        for line in bytes(data[start:end]).decode(errors="replace").splitlines():
            try:
                receive(line)
            except Exception as exc:
                raise _OutputFailed(exc) from exc
    return max(start, end)
