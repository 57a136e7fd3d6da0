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
from .app_server import PidfileServer, ServerContext, SystemdMode


def pidfile(layout: Layout) -> str:
    """``shared/run/gunicorn.pid``: the master that serves."""
    return f"{layout.run}/gunicorn.pid"


class Gunicorn(PidfileServer, SystemdMode):
    """gunicorn behind nginx, through its pidfile: USR2, the new master ready, TERM the old one."""

    name = "gunicorn"
    fronts = ("nginx",)
    upstream = "http-unix"  # nginx proxy_pass to the unix socket in shared/run
    packages = ("gunicorn",)
    config_templates = {"gunicorn.conf.py": "gunicorn.conf.py.j2"}
    recipes = ("process", "pidfile", "app_check", "gunicorn")
    upgrade_run = "gunicorn_upgrade"
    stop_run = "gunicorn_stop"      # TERM; KILL only past graceful_timeout + 5 s
    check_run = "gunicorn_check"    # gunicorn --check-config inside the new release

    def values(self, ctx: ServerContext) -> dict[str, str | int]:
        """What ``pidfile.sh`` and ``gunicorn.sh`` read: the layout's paths and the timeouts."""
        layout = ctx.layout
        return {"name": "gunicorn", "pidfile": pidfile(layout), "run": layout.run, "marker": "gunicorn",
                "logfile": f"{layout.log}/gunicorn.error.log", "stdout_log": f"{layout.log}/gunicorn.stdout.log",
                "current": layout.current, "live_config": layout.live_config_dir, "socket": f"{layout.run}/gunicorn.sock",
                "config_dir_name": layout.config_dir_name,
                "START_TIMEOUT": int(ctx.timeout), "GRACEFUL_TIMEOUT": int(ctx.graceful_timeout)}

    def unit_exec(self, ctx: ServerContext, slot_dir: str, socket: str) -> tuple[str, dict[str, str]]:
        """gunicorn from the slot's release and venv, bound to the slot's socket, with its own pidfile
        (the command line overrides the config's ``bind`` and ``pidfile``); the config's ``chdir`` is
        the slot (WSGIDEPLOY_CHECK_RELEASE). Paths come escaped for a double-quoted unit word."""
        venv = f"{slot_dir}/venv/bin"
        command = (f'"{venv}/python" "{venv}/gunicorn" -c "{slot_dir}/{ctx.layout.config_dir_name}/gunicorn.conf.py" '
                   f'--bind "unix:{socket}" --pid "{ctx.layout.run}/gunicorn.%i.pid"')
        return command, {"WSGIDEPLOY_CHECK_RELEASE": slot_dir}
