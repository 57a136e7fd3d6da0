"""Errors the tasks turn into messages and stable exit codes (see docs/exit-codes.md)."""
from __future__ import annotations

from enum import IntEnum, StrEnum


class ExitCode(IntEnum):
    """The exit codes of every task. They are part of the public contract."""

    OK = 0
    FAILED = 1          # a step failed; the live release was left as it was
    USAGE = 2           # invalid inventory, unknown host, bad arguments
    LOCKED = 3          # another deploy holds the lock on a host
    CONNECT = 4         # a host could not be reached or refused the connection
    ROLLED_BACK = 5     # the new release went live, failed its check and was rolled back


class HostResult(StrEnum):
    """How one host's part of a run went, in a word: the JSON document's and the deploy log's ``result``."""

    PENDING = "pending"              # not finished
    BUILT = "built"                  # the new release is ready, not switched yet
    OK = "ok"
    NOOP = "noop"                    # the live release already has this source and these settings
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"      # went live, failed (or another batch did), back on the previous release
    NOT_SWITCHED = "not_switched"    # the rollout stopped before this host; its new release was removed
    UNREACHABLE = "unreachable"
    NOT_ATTEMPTED = "not_attempted"  # left alone after another host failed
    INTERRUPTED = "interrupted"


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
