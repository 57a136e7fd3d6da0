"""What a person sees: one line per step, with the host, the step and its duration.

Lines are written whole under a lock, so output from hosts running side by
side never interleaves mid-line. Every step is also recorded, for summaries.
"""
from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Sequence, TextIO


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
    """Prints progress lines like ``[web1] venv        ok    4.31s  built``."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    records: list[StepRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def line(self, host: str, text: str) -> None:
        """Print one line (or several) prefixed with ``[host]``."""
        with self._lock:
            for part in text.splitlines() or [""]:
                self.stream.write(f"[{host}] {part}\n" if host else f"{part}\n")
            self.stream.flush()

    def error(self, host: str, message: str) -> None:
        """Print an error message, every line prefixed and indented."""
        lines = message.rstrip().splitlines() or ["(no message)"]
        self.line(host, "\n".join(["  " + lines[0]] + ["  | " + ln for ln in lines[1:]]))

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
        self.records.append(record)
        if announce:
            self.line(host, f"{name:<12} ...")
        return record

    def end(self, record: StepRecord, ok: bool) -> None:
        """Finish a step begun with `begin` and print its line."""
        record.status = "ok" if ok else "failed"
        record.seconds = time.monotonic() - record.started
        self.line(record.host, self._format(record))

    @staticmethod
    def _format(record: StepRecord) -> str:
        status = "ok" if record.status == "ok" else "FAILED"
        detail = f"  {record.detail}" if record.detail else ""
        return f"{record.name:<12} {status:<6} {record.seconds:6.2f}s{detail}"


def format_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows of cells as aligned lines (the first row is the header)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
