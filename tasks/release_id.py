"""Release ids: a UTC timestamp to the second, ``20261121T101500Z``, one for every host of a run.

Two deploys of a project started in the same second would get the same id, and the second
would find its release already on the host. So a deploy *claims* its id in the project's
``.wsgideploy/last-release`` (under a lock, so that two runs started together get two ids): the
time now, or one second after the last id this project claimed when that is not earlier. Ids
stay unique and in time order, at most a few seconds ahead of the clock. A deploy from
another machine in the same second is refused before anything is uploaded (``prepare``
finds the release on the host), and loses nothing.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from .runlog import make_state_dir

FORMAT = "%Y%m%dT%H%M%SZ"
ID_PATTERN = re.compile(r"\d{8}T\d{6}Z")
LAST_FILE = "last-release"


def new_release_id(now: datetime | None = None, after: str = "") -> str:
    """``now`` (default: the current UTC time) to the second; one second after ``after`` when that
    is not earlier (a valid id; anything else is ignored)."""
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    if ID_PATTERN.fullmatch(after):
        last = datetime.strptime(after, FORMAT).replace(tzinfo=timezone.utc)
        when = max(when, last + timedelta(seconds=1))
    return when.strftime(FORMAT)


def next_release_id(state: Path, now: datetime | None = None) -> str:
    """The id a deploy would claim now in the state folder ``state`` (``.wsgideploy/``), claiming nothing."""
    return new_release_id(now, read_last(state / LAST_FILE))


def claim_release_id(state: Path, now: datetime | None = None) -> str:
    """A new id, recorded in ``state/last-release`` so that no later claim in this project repeats it.

    A folder that cannot be written (a read-only checkout) gives the plain timestamp: the deploy goes on,
    and the host still refuses an id it already has."""
    try:
        make_state_dir(state)
        with _locked(state / (LAST_FILE + ".lock")):
            last = state / LAST_FILE
            claimed = new_release_id(now, read_last(last))
            partial = last.with_name(f".{LAST_FILE}.{os.getpid()}")
            partial.write_text(claimed + "\n")
            partial.replace(last)  # whole or not at all
            return claimed
    except OSError:
        return new_release_id(now)


def read_last(path: Path) -> str:
    """The id in ``path``; '' when it is missing or unreadable."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (made if missing) where the platform has ``fcntl``."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock; runs started in the same instant may share an id (the host refuses)
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
