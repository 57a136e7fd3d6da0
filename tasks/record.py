"""Who runs what: the lock owner and the deploy log entry of a run. Pure."""
from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone


@dataclass(frozen=True)
class RunRecord:
    """One run of a task that changes hosts (deploy or rollback)."""

    action: str
    release_id: str = ""
    # The full sha of the git commit deployed, ``<sha>+dirty`` when a working tree with
    # changes was (--allow-dirty), None outside git. Older logs hold 12 hex digits.
    source_revision: str | None = None
    source_hash: str | None = None
    force_unlock: bool = False
    user: str = field(default_factory=lambda: _local_user())
    origin: str = field(default_factory=socket.gethostname)
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    token: str = field(default_factory=lambda: secrets.token_hex(8))

    def lock_owner(self) -> str:
        """The JSON stored in the host's lock: enough to name the holder."""
        return json.dumps({"user": self.user, "from": self.origin, "pid": os.getpid(), "since": self.started_at,
                           "action": self.action, "release": self.release_id, "token": self.token},
                          sort_keys=True)

    def log_entry(self, host: str, release: str, result: str, seconds: float | None, message: str = "") -> str:
        """One line of the host's deploy log. It never holds secrets: no env values, no output. ``seconds``
        None: ``"duration": null``, for the host to fill in (`history.append_log_timed`)."""
        entry = {"action": self.action, "host": host, "release": release, "result": result,
                 "user": self.user, "from": self.origin, "started": self.started_at,
                 "duration": None if seconds is None else round(seconds, 2), "source": self.source_revision,
                 "source_hash": (self.source_hash or "")[:16] or None}
        if message:
            entry["message"] = message.strip().splitlines()[-1][:300]
        return json.dumps(entry, sort_keys=True)


def short_revision(revision: str) -> str:
    """A source revision for people: 12 hex digits of the commit, keeping a ``+dirty`` mark."""
    commit, dirty, _ = revision.partition("+dirty")
    return commit[:12] + dirty


def describe_holder(owner_json: str) -> str:
    """``user@host since <time> (deploy of <release>, pid N)`` from a lock's JSON, or the raw text."""
    try:
        owner = json.loads(owner_json)
        if not isinstance(owner, dict):
            return owner_json.strip() or "unknown"
        what = f"{owner.get('action', 'deploy')}" + (f" of {owner['release']}" if owner.get("release") else "")
        return f"{owner['user']}@{owner['from']} since {owner['since']} ({what}, pid {owner.get('pid', '?')})"
    except (ValueError, KeyError, TypeError, AttributeError):
        return owner_json.strip() or "unknown"


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
