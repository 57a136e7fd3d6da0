"""Subprocesses and processes of the loopback test hosts: `run` (no shell, a timeout, `ProvisionError`
on failure) and the /proc helpers that find, wait for and stop processes by pid, never by name."""
import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEOUT = 30.0


class ProvisionError(Exception):
    """A provisioning step failed; the message says which and why."""


# --- subprocesses ----------------------------------------------------------------


def run(argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT, check: bool = True,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (no shell) with a timeout; on failure raise `ProvisionError` with its output."""
    try:
        proc = subprocess.run(list(argv), check=False, input=input, capture_output=True, text=True,
                              timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ProvisionError(f"{' '.join(argv)}: timed out after {timeout:g}s") from None
    except FileNotFoundError:
        raise ProvisionError(f"{argv[0]}: command not found") from None
    if check and proc.returncode != 0:
        out = (proc.stderr.strip() or proc.stdout.strip() or "(no output)")
        raise ProvisionError(f"{' '.join(argv)}: exit {proc.returncode}: {out}")
    return proc



# --- processes -----------------------------------------------------------------------


@dataclass(frozen=True)
class ProcInfo:
    """A running process as seen in /proc."""

    pid: int
    ppid: int
    uid: int
    cwd: str
    cmdline: str


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, ppid) of ``pid``, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            data = fh.read()
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1])


def pid_alive(pid: int | None) -> bool:
    """Whether ``pid`` names a live (not zombie) process."""
    if not pid or pid <= 0:
        return False
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def proc_info(pid: int) -> ProcInfo | None:
    """What /proc says about ``pid`` (None if it is gone or a zombie)."""
    stat = _proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = ""
    return ProcInfo(pid=pid, ppid=stat[1], uid=uid, cwd=cwd, cmdline=cmdline)


def all_processes() -> list[ProcInfo]:
    """Every live process (a snapshot of /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = proc_info(int(entry))
            if info is not None:
                out.append(info)
    return out


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` (children first)."""
    children: dict[int, list[int]] = {}
    for info in all_processes():
        children.setdefault(info.ppid, []).append(info.pid)
    found: list[int] = []
    queue = list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def processes_under(path: Path | str, exclude: Sequence[int] = ()) -> list[ProcInfo]:
    """Live processes whose cwd is ``path`` or below it, or whose command line mentions it.

    This process and its ancestors are never listed.
    """
    base = str(path).rstrip("/")
    mention = re.compile(re.escape(base) + r"(?=/|\s|$)")
    skip = set(exclude) | {os.getpid()}
    ancestor = os.getppid()
    while ancestor > 1 and ancestor not in skip:
        skip.add(ancestor)
        stat = _proc_stat(ancestor)
        ancestor = stat[1] if stat else 0
    found = []
    for info in all_processes():
        if info.pid in skip:
            continue
        cwd = info.cwd.removesuffix(" (deleted)")
        if cwd == base or cwd.startswith(base + "/") or mention.search(info.cmdline):
            found.append(info)
    return found


def _wait_gone(pids: Sequence[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if pid_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if pid_alive(p)]
    return alive


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def kill_pids(pids: Sequence[int], sig: int = signal.SIGTERM, timeout: float = 5.0) -> list[int]:
    """Send ``sig`` to each pid, wait up to ``timeout``, then SIGKILL what is left.

    Returns the pids that survived even SIGKILL (normally none).
    """
    live = [p for p in pids if pid_alive(p)]
    for pid in live:
        _signal(pid, sig)
    left = _wait_gone(live, timeout)
    for pid in left:
        _signal(pid, signal.SIGKILL)
    return _wait_gone(left, 5.0)


def read_pidfile(path: Path | str) -> int | None:
    """The pid in ``path``, or None if the file is missing or does not hold a pid."""
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def stop_pid(pid: int, sig: int = signal.SIGTERM, timeout: float = 10.0, expect: str | None = None,
             kill_descendants: bool = True) -> bool:
    """Stop ``pid`` with ``sig``; after ``timeout`` seconds SIGKILL it. Returns whether it was running.

    ``expect``, when given, must appear in the process's command line or cwd, so that a stale
    pid that the kernel has since given to another process is left alone. With
    ``kill_descendants``, children that outlive the process (e.g. sshd's per-connection
    processes, or workers orphaned by a SIGKILLed master) are stopped too, by pid.
    """
    info = proc_info(pid)
    if info is None:
        return False
    if expect is not None and expect not in info.cmdline and expect not in info.cwd:
        return False
    kids = descendants(pid) if kill_descendants else []
    _signal(pid, sig)
    if _wait_gone([pid], timeout):
        _signal(pid, signal.SIGKILL)
        if _wait_gone([pid], 5.0):
            raise ProvisionError(f"pid {pid} ({info.cmdline}) survived SIGKILL")
    if kids:
        # Give children a moment to exit on their own after their parent did.
        left = _wait_gone(kids, 2.0)
        if kill_descendants and left:
            kill_pids(left, signal.SIGTERM, 3.0)
    return True


def stop_pidfile(path: Path | str, sig: int = signal.SIGTERM, timeout: float = 10.0,
                 expect: str | None = None) -> int | None:
    """Stop the process named in pidfile ``path`` if it is alive (see `stop_pid`).

    Returns the pid that was stopped, or None if there was nothing to stop. Never looks
    processes up by name.
    """
    pid = read_pidfile(path)
    if pid is None:
        return None
    return pid if stop_pid(pid, sig, timeout, expect) else None
