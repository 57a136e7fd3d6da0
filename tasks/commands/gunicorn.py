"""Control gunicorn through its pidfile.

The upgrade recipe (see docs/gunicorn.md): gunicorn is started as
``<root>/current/venv/bin/python <root>/current/venv/bin/gunicorn -c
<root>/current/.wsgideploy/gunicorn.conf.py``. On USR2 the master re-executes
that same command line, which now resolves through the new ``current`` to the
new release's code, config and venv. Its workers touch a ready marker once the
app has loaded; only then is the old master sent TERM (a graceful stop). If the
new master never gets ready, it is stopped and the old one keeps serving.
"""
from __future__ import annotations

from ..layout import Layout
from ..modes import ServerContext
from .recipe import Script

PACKAGES = ("gunicorn",)
CONFIG_TEMPLATES = {"gunicorn.conf.py": "gunicorn.conf.py.j2"}
UPSTREAM = "http-unix"  # nginx proxy_pass to the unix socket in shared/run
# tasks/recipes/*.sh: every function the scripts below call
RECIPES = ("process", "pidfile", "app_check", "gunicorn")


def _values(ctx: ServerContext, **extra: str | int) -> dict[str, str | int]:
    """What ``pidfile.sh`` and ``gunicorn.sh`` read: the layout's paths and the timeouts."""
    layout: Layout = ctx.layout
    return {"name": "gunicorn", "pidfile": layout.gunicorn_pidfile, "run": layout.run, "marker": "gunicorn",
            "logfile": f"{layout.log}/gunicorn.error.log", "stdout_log": f"{layout.log}/gunicorn.stdout.log",
            "current": layout.current, "live_config": layout.live_config_dir,
            "config_dir_name": layout.config_dir_name,
            "START_TIMEOUT": int(ctx.timeout), "GRACEFUL_TIMEOUT": int(ctx.graceful_timeout), **extra}


def start(ctx: ServerContext) -> str:
    """Start gunicorn unless its pidfile names a live master (a stale pidfile is replaced)."""
    return Script("pidfile_start", _values(ctx), RECIPES).text()


def upgrade(ctx: ServerContext, start_if_stopped: bool = True) -> str:
    """Replace the running master with one started from ``current`` (USR2, ready, TERM old).

    With ``start_if_stopped`` a stopped server is simply started; otherwise that is an error.
    """
    return Script("gunicorn_upgrade", _values(ctx, start_if_stopped=int(start_if_stopped)), RECIPES).text()


def stop(ctx: ServerContext) -> str:
    """Stop gunicorn gracefully (TERM) through its pidfile; KILL only past the timeout."""
    return Script("gunicorn_stop", _values(ctx), RECIPES).text()


def status(ctx: ServerContext) -> str:
    """Report the master pid (if alive) and the live release as facts."""
    return Script("pidfile_status", _values(ctx), RECIPES).text()


def check(ctx: ServerContext, release_id: str) -> str:
    """Load the app with ``gunicorn --check-config`` inside the new release, before the switch."""
    values = _values(ctx, release=ctx.layout.release(release_id), release_id=release_id,
                     check_timeout=int(ctx.timeout))
    return Script("gunicorn_check", values, RECIPES).text()
