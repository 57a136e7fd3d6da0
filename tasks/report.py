"""What a run leaves behind for people and for CI: a one-screen summary and a JSON document. Pure.

Both are built from the fleet's slots (one outcome per host) and the reporter's
step records (every step with its duration and result). The JSON document's
shape is documented in docs/ci.md and is part of the public contract.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .errors import ExitCode, HostResult
from .fleet import Fleet, Slot
from .output import StepRecord, format_table

SCHEMA_VERSION = 1

RESULT_OF_CODE = {
    ExitCode.OK: "ok",
    ExitCode.FAILED: "failed",
    ExitCode.USAGE: "invalid",
    ExitCode.LOCKED: "locked",
    ExitCode.CONNECT: "unreachable",
    ExitCode.ROLLED_BACK: "rolled_back",
}


@dataclass(frozen=True)
class RunFacts:
    """What is known of the run as a whole."""

    action: str
    release: str
    started: str
    seconds: float
    exit_code: ExitCode


def run_result(fleet: Fleet, code: ExitCode) -> str:
    """One word for the whole run: ``ok``, ``noop`` (nothing changed anywhere) or the failure."""
    if code != ExitCode.OK:
        return RESULT_OF_CODE.get(code, "failed")
    if fleet.slots and all(slot.result == HostResult.NOOP for slot in fleet.slots):
        return "noop"
    return "ok"


def host_steps(records: list[StepRecord], alias: str) -> list[StepRecord]:
    return [r for r in records if r.host == alias]


def step_dict(record: StepRecord) -> dict[str, Any]:
    return {"name": record.name, "result": "ok" if record.status == "ok" else "failed",
            "seconds": round(record.seconds, 3), "detail": record.detail}


def host_release(slot: Slot, release: str) -> str | None:
    """The release live on the host after the run, as far as the run knows."""
    if slot.result == HostResult.OK and release:
        return release
    if slot.run is not None:
        return slot.run.facts.get("current") or None
    return None


def document(fleet: Fleet, records: list[StepRecord], facts: RunFacts) -> dict[str, Any]:
    """The run as one JSON-ready document: per host its outcome, live release, steps and health check."""
    hosts: dict[str, Any] = {}
    for slot in fleet.slots:
        steps = host_steps(records, slot.alias)
        health = [s for s in steps if s.name == "health"]
        hosts[slot.alias] = {
            "stage": slot.stage.name,
            "hostname": slot.host.hostname,
            "result": str(_finished(slot)),
            "exit_code": int(slot.code),
            "release": host_release(slot, facts.release),
            "previous": slot.run.facts.get("previous_release") if slot.run else None,
            "round_trips": slot.run.conn.round_trips if slot.run else 0,
            "seconds": round(sum(s.seconds for s in steps), 3),
            "steps": [step_dict(s) for s in steps],
            "health": step_dict(health[-1]) if health else None,
            "error": slot.message or None,
        }
    return {"wsgideploy": SCHEMA_VERSION, "action": facts.action, "release": facts.release or None,
            "result": run_result(fleet, facts.exit_code), "exit_code": int(facts.exit_code),
            "started": facts.started, "seconds": round(facts.seconds, 3), "hosts": hosts}


def with_commits(doc: Mapping[str, Any], commits: Mapping[str, str | None]) -> dict[str, Any]:
    """``doc`` with the git commit of the release: ``commit`` after ``release`` (the full sha,
    ``+dirty`` when a working tree with changes shipped; null outside git, or when the hosts
    got different commits), and each host's own ``commit`` after its ``release``."""
    revisions = set(commits.values())
    out = _after_release(doc, revisions.pop() if len(revisions) == 1 else None)
    if isinstance(out.get("hosts"), Mapping):
        out["hosts"] = {alias: _after_release(host, commits.get(alias)) if isinstance(host, Mapping) else host
                        for alias, host in out["hosts"].items()}
    return out


def _after_release(mapping: Mapping[str, Any], commit: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        out[key] = value
        if key == "release":
            out["commit"] = commit
    out.setdefault("commit", commit)
    return out


def summary_lines(fleet: Fleet, records: list[StepRecord], facts: RunFacts) -> list[str]:
    """One screen: a line per host with its outcome, release, time and health check."""
    rows = [("host", "result", "live release", "steps", "time", "health")]
    for slot in fleet.slots:
        steps = host_steps(records, slot.alias)
        health = [s for s in steps if s.name == "health"]
        check = (health[-1].detail if health[-1].status == "ok" else "FAILED") if health else "-"
        rows.append((slot.alias, _result_word(slot), host_release(slot, facts.release) or "-",
                     str(len(steps)), f"{sum(s.seconds for s in steps):.2f}s", check))
    table = format_table(rows)
    word = run_result(fleet, facts.exit_code)
    head = f"{facts.action} {facts.release} " if facts.release else f"{facts.action} "
    return ["", f"{head}{word.upper()} in {facts.seconds:.2f}s (exit {int(facts.exit_code)})"] + table


def _finished(slot: Slot) -> HostResult:
    """The host's result, with an unfinished one read from its exit code."""
    if slot.result == HostResult.PENDING:
        return HostResult.FAILED if slot.failed else HostResult.OK
    return slot.result


def _result_word(slot: Slot) -> str:
    return str(_finished(slot)).replace("_", " ")


def closing_line(action: str, hosts: Sequence[str], failed: Sequence[str], seconds: float,
                 interrupted: bool = False, unchanged: bool = False, log_path: str = "") -> tuple[str, str]:
    """The last line of every run, and its outcome word (for colour): what, how it went, hosts, time.

    ``deploy ok: 1 host in 3.2s``; ``deploy FAILED on web2 (1 of 3 hosts) in 4.1s: see <log>``.
    A failed or interrupted run points at its local log.
    """
    count = f"{len(hosts)} host{'' if len(hosts) == 1 else 's'}"
    see = f": see {log_path}" if log_path else ""
    if interrupted:
        return f"{action} INTERRUPTED: {count} in {seconds:.1f}s{see}", "INTERRUPTED"
    if failed:
        names = ", ".join(failed)
        return f"{action} FAILED on {names} ({len(failed)} of {count}) in {seconds:.1f}s{see}", "FAILED"
    if unchanged:
        return f"{action} ok (unchanged): {count} in {seconds:.1f}s", "ok"
    return f"{action} ok: {count} in {seconds:.1f}s", "ok"


def fleet_closing_line(action: str, fleet: Fleet, seconds: float, interrupted: bool = False,
                       errored: bool = False, log_path: str = "") -> tuple[str, str]:
    """`closing_line` for a fleet: its hosts, the ones that failed (in order), whether all were no-ops.
    ``errored``: the run stopped on an error of no host (it still reads as failed)."""
    failed = [slot.alias for slot in fleet.failures()]
    if errored and not failed:
        return f"{action} FAILED in {seconds:.1f}s" + (f": see {log_path}" if log_path else ""), "FAILED"
    unchanged = bool(fleet.slots) and all(slot.result == HostResult.NOOP for slot in fleet.slots)
    return closing_line(action, [slot.alias for slot in fleet.slots], failed, seconds, interrupted, unchanged,
                        log_path if (failed or interrupted) else "")
