"""`wsgideploy.transport.HostConnection` against a booted Debian 12 server (real OpenSSH): what one SSH
connection does with a command's input, its output and its end. Each test opens the connection a deploy
would open, from an inventory for that server."""
from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paramiko
import pytest

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import booted, server_lab  # noqa: F401  (fixtures)
from tests.servers.lab import ServerLab
from wsgideploy.inventory import load_stage
from wsgideploy.transport import CommandTimeout, HostConnection

from .booted_deploy import inventory
from .fabcli import APPS
from .helpers import copy_app


@pytest.fixture(scope="module")
def web(server_lab: ServerLab) -> DeployTarget:  # noqa: F811
    return booted(server_lab, ["transport"], front="nginx")[0]


@contextmanager
def connected(web: DeployTarget, write_inventory: Callable[..., Path], tmp_path: Path,
              **extra: Any) -> Iterator[HostConnection]:
    """An open connection to ``web`` as its inventory describes it (``extra``: more inventory tables)."""
    inventories = inventory(write_inventory, web, copy_app(APPS / "src_tasks", tmp_path / "app"), stage="conn",
                            extra=extra or None)
    stage = load_stage(inventories / "conn.toml")
    connection = HostConnection(stage.hosts[0], stage.ssh)
    connection.open()
    try:
        yield connection
    finally:
        connection.close()


def test_a_host_that_stops_reading_the_upload_times_out_at_the_command_timeout(web, write_inventory, tmp_path):
    """Issue 15, item 4: the timeout holds while the input is sent. The script never reads its input (as a
    stalled disk would not), 64 MB are sent with command_timeout = 3: the command ends at about 3 s
    (before: it blocked until the host closed the channel, 20 s here)."""
    with connected(web, write_inventory, tmp_path, ssh={"command_timeout": 3}) as connection:
        started = time.monotonic()
        with pytest.raises(CommandTimeout, match=r"timed out after 3s while sending its input"):
            connection.run_script("sleep 20", stdin=b"x" * (64 << 20))
        took = time.monotonic() - started
    assert 2.5 < took < 8, f"{took:.1f} s"


def test_a_command_whose_output_ends_before_it_exits_is_waited_for_not_polled(web, write_inventory, tmp_path,
                                                                               monkeypatch):
    """Issue 16 (the controller's CPU per host): the remote command closes its output (sshd sends the channel's
    EOF) and exits a second later. The wait for its exit status wakes a few times (every 0.2 s at most); before,
    it polled the channel without a pause until the status came: thousands of times a second, a few ms of CPU
    per command and host in a deploy (sshd sends the EOF before the exit status)."""
    polls: list[bool] = []
    status_ready = paramiko.Channel.exit_status_ready
    monkeypatch.setattr(paramiko.Channel, "exit_status_ready",
                        lambda channel: polls.append(bool(channel.eof_received)) or status_ready(channel))
    with connected(web, write_inventory, tmp_path) as connection:
        result = connection.run("echo before; exec >&- 2>&-; sleep 1; exit 3")
    assert (result.exit_code, result.stdout) == (3, "before\n")
    assert any(polls), "the test's premise: the channel's EOF came before its exit status"
    assert len(polls) <= 15, f"{len(polls)} looks at the channel while waiting about 1 s for its exit status"


def test_the_connection_sends_small_packets_at_once_not_after_the_servers_delayed_ack(web, write_inventory, tmp_path):
    """Issue 16: each command sends a few small SSH messages in a row (the channel's open, exec, input, EOF);
    with Nagle's algorithm on, TCP held each one back until the server acknowledged the one before, which
    Linux delays by up to 40 ms: about 44 ms per command where the same command took 2 ms with TCP_NODELAY
    (measured on these servers). OpenSSH's client sets TCP_NODELAY; paramiko leaves it to its caller. The
    connection's socket must have it from the start (the key exchange and the login send such series too)."""
    with connected(web, write_inventory, tmp_path) as connection:
        sock = connection._cxn.client.get_transport().sock  # type: ignore[union-attr]
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert connection.run("echo ok").stdout == "ok\n"


def test_the_connection_uses_aes_gcm_where_the_server_has_it(web, write_inventory, tmp_path):
    """Issue 16 (the controller's CPU per host): paramiko's default cipher, AES-CTR with an HMAC, computes every
    packet's MAC and compares it byte by byte in Python; AES-GCM's tag is checked inside `cryptography`. Debian's
    OpenSSH has it, so the connection uses it; the rest of paramiko's list stays as the fallback."""
    with connected(web, write_inventory, tmp_path) as connection:
        transport = connection._cxn.client.get_transport()  # type: ignore[union-attr]
        assert (transport.local_cipher, transport.remote_cipher) == ("aes128-gcm@openssh.com",) * 2
        assert connection.run("echo ok").stdout == "ok\n"
