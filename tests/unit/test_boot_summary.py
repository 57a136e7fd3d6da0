"""The boot record that tests/run.sh prints after pytest (`tests.servers.boots`)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers import boots


def test_boots_are_recorded_only_when_the_log_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WSGIDEPLOY_BOOT_LOG", raising=False)
    boots.record("web1", "nginx", 1.0, "running", 1)  # nowhere to write: nothing happens
    log = tmp_path / "boots.jsonl"
    monkeypatch.setenv("WSGIDEPLOY_BOOT_LOG", str(log))
    boots.record("web1", "nginx", 1.94, "running", 1)
    boots.record("web2", None, 2.31, "degraded", 1)
    boots.record("web1", None, 2.5, "running", 2)
    assert boots.summary(log).splitlines() == [
        "booted test servers (systemd-nspawn, Debian 12): 2 servers, 1 reboots",
        "  systemd said: degraded 1, running 2",
        "  front servers: nginx 1, none 1",
        "  boot to sshd and systemd done: median 2.1 s, min 1.9 s, max 2.3 s",
    ]


def test_an_empty_or_missing_log_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("")
    assert boots.summary(tmp_path / "empty") == "booted test servers: none booted"
    assert boots.summary(tmp_path / "missing").startswith("booted test servers: no record (")
