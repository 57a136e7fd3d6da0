"""Local subprocesses of the benchmark (fab, ssh, the naive fabfile), tracked so that none outlives it.

Each runs in a session of its own, so a Ctrl-C in the terminal reaches only the benchmark,
which then stops them itself (`stop_all`), by process group id, before tearing the hosts down.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO, Mapping, Sequence

_live: dict[int, subprocess.Popen[bytes]] = {}
_lock = threading.Lock()


class CommandFailed(Exception):
    """A benchmarked command failed or timed out; the message has its output."""


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    cpu_seconds: float = 0.0  # user + system CPU of the process and the children it waited for


def start(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True)
    with _lock:
        _live[proc.pid] = proc
    return proc


def _drain(stream: IO[bytes] | None, into: list[bytes]) -> None:
    if stream is not None:
        into.append(stream.read())
        stream.close()


def finish(proc: subprocess.Popen[bytes], started: float, stdin: bytes = b"", timeout: float = 600) -> Finished:
    """Feed ``stdin``, wait (killing the process group after ``timeout``), return what it printed.

    The process is reaped with ``os.wait4``, whose resource usage gives its CPU time (the
    controller's cost of a deploy); ``Popen.communicate`` would reap it without that figure.
    """
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
               threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True)]
    for reader in readers:
        reader.start()
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        _kill_group(proc.pid)

    timer = threading.Timer(timeout, on_timeout)
    timer.daemon = True
    timer.start()
    try:
        if proc.stdin is not None:
            try:
                proc.stdin.write(stdin)
                proc.stdin.close()
            except BrokenPipeError:
                pass
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(30)
    _forget(proc)
    stdout, stderr = b"".join(out).decode(errors="replace"), b"".join(err).decode(errors="replace")
    if timed_out.is_set():
        raise CommandFailed(f"{' '.join(map(str, proc.args))[:200]}: timed out after {timeout:g}s\n{stderr[-2000:]}")
    return Finished(proc.returncode, stdout, stderr, time.monotonic() - started, usage.ru_utime + usage.ru_stime)


def run(argv: Sequence[str], stdin: bytes = b"", env: Mapping[str, str] | None = None, cwd: str | None = None,
        timeout: float = 600) -> Finished:
    """Run one command to completion and time it (from start to exit)."""
    started = time.monotonic()
    return finish(start(argv, env, cwd), started, stdin, timeout)


def _forget(proc: subprocess.Popen[bytes]) -> None:
    with _lock:
        _live.pop(proc.pid, None)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group we started (fab releases its locks on it), SIGKILL after ``grace``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        proc.wait(5)


def stop_all() -> list[int]:
    """Stop every tracked command still running; return their pids."""
    with _lock:
        procs = list(_live.values())
    for proc in procs:
        stop(proc)
        _forget(proc)
    return [p.pid for p in procs]
