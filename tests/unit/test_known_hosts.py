"""known_hosts read by wsgideploy itself, and only ever appended to (issue 15, item 3): comments, markers and
key types paramiko does not read stay byte for byte; hosts recording keys at once keep every line; a
@revoked key and a @cert-authority line are honoured with a clear refusal, never a traceback."""
from __future__ import annotations

import base64
import hashlib
import hmac
import multiprocessing
from pathlib import Path

import paramiko
import pytest

from wsgideploy.host_keys import HostKeyRefused, Policy, append, for_host, key_name, matches, parse

ED = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C7okWi0dh2l9GKJl"
SK = "AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIFakeFidoKeyForTheTestOnlyxxxxxxxxxxxxxxAAAABHNzaDo="
FILE = f"""# my hosts, kept by hand
web1.example.com ssh-ed25519 {ED} ops@laptop
[192.0.2.5]:2222 sk-ssh-ed25519@openssh.com {SK}
@cert-authority *.corp.example ssh-ed25519 {ED}

@revoked * ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCrevokedxx
"""


def hashed(name: str, salt: bytes = b"0123456789abcdefghij") -> str:
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def test_names_and_patterns() -> None:
    assert key_name("web1", 22) == "web1" and key_name("192.0.2.5", 2222) == "[192.0.2.5]:2222"
    assert matches("a,web1,b", "web1") and matches("*.corp.example", "db.corp.example")
    assert not matches("*.corp.example,!db.corp.example", "db.corp.example")
    assert matches(hashed("web1"), "web1") and not matches(hashed("web1"), "web2")


def test_markers_are_read_not_dropped() -> None:
    lines = parse(FILE)
    assert [(line.marker, line.keytype) for line in lines] == [
        ("", "ssh-ed25519"), ("", "sk-ssh-ed25519@openssh.com"), ("@cert-authority", "ssh-ed25519"),
        ("@revoked", "ssh-rsa")]
    assert for_host(lines, "web1.example.com").trusted == (("ssh-ed25519", ED),)
    assert for_host(lines, "db.corp.example").cert_authority and not for_host(lines, "web1.example.com").cert_authority
    assert ("ssh-rsa", "AAAAB3NzaC1yc2EAAAADAQABAAABAQCrevokedxx") in for_host(lines, "anything").revoked


def test_a_revoked_key_is_not_trusted_even_when_listed() -> None:
    lines = parse(f"web1 ssh-ed25519 {ED}\n@revoked * ssh-ed25519 {ED}\n")
    keys = for_host(lines, "web1")
    assert keys.trusted == () and ("ssh-ed25519", ED) in keys.revoked


def test_append_keeps_every_other_byte_and_adds_one_line(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(FILE.rstrip("\n"))  # no newline at the end: one is added before the new line
    append(path, "[192.0.2.9]:22", "ssh-ed25519", ED)
    assert path.read_text() == FILE.rstrip("\n") + f"\n[192.0.2.9]:22 ssh-ed25519 {ED}\n"
    append(path, "[192.0.2.9]:22", "ssh-ed25519", ED)  # already there: unchanged
    assert path.read_text().count("[192.0.2.9]:22") == 1


def _append_one(args: tuple[str, int]) -> None:
    path, n = args
    append(Path(path), f"[192.0.2.{n}]:22", "ssh-ed25519", ED)


def test_hosts_appending_at_once_keep_each_others_lines(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(FILE)
    with multiprocessing.get_context("fork").Pool(8) as pool:
        pool.map(_append_one, [(str(path), n) for n in range(1, 33)])
    text = path.read_text()
    assert text.startswith(FILE) and all(f"[192.0.2.{n}]:22 ssh-ed25519" in text for n in range(1, 33))
    assert len(text.splitlines()) == len(FILE.splitlines()) + 32


def test_the_policy_refuses_a_revoked_or_ca_only_key_and_records_a_new_one(tmp_path: Path) -> None:
    key = paramiko.PKey.from_type_string("ssh-ed25519", base64.b64decode(ED))
    client = paramiko.SSHClient()
    path = tmp_path / "known_hosts"
    path.write_text(f"@revoked * ssh-ed25519 {ED}\n")
    with pytest.raises(HostKeyRefused, match="@revoked"):
        Policy(path, "web1", 22, for_host(parse(path.read_text()), "web1"), True, "web1").missing_host_key(
            client, "web1", key)
    path.write_text(f"@cert-authority web1 ssh-ed25519 {ED}\n")
    with pytest.raises(HostKeyRefused, match="cannot check host certificates"):
        Policy(path, "web1", 22, for_host(parse(path.read_text()), "web1"), False, "web1").missing_host_key(
            client, "web1", key)
    path.write_text("# mine\n")
    with pytest.raises(HostKeyRefused, match="the host key is unknown"):
        Policy(path, "web1", 2222, for_host([], "[web1]:2222"), False, "web1").missing_host_key(client, "web1", key)
    Policy(path, "web1", 2222, for_host([], "[web1]:2222"), True, "web1").missing_host_key(client, "web1", key)
    assert path.read_text() == f"# mine\n[web1]:2222 ssh-ed25519 {ED}\n"
