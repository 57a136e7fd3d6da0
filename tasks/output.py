"""What a person sees: one line per step, with the host, the step and its duration.

Lines are written whole under a lock, so output from hosts running side by
side never interleaves mid-line. Every step is also recorded, for summaries.

On a terminal, outcomes are coloured and steps that run longer than a second
show their elapsed time on one status line, rewritten in place and erased
before any other line. Without a terminal (CI) a long step prints a plain
``still running`` line now and then instead, so it is never silent. Both come
from one daemon ticker thread, started with the first step and gone once no
step runs or the run is closed. Every line, and every remote output line (shown
only when verbose), also goes to the run's log (`wsgideploy.runlog`).
"""
from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Sequence, TextIO

from .terminal import DIM, ERASE_LINE, YELLOW, paint, running_status, status_word_style, still_running_line

if TYPE_CHECKING:
    from .runlog import RunLog

# Remote scripts talk to wsgideploy in lines starting with this (step markers, facts,
# the session id): they are not output for a person.
MARKER_PREFIX = "wsgideploy-"


@dataclass
class StepRecord:
    """One step on one host: its name, how it went, how long it took."""

    host: str
    name: str
    status: str = "running"
    seconds: float = 0.0
    detail: str = ""
    started: float = 0.0


@dataclass
class Reporter:
    """Prints progress lines like ``[web1] venv        ok    4.31s  built``.

    ``color`` paints outcomes, ``live`` (a terminal) keeps a status line of the
    running steps, ``verbose`` shows the remote output, ``log`` keeps everything.
    ``tick``, ``still_every`` and ``live_after`` are the ticker's timings (seconds).
    """

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    records: list[StepRecord] = field(default_factory=list)
    color: bool = False
    live: bool = False
    verbose: bool = False
    log: RunLog | None = None
    task: str = ""
    tick: float = 0.5
    still_every: float = 30.0
    live_after: float = 1.0
    started: float = field(default_factory=time.monotonic)
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ticker: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _status_shown: bool = False
    _noticed: dict[int, int] = field(default_factory=dict)

    # --- lines -------------------------------------------------------------------

    def line(self, host: str, text: str) -> None:
        """Print one line (or several) prefixed with ``[host]``."""
        with self._lock:
            self._emit(host, [(part, self._painted(part)) for part in text.splitlines() or [""]])

    def error(self, host: str, message: str) -> None:
        """Print an error message, every line prefixed and indented."""
        lines = message.rstrip().splitlines() or ["(no message)"]
        self.line(host, "\n".join(["  " + lines[0]] + ["  | " + ln for ln in lines[1:]]))

    def remote_line(self, host: str, text: str) -> None:
        """One line of a remote script's output: always in the run log, shown when verbose."""
        if text.startswith(MARKER_PREFIX):
            return
        with self._lock:
            if self.verbose:
                self._emit(host, [(f"  | {text}", f"  | {text}")])
            elif self.log is not None:
                self.log.write(f"[{host}]   | {text}")

    def _emit(self, host: str, parts: list[tuple[str, str]]) -> None:
        """Write (plain, painted) lines whole, after erasing the status line; log the plain ones.
        Call with the lock held."""
        self._erase_status()
        prefix = f"[{host}] " if host else ""
        shown = paint(prefix, DIM, self.color)
        for plain, painted in parts:
            self.stream.write(f"{shown}{painted if self.color else plain}\n")
            if self.log is not None:
                self.log.write(prefix + plain)
        self.stream.flush()

    def _painted(self, text: str) -> str:
        return paint(text, YELLOW, self.color) if text.startswith("warning") else text

    # --- steps -------------------------------------------------------------------

    @contextmanager
    def step(self, host: str, name: str, announce: bool = False) -> Iterator[StepRecord]:
        """Time a step and print its outcome; ``announce`` also prints its start (slow steps)."""
        record = self.begin(host, name, announce)
        try:
            yield record
        except BaseException:
            self.end(record, ok=False)
            raise
        self.end(record, ok=True)

    def begin(self, host: str, name: str, announce: bool = False) -> StepRecord:
        """Start timing a step (for steps whose end is seen elsewhere, e.g. in a script's output)."""
        record = StepRecord(host=host, name=name, started=time.monotonic())
        with self._lock:
            self.records.append(record)
            self._start_ticker()
        if announce:
            self.line(host, f"{name:<12} ...")
        return record

    def end(self, record: StepRecord, ok: bool) -> None:
        """Finish a step begun with `begin` and print its line."""
        record.status = "ok" if ok else "failed"
        record.seconds = time.monotonic() - record.started
        status = "ok" if record.status == "ok" else "FAILED"
        painted = self._format(record).replace(f" {status}", " " + paint(status, status_word_style(status),
                                                                           self.color), 1)
        with self._lock:
            self._emit(record.host, [(self._format(record), painted)])

    @staticmethod
    def _format(record: StepRecord) -> str:
        status = "ok" if record.status == "ok" else "FAILED"
        detail = f"  {record.detail}" if record.detail else ""
        return f"{record.name:<12} {status:<6} {record.seconds:6.2f}s{detail}"

    # --- the end of the run --------------------------------------------------------

    def close(self, closing: str = "", word: str = "") -> None:
        """End the run: stop the ticker, print the ``closing`` line (``word``, its outcome,
        coloured), close the log. Only the first call does anything."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._stop.set()
            ticker = self._ticker
        if ticker is not None:
            ticker.join()
        with self._lock:
            if closing:
                painted = closing.replace(word, paint(word, status_word_style(word), self.color), 1) \
                    if word else closing
                try:
                    self._emit("", [(closing, painted)])
                except (OSError, ValueError):  # the reader is gone (`| head`): the log still gets it
                    if self.log is not None:
                        self.log.write(closing)
            else:
                self._erase_status()
            if self.log is not None:
                self.log.close()

    # --- the ticker ------------------------------------------------------------------

    def _start_ticker(self) -> None:
        """Start the ticker thread unless it runs (call with the lock held)."""
        if self._ticker is None and not self.closed:
            self._ticker = threading.Thread(target=self._tick_loop, name="wsgideploy-ticker", daemon=True)
            self._ticker.start()

    def _tick_loop(self) -> None:
        interval = self.tick if self.live else min(self.tick, self.still_every)
        while not self._stop.wait(interval):
            with self._lock:
                running = [r for r in self.records if r.status == "running"]
                if not running:  # nothing to watch: end; the next step starts a new ticker
                    self._ticker = None
                    self._safely(self._erase_status)
                    return
                self._safely(self._show_running, running, time.monotonic())
        with self._lock:
            self._safely(self._erase_status)

    def _safely(self, write: Callable[..., None], *args: object) -> None:
        """Run a ticker write; a stream that is gone (closed pipe) only silences the ticker."""
        try:
            write(*args)
        except (OSError, ValueError):
            self._stop.set()

    def _show_running(self, running: list[StepRecord], now: float) -> None:
        if self.live:
            slow = [(r.host, r.name, now - r.started) for r in running if now - r.started >= self.live_after]
            if not slow:
                self._erase_status()
                return
            width = shutil.get_terminal_size((80, 24)).columns
            self.stream.write(ERASE_LINE + paint(running_status(slow, width), DIM, self.color))
            self.stream.flush()
            self._status_shown = True
            return
        for record in running:
            elapsed = now - record.started
            due = int(elapsed // self.still_every)
            if due > self._noticed.get(id(record), 0):
                self._noticed[id(record)] = due
                self._emit(record.host, [(still_running_line(record.name, elapsed),) * 2])

    def _erase_status(self) -> None:
        """Erase the status line, if shown (call with the lock held)."""
        if self._status_shown:
            self._status_shown = False
            self.stream.write(ERASE_LINE)
            self.stream.flush()


def format_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows of cells as aligned lines (the first row is the header)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def stop_writing_stdout() -> None:
    """Point stdout at /dev/null once its reader is gone (``wsgideploy --list | head``), so that
    what is still written, and the flush at exit, go nowhere instead of into a closed pipe."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
