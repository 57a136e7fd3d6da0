"""A record of every boot, for the CI log: which servers booted, how long each took, what systemd said.

`record` appends one JSON line per boot (and reboot) to the file named by ``$WSGIDEPLOY_BOOT_LOG`` (set by
``tests/run.sh``; nothing is written without it). `summary` is what ``tests/run.sh`` prints after pytest:
how many servers booted, what systemd said of each boot, how long the boots took.
"""
from __future__ import annotations

import json
import os
import statistics
import threading
from pathlib import Path

_LOCK = threading.Lock()


def record(name: str, front: str | None, seconds: float, state: str, boot: int) -> None:
    """Append one boot of ``name`` to ``$WSGIDEPLOY_BOOT_LOG`` (if set)."""
    path = os.environ.get("WSGIDEPLOY_BOOT_LOG")
    if not path:
        return
    line = json.dumps({"name": name, "front": front or "", "seconds": round(seconds, 2), "state": state,
                       "boot": boot})
    with _LOCK, open(path, "a", encoding="utf-8") as log:
        log.write(line + "\n")


def summary(path: Path) -> str:
    """What the boot log says, in a few lines."""
    try:
        boots = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        return f"booted test servers: no record ({exc})"
    if not boots:
        return "booted test servers: none booted"
    first = [b for b in boots if b["boot"] == 1]
    reboots = [b for b in boots if b["boot"] > 1]
    states: dict[str, int] = {}
    for boot in boots:
        states[boot["state"]] = states.get(boot["state"], 0) + 1
    times = sorted(b["seconds"] for b in first) or [0.0]
    fronts: dict[str, int] = {}
    for boot in first:
        fronts[boot["front"] or "none"] = fronts.get(boot["front"] or "none", 0) + 1
    lines = [
        f"booted test servers (systemd-nspawn, Debian 12): {len(first)} servers, {len(reboots)} reboots",
        "  systemd said: " + ", ".join(f"{state} {count}" for state, count in sorted(states.items())),
        "  front servers: " + ", ".join(f"{front} {count}" for front, count in sorted(fronts.items())),
        f"  boot to sshd and systemd done: median {statistics.median(times):.1f} s, "
        f"min {times[0]:.1f} s, max {times[-1]:.1f} s",
    ]
    return "\n".join(lines)

