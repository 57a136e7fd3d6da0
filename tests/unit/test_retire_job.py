"""The old instance's stop is sent by a job of its own (systemd.sh's ``retire``), once no connection waits on
its socket; the deploy does not wait for that (issue 16: under load that wait was most of a go-live's time).

Run in a real bash with systemd.sh's own functions; ``ss`` (the socket's queue, read from a file the test
writes) and ``as_root`` (what would run as root, written to a log) are stand-ins defined after the recipe.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

from wsgideploy.commands.recipe import Script
from wsgideploy.commands.shell import q

VALUES: dict[str, str | int] = {
    "unit_prefix": "wsgideploy-x@", "unit_path": "/nonexistent/unit", "unit_text": "-", "current": "/nonexistent",
    "probe": "-", "probe_config": "-", "START_TIMEOUT": 5, "pidfile": "/nonexistent/pid", "processes": "",
    "unit_dir": "/nonexistent"}


def script(tmp_path: Path, body: str) -> str:
    """systemd.sh's functions (as a host script has them), the stand-ins after them, then ``body``."""
    stand_ins = (f"ss() {{ cat {q(str(tmp_path / 'queue'))}; }}\n"
                 f"as_root() {{ echo \"$*\" >> {q(str(tmp_path / 'root.log'))}; }}\n"
                 "unit_active() { return 0; }\nlogger() { :; }\n")
    values = {**VALUES, "slots": str(tmp_path / "slots"), "sockets": str(tmp_path / "sock")}
    return Script(stand_ins + body, values, ("process", "systemd")).text()


def locked(mark: Path) -> bool:
    return subprocess.run(["flock", "-n", str(mark), "true"], check=False).returncode != 0


def test_retire_returns_while_a_connection_waits_and_its_job_stops_the_instance_once_none_does(tmp_path: Path) -> None:
    (tmp_path / "slots").mkdir()
    (tmp_path / "queue").write_text("u_str LISTEN 1 128 sock.a.sock 1 * 0\n")  # one connection waits
    # As in a go-live script: fd 3 is the session's output too. The run returns only once nothing holds
    # its output open: a job holding it would end only after the test empties the queue, below.
    done = subprocess.run(["bash", "-c", script(tmp_path, "exec 3>&1\nretire a\n")],
                          capture_output=True, text=True, timeout=8, check=False)
    assert done.returncode == 0, done.stderr
    assert "wsgideploy-fact:retired=wsgideploy-x@a.service" in done.stdout
    mark = tmp_path / "slots" / ".retiring.a"
    assert locked(mark), "the job holds its lock from before the script returned"
    assert not (tmp_path / "root.log").exists(), "no stop while a connection waits on the socket"

    (tmp_path / "queue").write_text("u_str LISTEN 0 128 sock.a.sock 1 * 0\n")
    deadline = time.monotonic() + 10
    while locked(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not locked(mark), "the job ends once the queue is empty"
    assert (tmp_path / "root.log").read_text() == "systemctl stop --no-block wsgideploy-x@a.service\n"


def test_retired_wait_waits_for_the_job_holding_the_slots_lock(tmp_path: Path) -> None:
    (tmp_path / "slots").mkdir()
    mark = tmp_path / "slots" / ".retiring.b"
    job = subprocess.Popen(["flock", str(mark), "sleep", "1"])
    try:
        deadline = time.monotonic() + 5
        while not locked(mark) and time.monotonic() < deadline:
            time.sleep(0.01)
        done = subprocess.run(["bash", "-c", script(tmp_path, "retired_wait b\n")], capture_output=True,
                              text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        assert job.poll() == 0, "retired_wait returned while the job ran"
    finally:
        job.kill()
        job.wait()


def test_retired_wait_returns_at_once_with_no_job(tmp_path: Path) -> None:
    (tmp_path / "slots").mkdir()
    (tmp_path / "slots" / ".retiring.a").write_text("")  # left by a job that ended
    done = subprocess.run(["bash", "-c", script(tmp_path, "retired_wait a\nretired_wait b\necho ok\n")],
                          capture_output=True, text=True, timeout=10, check=False)
    # (the line before it is the script's session line)
    assert (done.returncode, done.stdout.splitlines()[-1]) == (0, "ok"), done.stderr
