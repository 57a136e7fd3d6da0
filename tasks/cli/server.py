"""App server control: ``start``, ``stop``, ``restart``, ``reload``, ``status``.

``start``, ``stop``, ``restart`` and ``reload`` go one host at a time and stop at
the first failure (a rolling restart); ``status`` asks every host at once and,
for more than one host, shows a table.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Context, task

from ..rollout import DEFAULT_PARALLEL
from .runner import ROLES_HELP, exit_if_failed, run_on_hosts, selected_or_exit

if TYPE_CHECKING:
    from ..hostrun import HostRun


def server_action(run: HostRun, action: str) -> dict[str, str]:
    """`wsgideploy.steps.server_action`, imported when a task runs (``--list`` needs no SSH)."""
    from ..steps import server_action as act
    return act(run, action)


@task(help={"roles": ROLES_HELP})
def start(c: Context, roles: str | None = None) -> None:
    """Start the app server from the live release (its systemd unit, enabled at boot; else its pidfile)."""
    run_on_hosts(c, lambda run: server_action(run, "start"), roles=roles)


@task(help={"roles": ROLES_HELP})
def stop(c: Context, roles: str | None = None) -> None:
    """Stop the app server and [processes] gracefully, not started at boot (systemctl; else TERM, then KILL)."""
    run_on_hosts(c, lambda run: server_action(run, "stop"), roles=roles)


@task(help={"roles": ROLES_HELP})
def restart(c: Context, roles: str | None = None) -> None:
    """Restart the app server without dropping requests: a fresh instance, checked first (starts it if stopped)."""
    run_on_hosts(c, lambda run: server_action(run, "restart"), roles=roles)


@task(help={"roles": ROLES_HELP})
def reload(c: Context, roles: str | None = None) -> None:
    """Serve the live release and venv without dropping requests (a checked new instance; else a USR2 upgrade)."""
    run_on_hosts(c, lambda run: server_action(run, "reload"), roles=roles)


def read_status(run: HostRun, show: bool = True) -> dict[str, str]:
    """The app server's state, the live release and whether the app answers (printed if ``show``)."""
    from ..commands import health
    from ..protocol import parse_facts
    from ..tls import EXPIRY_WARNING_DAYS
    facts = server_action(run, "status")
    pid = facts.get("pid")
    state = f"running, pid {pid}" if pid else "stopped" + (
        f" (stale pidfile for pid {facts['stale_pid']})" if facts.get("stale_pid") else "")
    if "unit" in facts:  # under systemd: the live instance's unit, its state and restarts
        state += (f"; unit {facts['unit']} {facts.get('state', '?')}, {facts.get('enabled', '?')}, "
                  f"{facts.get('restarts', '0')} restarts, as {facts.get('user') or '?'}"
                  if facts["unit"] else "; no unit installed yet")
    app = run.stage.app
    result = run.conn.run_script(health.site_check(app, 3, None), timeout=30)
    answer = "yes" if result.ok else f"no ({result.stderr.strip().splitlines()[0] if result.stderr.strip() else 'no answer'})"
    checked = parse_facts(result.stdout)
    days = checked.get("tls_days_left", "")
    where = f"over HTTPS on port {app.tls.port}" if days else f"on port {app.listen}"
    status = {"server": app.server, "state": state, "release": facts.get("current") or "none", "answers": answer}
    if facts.get("switching"):
        status["state"] += "; go-live interrupted (unlock repairs it)"
    if days:
        status["certificate"] = f"{days} days left"
    if show:
        run.out.line(run.alias, f"app server   {app.server} {state}")
        run.out.line(run.alias, f"live release {status['release']}")
        run.out.line(run.alias, f"app answers  {answer} (GET {app.health.path} {where})")
        if days:
            run.out.line(run.alias, f"certificate  {days} days left" + (
                f" (renew it: under {EXPIRY_WARNING_DAYS} days)" if int(days) < EXPIRY_WARNING_DAYS else ""))
        if facts.get("switching"):
            run.out.line(run.alias, f"go-live      interrupted ({facts['switching'].replace(' ', ' -> ')}): "
                                    "`wsgideploy unlock` repairs it (unless a deploy is going live right now)")
        for name in run.stage.processes:
            run.out.line(run.alias, f"process      {name}: {facts.get('process_' + name, 'unknown (no systemd?)')}")
    return status


@task(help={"roles": ROLES_HELP})
def status(c: Context, roles: str | None = None) -> None:
    """Show whether the app server runs, its pid, the live release and whether the app answers (over HTTPS with [app.tls], and the certificate's days left); a table for many hosts."""
    one_host = len(selected_or_exit(c, roles)) == 1
    fleet = run_on_hosts(c, lambda run: read_status(run, show=one_host), stop_on_failure=False,
                         parallel=DEFAULT_PARALLEL, roles=roles, exit_on_failure=False)
    if not one_host:
        from ..output import format_table
        rows = [("host", "server", "state", "live release", "answers")]
        for slot in fleet.slots:
            value = slot.value if isinstance(slot.value, dict) else {}
            rows.append((slot.alias, value.get("server", slot.stage.app.server), value.get("state", slot.result),
                         value.get("release", "?"), value.get("answers", "?")))
        fleet.out.line("", "")
        for line in format_table(rows):
            fleet.out.line("", line)
    exit_if_failed(fleet)
