"""A pidfile names a process only by a positive integer above 1 on its first line (issue 15, item 7): "-1"
would signal every process the user may signal, "0" its process group, 1 is init. Run with bash."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wsgideploy.commands.recipe import recipe

CASES = [("1234\n", "1234"), ("1234", "1234"), (" 1234 \n", "1234"), ("1234\n5678\n", "1234"),
         ("-1\n", ""), ("0\n", ""), ("1\n", ""), ("007\n", ""), ("12abc\n", ""), ("pid: 99\n", ""),
         ("", ""), ("99999999999999999999\n", "")]


@pytest.mark.parametrize(("content", "pid"), CASES, ids=[repr(c) for c, _ in CASES])
def test_pid_in_reads_only_a_pid(tmp_path: Path, content: str, pid: str) -> None:
    pidfile = tmp_path / "app.pid"
    pidfile.write_text(content)
    script = f"set -eu\n{recipe('process')}\nx=$(pid_in {pidfile})\nprintf '%s' \"$x\""
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == pid


def test_pid_in_of_a_missing_file_is_nothing(tmp_path: Path) -> None:
    script = f"set -eu\n{recipe('process')}\nx=$(pid_in {tmp_path}/none.pid)\nprintf '%s' \"$x\""
    assert subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30).stdout == ""
