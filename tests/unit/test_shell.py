"""``shell.write_file`` round-trips any content: the snippet is run with a local bash."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from wsgideploy.commands.shell import script, write_file

CONTENTS = [
    pytest.param("", id="empty"),
    pytest.param("plain text\n", id="plain"),
    pytest.param("no trailing newline", id="no-trailing-newline"),
    pytest.param("single ' and double \" quotes\n", id="quotes"),
    pytest.param("$HOME ${PATH} $(id -u) $$ $1\n", id="dollars"),
    pytest.param("`touch pwned` and \\`escaped\\`\n", id="backticks"),
    pytest.param("line1\nline2\r\n\n\nline5\n\n", id="newlines"),
    pytest.param("%s %d %% \\n \\t \\\\\n", id="printf-escapes"),
    pytest.param("tabs\tand unicode: é ✓ 日本\n", id="unicode"),
    pytest.param("EOF\n'EOF'\nEOF\n", id="heredoc-markers"),
    # The script travels as one `bash -c` argument (wsgideploy.transport), and Linux caps a
    # single argument at 128 KiB, so the base64 of one file must stay below that.
    pytest.param("x" * 60_000 + "\n", id="large"),
]


def run_bash(text: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``text`` the way `wsgideploy.transport` does on a host: ``bash -c <script>``."""
    return subprocess.run(["bash", "-c", text], cwd=cwd, capture_output=True, text=True, timeout=20,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)})


@pytest.mark.parametrize("content", CONTENTS)
def test_write_file_round_trips_arbitrary_content(tmp_path: Path, content: str) -> None:
    target = tmp_path / "out" / "config.py"
    target.parent.mkdir()
    result = run_bash(script(write_file(str(target), content)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == content.encode()
    assert sorted(p.name for p in target.parent.iterdir()) == ["config.py"]  # no temp file left
    assert not (tmp_path / "pwned").exists()


def test_write_file_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "site.conf"
    target.write_text("old\n")
    result = run_bash(script(write_file(str(target), "new\n")), tmp_path)
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "new\n"


@pytest.mark.parametrize("mode", ["0644", "0600", "0755"])
def test_write_file_sets_the_mode(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "f"
    result = run_bash(script(write_file(str(target), "x", mode=mode)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == int(mode, 8)


def test_write_file_to_a_path_with_quotes_and_dollars(tmp_path: Path) -> None:
    target = tmp_path / "it's $HOME `x`.conf"
    result = run_bash(script(write_file(str(target), "ok\n")), tmp_path)
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "ok\n"


def test_write_file_fails_the_script_when_the_directory_is_missing(tmp_path: Path) -> None:
    result = run_bash(script(write_file(str(tmp_path / "missing" / "f"), "x"), "echo after"), tmp_path)
    assert result.returncode != 0
    assert "after" not in result.stdout


def test_write_file_temp_name_is_unique_per_shell_process(tmp_path: Path) -> None:
    target = tmp_path / "f"
    log = tmp_path / "mv.log"
    spy = f'mv() {{ printf "%s\\n" "$@" >> {log}; command mv "$@"; }}'
    result = run_bash(script(spy, write_file(str(target), "x")), tmp_path)
    assert result.returncode == 0, result.stderr
    temp_name = log.read_text().splitlines()[-2]
    assert not temp_name.endswith(".tmp.$$")
