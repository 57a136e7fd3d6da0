"""``releases``: what is on each host."""
from __future__ import annotations

from invoke import Context, task

from ..steps import HostRun, read_releases
from .runner import run_on_hosts


def _list(run: HostRun) -> None:
    ids, current = read_releases(run)
    if not ids:
        run.out.line(run.alias, "no releases yet")
    for rid in ids:
        run.out.line(run.alias, f"{'*' if rid == current else ' '} {rid}{'  (live)' if rid == current else ''}")


@task
def releases(c: Context) -> None:
    """List the releases on each host, oldest first; `*` marks the live one."""
    run_on_hosts(c, _list, stop_on_failure=False)
