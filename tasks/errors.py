"""Errors the tasks turn into messages and stable exit codes (see docs/exit-codes.md)."""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes of every task. They are part of the public contract."""

    OK = 0
    FAILED = 1          # a step failed; the live release was left as it was
    USAGE = 2           # invalid inventory, unknown host, bad arguments
    LOCKED = 3          # another deploy holds the lock on a host
    CONNECT = 4         # a host could not be reached or refused the connection
    ROLLED_BACK = 5     # the new release went live, failed its check and was rolled back


class StepFailed(Exception):
    """A step failed on a host. ``message`` says what failed, and where."""

    def __init__(self, host: str, step: str, message: str, code: ExitCode = ExitCode.FAILED,
                 facts: dict[str, str] | None = None) -> None:
        self.host = host
        self.step = step
        self.message = message
        self.code = code
        self.facts = facts or {}  # what the failed script reported before it stopped (e.g. a lock's holder)
        super().__init__(f"{host}: {step}: {message}")
