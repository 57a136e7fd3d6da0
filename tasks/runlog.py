"""Every run's full log, kept locally: ``<project>/.wsgideploy/logs/<UTC time>-<task>.log``.

The log holds every line the run printed (without colour codes) and every line the
remote scripts printed, even when they were not shown (``-v`` shows them). Input
sent to a host (the release archive, ``.env`` contents) is never written here, and
the scripts never print secret values. ``.wsgideploy/`` ignores itself for git,
and only the newest `KEEP_LOGS` logs are kept.

Also here: how a run's `Reporter` is made from the command line's settings.
"""
from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, TextIO

from .output import Reporter
from .targets import project_dir
from .terminal import is_terminal, strip_ansi, wants_color

KEEP_LOGS = 50
STATE_DIR = ".wsgideploy"
VERBOSE_ENV = "WSGIDEPLOY_VERBOSE"  # for fab, which has no -v of ours
_FALSE = ("", "0", "false", "no", "off")


class RunLog:
    """One run's log file, made with its first line (a run that prints nothing leaves nothing),
    written a whole line at a time (line-buffered: a killed run keeps its log)."""

    def __init__(self, directory: Path, name: str, keep: int = KEEP_LOGS) -> None:
        self.directory = directory
        self.path = directory / name
        self.keep = keep
        self.lines = 0
        self.failed = False  # the folder could not be written: the run goes on without a log
        self._file: TextIO | None = None

    def write(self, text: str) -> None:
        """Append ``text`` (one or more lines, colour codes removed)."""
        if self._file is None and not self._open():
            return
        try:
            for part in strip_ansi(text).splitlines() or [""]:
                self._file.write(part + "\n")  # type: ignore[union-attr]
                self.lines += 1
        except (OSError, ValueError):  # a full disk must not stop a deploy: the log just ends
            self.failed = True
            self.close()

    def _open(self) -> bool:
        """Create ``.wsgideploy/`` (with its ``.gitignore``) and the file; prune old logs."""
        if self.failed:
            return False
        try:
            make_state_dir(self.directory.parent)
            self.directory.mkdir(exist_ok=True)
            name, n = self.path.name, 1
            while self.path.exists():  # two runs of a task in the same second
                n += 1
                self.path = self.directory / name.replace(".log", f"-{n}.log")
            self._file = self.path.open("x", encoding="utf-8", buffering=1)
        except OSError:
            self.failed = True
            return False
        prune_logs(self.directory, self.keep)
        return True

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    def shown_path(self, cwd: Path | None = None) -> str:
        """The log's path for a message (relative to the current directory when below it); '' if none."""
        if self.failed or self.lines == 0:
            return ""
        try:
            return str(self.path.relative_to(cwd or Path.cwd()))
        except ValueError:
            return str(self.path)


def make_state_dir(state: Path) -> None:
    """Make the project's ``.wsgideploy/`` with its ``.gitignore`` of ``*``: never part of the app's git tree,
    nor made dirty by a run. Raises OSError when it cannot be made."""
    state.mkdir(parents=True, exist_ok=True)
    ignore = state / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")


def log_file_name(task: str, when: datetime) -> str:
    """``20261204T071500Z-deploy.log`` (names sort by time; the task is made safe for a file name)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in task) or "run"
    return f"{when.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}-{safe}.log"


def logs_dir(project: Path) -> Path:
    return project / STATE_DIR / "logs"


def prune_logs(directory: Path, keep: int = KEEP_LOGS) -> list[Path]:
    """Delete all but the newest ``keep`` logs in ``directory``; return the deleted ones."""
    logs = sorted(p for p in directory.glob("*.log") if p.is_file())
    old = logs[:max(len(logs) - keep, 0)]
    for path in old:
        try:
            path.unlink()
        except OSError:
            pass
    return old


def open_run_log(project: Path, task: str, when: datetime | None = None, keep: int = KEEP_LOGS) -> RunLog:
    """The log of a new run of ``task`` under ``project``; the file (and ``.wsgideploy/``, with a
    ``.gitignore``) is made with its first line, and then only the newest ``keep`` logs are kept."""
    return RunLog(logs_dir(project), log_file_name(task, when or datetime.now(timezone.utc)), keep)


def verbose_wanted(config: Any, environ: Mapping[str, str]) -> bool:
    """``-v`` (the config value ``wsgideploy_verbose``), else ``WSGIDEPLOY_VERBOSE`` set to 1 (for fab)."""
    if config is not None:
        try:
            if config.get("wsgideploy_verbose"):
                return True
        except AttributeError:
            pass
    return environ.get(VERBOSE_ENV, "").strip().lower() not in _FALSE


def task_name(config: Any, fallback: str) -> str:
    """The running task's name, as the executor records it (``wsgideploy_task``), else ``fallback``."""
    try:
        name = config.get("wsgideploy_task") if config is not None else None
    except AttributeError:
        name = None
    return str(name) if name else fallback


def run_reporter(task: str, stream: TextIO | None = None, config: Any = None,
                 environ: Mapping[str, str] | None = None, project: Path | None = None) -> Reporter:
    """The `Reporter` of one run of ``task``: colour and a live status line on a terminal, remote
    output shown when verbose, everything in a new run log."""
    environ = os.environ if environ is None else environ
    stream = stream or sys.stdout
    log = open_run_log(project or project_dir(), task)
    return Reporter(stream=stream, color=wants_color(stream, environ), live=is_terminal(stream),
                    verbose=verbose_wanted(config, environ), log=log, task=task)
