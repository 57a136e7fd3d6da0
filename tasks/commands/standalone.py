"""Standalone WSGI containers (gevent, tornado, twisted) behind nginx: a generated runner.

Each container has no master process of its own, so wsgideploy renders a small runner per
release (``templates/standalone/<server>.py.j2`` into ``releases/<id>/.wsgideploy/<server>_runner.py``)
and controls it through its pidfile ``shared/run/<server>.pid``:

- ``start``: ``setsid <release>/venv/bin/python <release>/.wsgideploy/<server>_runner.py``, where
  ``<release>`` is what ``current`` names at that moment (resolved, so that the process keeps
  serving that release's code and venv even after ``current`` moves). The runner imports the app,
  binds the socket ``shared/run/<server>.sock`` under a temporary name, renames it over the real
  name once it listens, and touches ``shared/run/<server>.ready.<pid>``.
- ``upgrade``: start a second runner from the new ``current`` (pidfile ``<server>.pid.2``). Its
  ``rename()`` swaps, atomically, which process new connections reach; once it is ready the
  pidfile names it and the old runner gets TERM: it serves what was already queued on its socket
  and in flight, then exits. If the new runner fails before it is ready, the old one never stopped.
- ``stop``: TERM (graceful), KILL only past ``graceful_timeout`` + 5 s.

See docs/modes/standalone.md.
"""
from __future__ import annotations

from ..layout import Layout
from ..modes import ServerContext
from .recipe import Script

SERVERS = ("gevent", "tornado", "twisted")
# PyPI requirements put into the app's venv (the minimums for the APIs the runners use).
PACKAGES: dict[str, tuple[str, ...]] = {
    "gevent": ("gevent>=23.9",),
    "tornado": ("tornado>=6.3",),        # WSGIContainer(executor=...)
    "twisted": ("twisted>=22.10",),
}
UPSTREAM = "http-unix"  # nginx proxy_pass to the unix socket shared/run/<server>.sock (as gunicorn)
# tasks/recipes/*.sh: every function the scripts below call
RECIPES = ("process", "pidfile", "app_check", "standalone")


def runner_file(server: str) -> str:
    """The runner's file name in ``releases/<id>/.wsgideploy/``."""
    return f"{server}_runner.py"


def config_templates(server: str) -> dict[str, str]:
    return {runner_file(server): f"standalone/{server}.py.j2"}


def pidfile(layout: Layout, server: str) -> str:
    return f"{layout.run}/{server}.pid"


def socket_path(layout: Layout, server: str) -> str:
    """The unix socket nginx proxies to (``socket`` in the templates' context)."""
    return f"{layout.run}/{server}.sock"


def _values(ctx: ServerContext, server: str, **extra: str | int) -> dict[str, str | int]:
    """What ``pidfile.sh`` and ``standalone.sh`` read: the server, the layout's paths and the timeouts."""
    layout: Layout = ctx.layout
    return {"name": server, "server": server, "pidfile": pidfile(layout, server), "run": layout.run,
            "marker": server, "current": layout.current, "runner": runner_file(server),
            "config_dir_name": layout.config_dir_name, "logfile": f"{layout.log}/{server}.error.log",
            "stdout_log": f"{layout.log}/{server}.stdout.log",
            "START_TIMEOUT": int(ctx.timeout), "GRACEFUL_TIMEOUT": int(ctx.graceful_timeout), **extra}


def start(ctx: ServerContext, server: str) -> str:
    """Start the runner unless its pidfile names a live one (a stale pidfile is replaced)."""
    return Script("pidfile_start", _values(ctx, server), RECIPES).text()


def upgrade(ctx: ServerContext, server: str, start_if_stopped: bool = True) -> str:
    """Start a runner of ``current`` beside the running one; once its socket is renamed over the
    live one and it is ready, TERM the old runner (which finishes what it had). Zero downtime.

    With ``start_if_stopped`` a stopped server is simply started; otherwise that is an error.
    """
    values = _values(ctx, server, start_if_stopped=int(start_if_stopped))
    return Script("standalone_upgrade", values, RECIPES).text()


def stop(ctx: ServerContext, server: str) -> str:
    """Stop the runner gracefully (TERM) through its pidfile; KILL only past the timeout.

    Runners named by a pidfile an interrupted upgrade left (``.pid.2``, ``.old.pid``) are stopped too.
    """
    return Script("standalone_stop", _values(ctx, server), RECIPES).text()


def status(ctx: ServerContext, server: str) -> str:
    """Report the runner's pid (if alive) and the live release as facts."""
    return Script("pidfile_status", _values(ctx, server), RECIPES).text()


def check(ctx: ServerContext, server: str, release_id: str) -> str:
    """Load the app and the server package with the new release's runner, in its own venv.

    ``FLASK_RUN_FROM_CLI=true`` turns a stray ``app.run()`` into a no-op, and ``timeout`` bounds
    an import that hangs. Nothing is bound and no pidfile is written.
    """
    values = _values(ctx, server, release=ctx.layout.release(release_id), release_id=release_id,
                     check_timeout=int(ctx.timeout))
    return Script("standalone_check", values, RECIPES).text()
