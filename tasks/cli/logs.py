"""``logs``: the app's logs on each host."""
from __future__ import annotations

import os
import sys

from invoke import Context, task
from invoke.exceptions import Exit

from ..commands import logs as log_commands
from ..errors import ExitCode
from ..steps import HostRun
from .runner import run_on_hosts, selected_or_exit

FOLLOW_FOREVER = 7 * 24 * 3600.0  # --follow runs until Ctrl-C


def _show(run: HostRun, lines: int, follow: bool) -> None:
    script = log_commands.tail(run.layout, lines, follow)
    try:
        result = run.conn.run_script(script, timeout=FOLLOW_FOREVER if follow else None,
                                     on_line=lambda line: line.startswith("wsgideploy-") or run.out.line(run.alias, line))
    except BrokenPipeError:  # the reader went away (`fab logs | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    if not result.ok and not follow:
        run.out.error(run.alias, result.stderr.strip() or f"exit code {result.exit_code}")


@task(help={"lines": "How many lines of each log to show (default 50).",
            "follow": "Keep printing new lines until Ctrl-C (one host only)."})
def logs(c: Context, lines: int = 50, follow: bool = False) -> None:
    """Show the last lines of the app, gunicorn and nginx logs in shared/log on each host."""
    if follow and len(selected_or_exit(c)) > 1:
        raise Exit("wsgideploy: --follow takes one host (-H alias)", code=ExitCode.USAGE)
    run_on_hosts(c, lambda run: _show(run, lines, follow), stop_on_failure=False)
