"""``releases``: what is on each host, and its recent deploy log."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from invoke import Context, task

from ..rollout import DEFAULT_PARALLEL
from .runner import ROLES_HELP, exit_if_failed, run_on_hosts, selected_or_exit


def _format_log(line: str) -> str:
    from ..record import short_revision
    try:
        e = json.loads(line)
    except ValueError:
        return line
    message = f"  {e['message']}" if e.get("message") else ""
    return (f"{e.get('started', '?')}  {e.get('action', '?'):<8} {e.get('release') or '-':<17} "
            f"{e.get('result', '?'):<11} {e.get('duration', 0):>6.1f}s  {e.get('user', '?')}@{e.get('from', '?')}"
            f"  {short_revision(str(e['source'])) if e.get('source') else ''}{message}")


if TYPE_CHECKING:  # imported when the task runs: `--list` needs no SSH
    from ..fleet import Fleet
    from ..hostrun import HostRun
    from ..steps import HostReleases

COMMIT_LOG_LINES = 100  # deploy log lines read to find each release's commit (fewer are shown)


def release_commits(log: list[str]) -> dict[str, str]:
    """Each release's git commit (``source``), from the log entry of the deploy that made it.

    No-op entries are skipped: they name the live release, but with the commit of
    their own run. Entries from before commits were recorded say nothing.
    """
    commits: dict[str, str] = {}
    for line in log:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if (isinstance(e, dict) and e.get("action") == "deploy" and e.get("result") != "noop"
                and e.get("release") and e.get("source")):
            commits.setdefault(str(e["release"]), str(e["source"]))
    return commits


def _list(run: HostRun, log_lines: int, show: bool) -> HostReleases:
    from ..record import short_revision
    from ..steps import read_releases
    found = read_releases(run, max(log_lines, COMMIT_LOG_LINES) if show else log_lines)
    if not show:
        return found
    if not found.ids:
        run.out.line(run.alias, "no releases yet")
    commits = release_commits(found.log)
    for rid in found.ids:
        marks = ["live"] if rid == found.current else []
        marks += ["bad: rollback skips it"] if rid in found.bad else []
        commit = f"  {short_revision(commits[rid])}" if rid in commits else ""
        run.out.line(run.alias, f"{'*' if rid == found.current else ' '} {rid}{commit}"
                     + (f"  ({', '.join(marks)})" if marks else ""))
    shown = found.log[-log_lines:] if log_lines else []
    if shown:
        run.out.line(run.alias, f"deploy log (last {len(shown)}):")
        for line in shown:
            run.out.line(run.alias, "  " + _format_log(line))
    return found


def _last_deploy(found: HostReleases) -> str:
    """``<time> <action> <result> by <user>`` of the newest log entry, or '-'."""
    if not found.log:
        return "-"
    try:
        e = json.loads(found.log[-1])
    except ValueError:
        return "?"
    return f"{e.get('started', '?')} {e.get('action', '?')} {e.get('result', '?')} by {e.get('user', '?')}"


def fleet_rows(fleet: Fleet) -> list[tuple[str, ...]]:
    """A row per host: live release, the one a rollback would go to, how many, bad ones, last run."""
    from ..steps import HostReleases
    rows: list[tuple[str, ...]] = [("host", "live", "rollback to", "releases", "bad", "last run")]
    for slot in fleet.slots:
        found = slot.value
        if not isinstance(found, HostReleases):
            rows.append((slot.alias, str(slot.result), "", "", "", ""))
            continue
        older = [r for r in found.ids if found.current and r < found.current and r not in found.bad]
        rows.append((slot.alias, found.current or "none", older[-1] if older else "-", str(len(found.ids)),
                     str(len(found.bad & set(found.ids))), _last_deploy(found)))
    return rows


@task(help={"log": "How many deploy log entries to show (default 10; for many hosts the table shows the last one).",
            "roles": ROLES_HELP})
def releases(c: Context, log: int = 0, roles: str | None = None) -> None:
    """List the releases on each host (`*` live, bad ones marked) and the last deploy log entries (a table for many hosts)."""
    one_host = len(selected_or_exit(c, roles)) == 1
    fleet = run_on_hosts(c, lambda run: _list(run, log or (10 if one_host else 1), one_host),
                         stop_on_failure=False, parallel=DEFAULT_PARALLEL, roles=roles, exit_on_failure=False)
    if not one_host:
        fleet.out.line("", "")
        from ..output import format_table
        for line in format_table(fleet_rows(fleet)):
            fleet.out.line("", line)
    exit_if_failed(fleet)
