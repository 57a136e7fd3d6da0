"""Host keys, as OpenSSH's ``known_hosts`` records them, checked for every host a connection goes through
(the host, and each ``ProxyJump`` hop of ``~/.ssh/config``).

wsgideploy reads ``known_hosts`` itself and never rewrites it: paramiko's own saving rewrote the whole file,
dropping comments, markers and key types it does not know (FIDO ``sk-`` keys), and hosts connecting in
parallel lost each other's new lines. A new key (``--trust-new-host-key``) is appended as one line, under
an exclusive lock on the file, after reading it again under that lock. ``@revoked`` keys are refused;
``@cert-authority`` lines are kept and named, since paramiko cannot check host certificates: such a host
needs its own key recorded (docs/security.md).
"""
from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from pathlib import Path

import paramiko


@dataclass(frozen=True)
class Line:
    """One key line of ``known_hosts``: its marker (``""``, ``@revoked``, ``@cert-authority``), host patterns,
    key type and base64 key."""

    marker: str
    patterns: str
    keytype: str
    key: str


def key_name(hostname: str, port: int) -> str:
    """How ``known_hosts`` names a host: ``host`` on port 22, else ``[host]:port``."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


def parse(text: str) -> list[Line]:
    """The key lines of a ``known_hosts`` text (comments, blank and malformed lines are skipped, not lost:
    the file is never rewritten)."""
    lines = []
    for raw in text.splitlines():
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = fields.pop(0) if fields[0].startswith("@") else ""
        if len(fields) >= 3:
            lines.append(Line(marker, fields[0], fields[1], fields[2]))
    return lines


def _hashed_match(pattern: str, name: str) -> bool:
    """``|1|salt|hash``: whether the HMAC-SHA1 of ``name`` under ``salt`` is ``hash``."""
    try:
        _, kind, salt, digest = pattern.split("|")
        if kind != "1":
            return False
        mine = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
        return hmac.compare_digest(mine, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def _glob(pattern: str, name: str) -> bool:
    """OpenSSH's patterns: ``*`` and ``?`` are wildcards, everything else (``[`` too) is itself."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, name) is not None


def matches(patterns: str, name: str) -> bool:
    """Whether a line's host field (comma-separated patterns, hashed ones, ``*``/``?``, ``!`` negations)
    names ``name``."""
    found = False
    for pattern in patterns.split(","):
        if pattern.startswith("|"):
            found = found or _hashed_match(pattern, name)
        elif pattern.startswith("!"):
            if _glob(pattern[1:], name):
                return False
        elif _glob(pattern, name):
            found = True
    return found


@dataclass(frozen=True)
class HostKeys:
    """What ``known_hosts`` says of one host: the keys it trusts, those it revokes (anywhere: a revoked key
    is refused for every host), whether a certificate authority is named for it."""

    trusted: tuple[tuple[str, str], ...]
    revoked: frozenset[tuple[str, str]]
    cert_authority: bool


def for_host(lines: list[Line], name: str) -> HostKeys:
    revoked = frozenset((line.keytype, line.key) for line in lines if line.marker == "@revoked")
    trusted = tuple((line.keytype, line.key) for line in lines
                    if not line.marker and matches(line.patterns, name) and (line.keytype, line.key) not in revoked)
    authority = any(line.marker == "@cert-authority" and matches(line.patterns, name) for line in lines)
    return HostKeys(trusted, revoked, authority)


def append(path: Path, name: str, keytype: str, key: str) -> None:
    """Add ``name keytype key`` to ``path`` (made 0600 when new) under an exclusive lock, unless the file,
    read again under the lock, already has it; every other byte of the file stays as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        text = handle.read()
        if any(not line.marker and line.keytype == keytype and line.key == key and matches(line.patterns, name)
               for line in parse(text.decode(errors="replace"))):
            return
        handle.write((b"" if not text or text.endswith(b"\n") else b"\n") + f"{name} {keytype} {key}\n".encode())
        handle.flush()
        os.fsync(handle.fileno())


class HostKeyRefused(paramiko.SSHException):
    """A host key that ``known_hosts`` does not allow; its message says why and what to do."""


class Policy(paramiko.MissingHostKeyPolicy):
    """For a key ``known_hosts`` does not trust for the host: refuse it (naming the fix), or, with
    ``trust_new``, record it (`append`); a revoked key is refused either way."""

    def __init__(self, path: Path, hostname: str, port: int, keys: HostKeys, trust_new: bool, label: str) -> None:
        self.path, self.hostname, self.port, self.keys = path, hostname, port, keys
        self.name, self.trust_new, self.label = key_name(hostname, port), trust_new, label

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        offered = (key.get_name(), key.get_base64())
        if offered in self.keys.revoked:
            raise HostKeyRefused(f"{self.label}: its host key is marked @revoked in {self.path}: refused")
        if self.keys.cert_authority and not self.trust_new:
            raise HostKeyRefused(
                f"{self.label}: {self.path} trusts a certificate authority (@cert-authority) for {self.name}, and "
                "wsgideploy cannot check host certificates: record the host's own key (ssh-keyscan), after "
                "checking its fingerprint, or pass --trust-new-host-key once")
        if not self.trust_new:
            raise HostKeyRefused(
                f"{self.label}: the host key is unknown (not in {self.path}). Add it with ssh-keyscan -p {self.port} "
                f"{self.hostname} >> {self.path}, after checking its fingerprint, or pass --trust-new-host-key once.")
        append(self.path, self.name, *offered)
        client.get_host_keys().add(self.name, key.get_name(), key)


def guard(client: paramiko.SSHClient, path: Path, hostname: str, port: int, trust_new: bool, label: str) -> None:
    """Give ``client`` the keys ``path`` trusts for ``hostname:port`` and a `Policy` for any other."""
    name = key_name(hostname, port)
    keys = for_host(parse(path.read_text(errors="replace")) if path.exists() else [], name)
    for keytype, key in keys.trusted:
        try:
            client.get_host_keys().add(name, keytype, paramiko.PKey.from_type_string(keytype, base64.b64decode(key)))
        except (paramiko.SSHException, ValueError, TypeError):
            continue  # a key type paramiko does not read (sk-...): kept in the file, not offered
    client.set_missing_host_key_policy(Policy(path, hostname, port, keys, trust_new, label))
