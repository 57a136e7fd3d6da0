"""The host's deploy log (``.deploy/log.jsonl``) and marks on releases."""
from __future__ import annotations

from ..layout import Layout
from ..protocol import LOG_MARK
from .shell import q

BAD_MARK = ".wsgideploy-bad"


def log_path(layout: Layout) -> str:
    return f"{layout.deploy_dir}/log.jsonl"


def append_log(layout: Layout, entry_json: str) -> str:
    """Script lines that append one JSON line to the deploy log."""
    return f"printf '%s\\n' {q(entry_json)} >> {q(log_path(layout))}\n"


def append_log_timed(layout: Layout, entry_json: str, before: float) -> str:
    """Script lines that append ``entry_json``, whose ``"duration": null`` becomes ``before`` seconds plus the
    script's time so far (since ``WSGIDEPLOY_T0``, which every combined script exports)."""
    head, found, tail = entry_json.partition('"duration": null')
    if not found:
        raise ValueError('the entry has no "duration": null to fill in')
    return (f"wsgideploy_took=$(awk -v t0=\"${{WSGIDEPLOY_T0/,/.}}\" -v now=\"${{EPOCHREALTIME/,/.}}\" "
            f"'BEGIN {{ printf \"%.2f\", {before:.3f} + now - t0 }}')\n"
            f"printf '%s\"duration\": %s%s\\n' {q(head)} \"$wsgideploy_took\" {q(tail)} >> {q(log_path(layout))}\n")


def read_log(layout: Layout, lines: int) -> str:
    """Script lines that print the last ``lines`` log entries as ``wsgideploy-log:`` lines."""
    return f"tail -n {int(lines)} {q(log_path(layout))} 2>/dev/null | sed 's/^/{LOG_MARK}/' || true\n"


def mark_bad(layout: Layout, release_id: str) -> str:
    """Script lines that mark a release as bad: ``rollback`` never picks it."""
    return f"touch {q(layout.release(release_id) + '/' + BAD_MARK)} 2>/dev/null || true\n"
