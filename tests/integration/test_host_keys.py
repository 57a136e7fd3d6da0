"""Host key checking through the real ``fab`` CLI, against a booted Debian 12 server (tests/servers:
systemd, Debian's stock nginx, real OpenSSH with the server's own ed25519 host key), booted once for the
module. Each test deploys an app of its own (``hostkeys<N>``, ``/srv/hostkeys<N>``, port 8400 + N) and
stops what it started.

Each test builds its own ``known_hosts`` in a temporary file from the server's pinned one
(``server.known_hosts``, which pins the sshd's key for the server's address, port 22) and points the
inventory's ``known_hosts`` at it:

- a file without the host's key: refused (exit 4, "unknown", the flag to use), nothing touched;
- the same file with ``--trust-new-host-key``: deployed, and the key is recorded in that file,
  so the next deploy needs no flag;
- a file with a DIFFERENT key for the host: refused (exit 4, "CHANGED"), with or without the flag.
"""
from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from .booted_fleet import stop_apps
from .helpers import copy_app
from .stock import get

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT / "examples" / "hello"
CONNECT_FAILED = 4  # docs/exit-codes.md

# A key recorded for some other host, so the files below are realistic (not empty).
OTHER_HOST = "[127.0.0.1]:1"
SSH_KEYGEN_TYPES = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa", "ecdsa-sha2-nistp256": "ecdsa"}
_APPS = itertools.count(1)  # each test deploys an app of its own: hostkeys<N> on port 8400 + N


