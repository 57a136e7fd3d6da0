"""``releases``: what is on each host, and its recent deploy log."""
from __future__ import annotations

import json

from invoke import Context, task

from ..steps import HostRun, read_releases
from .runner import run_on_hosts


def _format_log(line: str) -> str:
    try:
        e = json.loads(line)
    except ValueError:
        return line
    message = f"  {e['message']}" if e.get("message") else ""
    return (f"{e.get('started', '?')}  {e.get('action', '?'):<8} {e.get('release') or '-':<17} "
            f"{e.get('result', '?'):<11} {e.get('duration', 0):>6.1f}s  {e.get('user', '?')}@{e.get('from', '?')}"
            f"  {e.get('source') or ''}{message}")


def _list(run: HostRun, log_lines: int) -> None:
    found = read_releases(run, log_lines)
    if not found.ids:
        run.out.line(run.alias, "no releases yet")
    for rid in found.ids:
        marks = ["live"] if rid == found.current else []
        marks += ["bad: rollback skips it"] if rid in found.bad else []
        run.out.line(run.alias, f"{'*' if rid == found.current else ' '} {rid}"
                     + (f"  ({', '.join(marks)})" if marks else ""))
    if found.log:
        run.out.line(run.alias, f"deploy log (last {len(found.log)}):")
        for line in found.log:
            run.out.line(run.alias, "  " + _format_log(line))


@task(help={"log": "How many deploy log entries to show (default 10)."})
def releases(c: Context, log: int = 10) -> None:
    """List the releases on each host (`*` live, bad ones marked) and the last deploy log entries."""
    run_on_hosts(c, lambda run: _list(run, log), stop_on_failure=False)
