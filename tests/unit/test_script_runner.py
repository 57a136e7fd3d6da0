"""Remote scripts travel on standard input into a 0600 file, not as an argument (issue 15, item 8): no other
user sees them in `ps`, and their size has no 128 KiB cap. The runner, run here with sh as sshd would."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

from wsgideploy.transport import script_runner


def finish(process: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    process.wait(timeout=30)
    return out, err


def run(script: bytes, data: bytes = b"") -> subprocess.Popen[bytes]:
    process = subprocess.Popen(["sh", "-c", script_runner(len(script))], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write(script + data)
    process.stdin.close()
    return process


def test_the_script_runs_with_the_rest_of_stdin_as_its_own_and_its_exit_code() -> None:
    process = run(b'set -eu\nprintf "%s" "$(wc -c)"\nexit 3\n', b"y" * 100_000)
    out, _ = finish(process)
    assert (process.returncode, out) == (3, b"100000")


def test_no_process_shows_the_script_and_its_file_is_private_and_removed() -> None:
    marker = "wsgideploy-test-marker-7f3a"
    script = f'set -eu\n: "{marker}"\nstat -c %a "$0"\necho "$0"\nsleep 1\n'.encode()
    process = run(script)
    time.sleep(0.5)
    shown = [p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if p.exists()]
    out, err = finish(process)
    assert process.returncode == 0, err
    assert not any(marker.encode() in cmdline for cmdline in shown), "the script is on a command line"
    mode, path = out.decode().split()
    assert mode == "600" and not Path(path).exists()


def test_a_script_larger_than_an_argument_may_be_runs() -> None:
    script = b"set -eu\n" + b": " + b"x" * 300_000 + b"\necho done\n"
    process = run(script)
    out, err = finish(process)
    assert (process.returncode, out) == (0, b"done\n"), err[-300:]
