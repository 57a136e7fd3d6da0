"""Run the app as a FastCGI process with flup, and control it through its pidfile.

flup has no daemon mode and no pidfile, so wsgideploy runs it itself (see docs/modes/fastcgi.md).
Each release gets a generated runner, ``.wsgideploy/app.fcgi``: it imports the app from the
release ``current`` names, binds a unix socket and serves FastCGI there. It is started as
``<root>/current/venv/bin/python <root>/current/.wsgideploy/app.fcgi --socket ... --pidfile ...``
in a session of its own (``setsid``), so the SSH session ending never stops it.

An upgrade never stops the old process first: the new runner binds a temporary socket
(``fastcgi.new.sock``), and once it has imported the app it is renamed over the live socket
path (``rename(2)`` is atomic: a front server connecting finds one or the other, never none).
Only then is the old runner sent TERM: it serves what it had already accepted or queued, and
exits. If the new runner fails to load, it is stopped and the old one keeps serving.
"""
from __future__ import annotations

from ..layout import Layout
from ..modes import ServerContext
from .recipe import Script

PACKAGES = ("flup>=1.0.3",)
RUNNER = "app.fcgi"
CONFIG_TEMPLATES = {RUNNER: "fastcgi/app.fcgi.j2"}
UPSTREAM = "fastcgi-unix"  # nginx fastcgi_pass / lighttpd mod_fastcgi to the unix socket in shared/run
# tasks/recipes/*.sh: every function the scripts below call
RECIPES = ("process", "pidfile", "app_check", "fastcgi")


def pidfile(layout: Layout) -> str:
    """``shared/run/fastcgi.pid``: the pid of the runner that serves."""
    return f"{layout.run}/fastcgi.pid"


def socket_path(layout: Layout) -> str:
    """``shared/run/fastcgi.sock``: the socket the front server connects to."""
    return f"{layout.run}/fastcgi.sock"


def log_file(layout: Layout) -> str:
    """``shared/log/fastcgi.log``: the runners' standard output and error."""
    return f"{layout.log}/fastcgi.log"


def _values(ctx: ServerContext, **extra: str | int) -> dict[str, str | int]:
    """What ``pidfile.sh`` and ``fastcgi.sh`` read: the layout's paths and the timeouts."""
    layout: Layout = ctx.layout
    return {"name": "the FastCGI runner", "pidfile": pidfile(layout), "run": layout.run, "marker": "fastcgi",
            "sock": socket_path(layout), "newsock": f"{layout.run}/fastcgi.new.sock", "logfile": log_file(layout),
            "current": layout.current, "runner": f"{layout.live_config_dir}/{RUNNER}",
            "START_TIMEOUT": int(ctx.timeout), "STOP_TIMEOUT": int(ctx.graceful_timeout) + 10, **extra}


def _under_mod_fcgid(ctx: ServerContext) -> bool:
    """Behind Apache, mod_fcgid starts, reuses and stops the runners itself."""
    return ctx.app is not None and ctx.app.proxy == "apache"


def _script(ctx: ServerContext, run: str, **extra: str | int) -> str:
    """The script that runs ``run``; under mod_fcgid one that reports that there is nothing to do:
    after a switch, mod_fcgid starts runners of the new release (the script's path resolves to a
    new file) and lets the old ones idle out."""
    if _under_mod_fcgid(ctx):
        return Script("fastcgi_under_mod_fcgid", _values(ctx), RECIPES).text()
    return Script(run, _values(ctx, **extra), RECIPES).text()


def start(ctx: ServerContext) -> str:
    """Start the runner unless the pidfile names a live one (a stale pidfile is replaced)."""
    return _script(ctx, "pidfile_start")


def upgrade(ctx: ServerContext, start_if_stopped: bool = True) -> str:
    """Replace the running runner with one started from ``current``: new socket, rename, TERM the old.

    With ``start_if_stopped`` a stopped runner is simply started; otherwise that is an error.
    """
    return _script(ctx, "fastcgi_upgrade", start_if_stopped=int(start_if_stopped))


def stop(ctx: ServerContext) -> str:
    """Stop the runner (TERM: it answers the requests it has, then exits; KILL only past the timeout)."""
    return _script(ctx, "pidfile_stop $STOP_TIMEOUT")


def status(ctx: ServerContext) -> str:
    """Report the runner's pid (if alive) and the live release as facts."""
    return _script(ctx, "pidfile_status")


def check(ctx: ServerContext, release_id: str) -> str:
    """Load the app with the new release's runner (``--check``), in its own venv, before the switch.

    The runner is made executable (a server that spawns FastCGI apps, like mod_fcgid, executes
    it). It checks its interpreter is the release's venv, that flup imports, and imports the app
    with ``FLASK_RUN_FROM_CLI=true`` (a stray ``app.run()`` is a no-op) under ``timeout``.
    """
    layout = ctx.layout
    release = layout.release(release_id)
    values = _values(ctx, release=release, release_id=release_id, check_timeout=int(ctx.timeout),
                     release_runner=f"{release}/{layout.config_dir_name}/{RUNNER}")
    return Script("fastcgi_check", values, RECIPES).text()