def fab(inventories: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``fab`` CLI against the test inventories (the caller checks the exit code)."""
    env = {**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventories)}
    env.pop("FABRIC_DEPLOY_STAGE", None)
    return subprocess.run(["fab", *args], check=False, cwd=PROJECT, env=env, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def shown(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def host_name(host: DeployTarget) -> str:
    """How known_hosts names the server (its address: ssh on port 22)."""
    return host.address


def real_key(host: DeployTarget) -> tuple[str, str]:
    """(key type, base64) of the server's host key, from the known_hosts the harness pinned it in."""
    known_hosts = host.server.known_hosts
    keys = paramiko.HostKeys(str(known_hosts)).lookup(host_name(host))
    assert keys is not None and len(keys) == 1, f"{known_hosts} should pin exactly one key"
    (keytype, key), = keys.items()
    return keytype, key.get_base64()


def recorded(known_hosts: Path, name: str) -> dict[str, str]:
    """{key type: base64} recorded for ``name`` in ``known_hosts`` (hashed entries included)."""
    keys = paramiko.HostKeys(str(known_hosts)).lookup(name)
    return {} if keys is None else {keytype: key.get_base64() for keytype, key in keys.items()}


def new_key(directory: Path, keytype: str, name: str) -> str:
    """A fresh public key of ``keytype`` (``ssh-ed25519``...), from ssh-keygen: its base64."""
    path = directory / f"{name}_key"
    subprocess.run(["ssh-keygen", "-q", "-t", SSH_KEYGEN_TYPES[keytype], "-N", "", "-C", name,
                    "-f", str(path)], check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    written_type, key = path.with_name(path.name + ".pub").read_text().split()[:2]
    assert written_type == keytype
    return key


Deploy = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def site(nginx_target: DeployTarget, write_inventory, tmp_path) -> Iterator[tuple]:  # noqa: F811
    """The booted server with an app root of this test's own (``/srv/hostkeys<N>``, made empty, owned by
    ``deploy``: a refused deploy must leave it empty), the example app (1.0.0) and
    ``use(known_hosts) -> deploy(*flags)``: points the inventory at that known_hosts file and returns a
    function running ``fab -H <alias> deploy``. The app server is stopped after, with the pinned key."""
    n = next(_APPS)
    host = nginx_target.with_app(f"hostkeys{n}")
    port = 8400 + n
    assert host.listdir(host.app_root) == [], f"{host.app_root} is left from an earlier run"
    source = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    keytype, _ = real_key(host)
    other = new_key(tmp_path, keytype, "other-host")

    def write(known_hosts: Path) -> Path:
        table = {**host.host_table(), "known_hosts": str(known_hosts)}
        return write_inventory("test", app=host.app_table(source, listen=port), hosts={host.alias: table},
                               nginx=host.front_table(), vars={"workers": 1})

    def use(known_hosts: Path) -> Deploy:
        inventories = write(known_hosts)
        return lambda *flags: fab(inventories, "-H", host.alias, "deploy", *flags)

    yield host, port, source, f"{OTHER_HOST} {keytype} {other}\n", use
    if host.listdir(host.app_root):
        stop_apps(write(host.server.known_hosts), "-H", host.alias)


def test_a_host_whose_key_is_not_in_known_hosts_is_refused_before_anything_is_touched(site, tmp_path):
    host, _, _, other_line, use = site
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(other_line)
    assert recorded(known_hosts, host_name(host)) == {}

    result = use(known_hosts)()

    assert result.returncode == CONNECT_FAILED, shown(result)
    output = result.stdout + result.stderr
    assert "host key is unknown" in output, shown(result)
    assert "--trust-new-host-key" in output, shown(result)
    assert host.alias in output, shown(result)
    assert host.listdir(host.app_root) == [], f"{host.app_root} was written although the connection was refused"
    assert known_hosts.read_text() == other_line, "a refused host key must not be recorded"


def test_trust_new_host_key_deploys_and_records_the_key_so_the_next_deploy_needs_no_flag(site, tmp_path):
    host, port, source, other_line, use = site
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(other_line)
    deploy = use(known_hosts)

    result = deploy("--trust-new-host-key")

    assert result.returncode == 0, shown(result)
    status, body = get(host.address, port, "/")
    assert status == 200 and "version 1.0.0" in body, body
    keytype, key = real_key(host)
    assert recorded(known_hosts, host_name(host)) == {keytype: key}, (
        f"the host's key was not recorded in {known_hosts}:\n{known_hosts.read_text()}")
    assert recorded(known_hosts, OTHER_HOST) == {keytype: other_line.split()[2]}, (
        "recording the new key dropped the other host's entry")

    app_py = source / "app.py"
    app_py.write_text(app_py.read_text().replace('VERSION = "1.0.0"', 'VERSION = "1.0.1"'))
    again = deploy()

    assert again.returncode == 0, shown(again)
    status, body = get(host.address, port, "/")
    assert status == 200 and "version 1.0.1" in body, body


@pytest.mark.parametrize("flags", [(), ("--trust-new-host-key",)],
                         ids=["without_the_flag", "even_with_trust_new_host_key"])
def test_a_changed_host_key_is_refused_as_changed(site, tmp_path, flags):
    host, _, _, _, use = site
    keytype, key = real_key(host)
    forged = new_key(tmp_path, keytype, "forged")
    assert forged != key
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{host_name(host)} {keytype} {forged}\n")
    before = known_hosts.read_text()

    result = use(known_hosts)(*flags)

    assert result.returncode == CONNECT_FAILED, shown(result)
    output = result.stdout + result.stderr
    assert "CHANGED" in output, shown(result)
    assert "unknown" not in output, shown(result)
    assert host.listdir(host.app_root) == [], f"{host.app_root} was written although the key had changed"
    assert known_hosts.read_text() == before, "the recorded key must not be replaced"


KEPT = """# kept by hand: this comment, the FIDO key and the markers below stay byte for byte
[198.51.100.9]:22 sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIFakeFidoKeyForTheTestOnlyxxxxxxxxxxxxxxAAAABHNzaDo= yubikey
@cert-authority *.corp.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C7okWi0dh2l9GKJl
"""


def test_trusting_a_new_key_appends_one_line_and_keeps_every_other_byte(site, tmp_path):
    """Issue 15, item 3: paramiko's saving rewrote the whole file (comments, FIDO keys and markers lost)."""
    host, port, _, other_line, use = site
    known_hosts = tmp_path / "known_hosts"
    before = KEPT + other_line
    known_hosts.write_text(before)
    result = use(known_hosts)("--trust-new-host-key")
    assert result.returncode == 0, shown(result)
    keytype, key = real_key(host)
    assert known_hosts.read_text() == before + f"{host_name(host)} {keytype} {key}\n"
    assert get(host.address, port, "/")[0] == 200


@pytest.mark.parametrize("marker", ["@revoked", "@cert-authority"])
def test_a_revoked_key_or_a_certificate_authority_is_refused_with_a_clear_error(site, tmp_path, marker):
    """A @revoked host key is refused even with --trust-new-host-key; a host that known_hosts vouches for by
    a certificate authority only is refused naming why (paramiko cannot check host certificates). Both exit 4,
    nothing touched, the file unchanged (before: a traceback)."""
    host, _, _, other_line, use = site
    keytype, key = real_key(host)
    names = "*" if marker == "@revoked" else host_name(host)
    known_hosts = tmp_path / "known_hosts"
    before = other_line + f"{marker} {names} {keytype} {key}\n" + (
        f"{host_name(host)} {keytype} {key}\n" if marker == "@revoked" else "")
    known_hosts.write_text(before)
    result = use(known_hosts)(*(("--trust-new-host-key",) if marker == "@revoked" else ()))
    assert result.returncode == CONNECT_FAILED, shown(result)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    said = "marked @revoked" if marker == "@revoked" else "cannot check host certificates"
    assert said in output, shown(result)
    assert host.listdir(host.app_root) == [] and known_hosts.read_text() == before


def test_a_proxyjump_hops_key_is_checked_like_the_hosts(site, tmp_path):
    """~/.ssh/config sends the connection through a ProxyJump hop (the same server, by another name). Fabric
    accepted any hop's key; now the hop is checked first and refused while its key is unknown, naming the hop,
    and --trust-new-host-key records it."""
    host, port, _, other_line, use = site
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        f"Host jumpbox\n  HostName {host.address}\n  User {host.user}\n  IdentityFile {host.identity}\n\n"
        f"Host {host.address}\n  ProxyJump jumpbox\n")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(other_line)
    use(known_hosts)  # writes the stage into <tmp_path>/inventories (the write_inventory fixture)

    def run(*flags: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HOME": str(home), "WSGIDEPLOY_INVENTORIES": str(tmp_path / "inventories")}
        env.pop("FABRIC_DEPLOY_STAGE", None)
        return subprocess.run(["fab", "-H", host.alias, "deploy", *flags], check=False, cwd=PROJECT, env=env,
                              capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    refused = run()
    assert refused.returncode == CONNECT_FAILED, shown(refused)
    assert "its ProxyJump hop" in refused.stdout + refused.stderr, shown(refused)
    assert known_hosts.read_text() == other_line and host.listdir(host.app_root) == []
    done = run("--trust-new-host-key")
    assert done.returncode == 0, shown(done)
    keytype, key = real_key(host)
    assert known_hosts.read_text() == other_line + f"{host_name(host)} {keytype} {key}\n"
    assert get(host.address, port, "/")[0] == 200
