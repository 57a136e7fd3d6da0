"""The SSH connection asks for AES-GCM first (tasks/transport.py `aead_first`) and keeps paramiko's other
ciphers, in paramiko's order, as the fallback; what the caller disabled stays disabled."""
from __future__ import annotations

import socket

import paramiko

from wsgideploy.transport import AEAD_CIPHERS, aead_first


def test_aes_gcm_comes_first_and_every_other_cipher_follows_in_paramikos_order() -> None:
    ours, theirs = socket.socketpair()
    try:
        transport = aead_first(ours)
        ciphers = transport.get_security_options().ciphers
        default = paramiko.Transport(theirs).get_security_options().ciphers
        assert ciphers[:2] == AEAD_CIPHERS
        assert sorted(ciphers) == sorted(default)
        assert [c for c in ciphers if c not in AEAD_CIPHERS] == [c for c in default if c not in AEAD_CIPHERS]
    finally:
        ours.close()
        theirs.close()


def test_a_disabled_cipher_stays_disabled() -> None:
    ours, _theirs = socket.socketpair()
    try:
        transport = aead_first(ours, disabled_algorithms={"ciphers": ["aes128-gcm@openssh.com"]})
        assert transport.preferred_ciphers[0] == "aes256-gcm@openssh.com"
        assert "aes128-gcm@openssh.com" not in transport.preferred_ciphers
    finally:
        ours.close()
        _theirs.close()
