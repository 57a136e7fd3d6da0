"""``logs``: the app's logs on each host."""
from __future__ import annotations


from typing import TYPE_CHECKING

from invoke import Context, task
from invoke.exceptions import Exit

from ..errors import ExitCode
from ..output import stop_writing_stdout
from ..rollout import DEFAULT_PARALLEL
from .runner import ROLES_HELP, exit_if_failed, run_on_hosts, selected_or_exit

if TYPE_CHECKING:
    from ..hostrun import HostRun

FOLLOW_FOREVER = 7 * 24 * 3600.0  # --follow runs until Ctrl-C


def _show(run: HostRun, lines: int, follow: bool, collect: list[str] | None = None) -> None:
    """Print the host's log lines as they arrive, or add them to ``collect`` to print later."""
    from ..commands import logs as log_commands
    front = run.proxy
    script = log_commands.tail(run.layout, lines, follow,
                               front.log_files(run.stage.app.name, run.stage.host_vars(run.host)), front.log_group)

    def take(line: str) -> None:
        if line.startswith("wsgideploy-"):
            return
        if collect is None:
            run.out.line(run.alias, line)
        else:
            collect.append(line)
    try:
        result = run.conn.run_script(script, timeout=FOLLOW_FOREVER if follow else None, on_line=take)
    except BrokenPipeError:  # the reader went away (`fab logs | head`): stop quietly
        stop_writing_stdout()
        return
    if not result.ok and not follow:
        run.out.error(run.alias, result.stderr.strip() or f"exit code {result.exit_code}")


@task(help={"lines": "How many lines of each log to show (default 50).",
            "follow": "Keep printing new lines until Ctrl-C (one host only).",
            "roles": ROLES_HELP})
def logs(c: Context, lines: int = 50, follow: bool = False, roles: str | None = None) -> None:
    """Show the last lines of the app's and app server's logs (shared/log) and the front server's logs of the app (/var/log/<front>/<app>.*.log; readable in the group adm) on each host."""
    targets = selected_or_exit(c, roles)
    if follow and len(targets) > 1:
        raise Exit("wsgideploy: --follow takes one host (-H alias, or --roles matching one host)", code=ExitCode.USAGE)
    if len(targets) == 1:
        run_on_hosts(c, lambda run: _show(run, lines, follow), stop_on_failure=False, roles=roles)
        return
    collected: dict[str, list[str]] = {alias: [] for alias in (h.alias for _, h in targets)}
    fleet = run_on_hosts(c, lambda run: _show(run, lines, False, collected[run.alias]), stop_on_failure=False,
                         parallel=DEFAULT_PARALLEL, roles=roles, exit_on_failure=False)
    try:
        for slot in fleet.slots:
            for line in collected[slot.alias]:
                fleet.out.line(slot.alias, line)
    except BrokenPipeError:
        stop_writing_stdout()
        return
    exit_if_failed(fleet)
