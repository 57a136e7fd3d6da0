"""shared/.env written from stdin: a write that fails (a full disk, here a file-size limit) leaves no
temporary file with partial secrets, and the previous .env as it was (issue 15, item 9). Run with bash."""
from __future__ import annotations

import subprocess
from pathlib import Path

from wsgideploy.commands.secrets import write_env_file
from wsgideploy.layout import Layout


def write(root: Path, content: bytes, limit_kib: int | None = None) -> subprocess.CompletedProcess[bytes]:
    text = write_env_file(Layout(str(root)))
    limit = f"ulimit -f {limit_kib}; " if limit_kib is not None else ""
    return subprocess.run(["bash", "-c", limit + text], input=content, capture_output=True, timeout=30)


def test_a_write_replaces_the_env_file_with_mode_0600(tmp_path: Path) -> None:
    assert write(tmp_path, b"SECRET_KEY=one\n").returncode == 0
    env = tmp_path / "shared" / ".env"
    assert env.read_bytes() == b"SECRET_KEY=one\n" and oct(env.stat().st_mode & 0o777) == "0o600"


def test_a_write_that_fails_leaves_no_temporary_file_and_the_previous_env(tmp_path: Path) -> None:
    assert write(tmp_path, b"SECRET_KEY=one\n").returncode == 0
    failed = write(tmp_path, b"SECRET_KEY=" + b"x" * 100_000 + b"\n", limit_kib=8)
    assert failed.returncode == 1
    assert b"could not write" in failed.stderr and b"the previous one is unchanged" in failed.stderr
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == [".env"], "no .env.tmp.<pid> is left"
    assert (tmp_path / "shared" / ".env").read_bytes() == b"SECRET_KEY=one\n"
