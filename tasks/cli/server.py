"""App server control: ``start``, ``stop``, ``restart``, ``reload``, ``status``."""
from __future__ import annotations

from invoke import Context, task

from ..commands import health
from ..steps import HostRun, server_action
from .runner import run_on_hosts


@task
def start(c: Context) -> None:
    """Start the app server from the live release (a stale pidfile is replaced)."""
    run_on_hosts(c, lambda run: server_action(run, "start"))


@task
def stop(c: Context) -> None:
    """Stop the app server gracefully through its pidfile (TERM; KILL only after the timeout)."""
    run_on_hosts(c, lambda run: server_action(run, "stop"))


@task
def restart(c: Context) -> None:
    """Restart the app server with a fresh master, without dropping requests (starts it if stopped)."""
    run_on_hosts(c, lambda run: server_action(run, "restart"))


@task
def reload(c: Context) -> None:
    """Reload the app server so it serves the live release and venv (USR2 upgrade, not HUP)."""
    run_on_hosts(c, lambda run: server_action(run, "reload"))


def _report_status(run: HostRun) -> None:
    facts = server_action(run, "status")
    pid = facts.get("pid")
    state = f"running, pid {pid}" if pid else "stopped" + (
        f" (stale pidfile for pid {facts['stale_pid']})" if facts.get("stale_pid") else "")
    run.out.line(run.alias, f"app server   {run.stage.app.server} {state}")
    run.out.line(run.alias, f"live release {facts.get('current') or 'none'}")
    app = run.stage.app
    result = run.conn.run_script(health.http_check(app.listen, app.health.path, app.health_host,
                                                   app.health.status, 3, address=app.listen_address or "127.0.0.1"),
                                 timeout=30)
    answer = "yes" if result.ok else f"no ({result.stderr.strip().splitlines()[0] if result.stderr.strip() else 'no answer'})"
    run.out.line(run.alias, f"app answers  {answer} (GET {app.health.path} on port {app.listen})")


@task
def status(c: Context) -> None:
    """Show whether the app server runs, its pid, the live release and whether the app answers."""
    run_on_hosts(c, _report_status, stop_on_failure=False)
