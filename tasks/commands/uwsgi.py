"""Control uWSGI through its pidfile and master FIFO (see docs/modes/uwsgi.md).

uWSGI runs as ``<root>/current/venv/bin/uwsgi --ini <root>/current/.wsgideploy/uwsgi.ini``
(cwd ``<root>``), with ``lazy-apps``: the master never imports the app, each worker
loads it after the fork from ``.wsgideploy/uwsgi_app.py`` through ``current``. Every
worker that loaded the app creates ``<run>/uwsgi.ready.<pid>`` (``uwsgi.failed.<pid>``
when loading raised), so "ready" means "the app is loaded", not "a process exists".

- ``start``: start the master, wait until as many workers as ``processes`` are ready.
- ``upgrade``: a chain reload: write ``c`` to the FIFO. The master replaces its workers
  one at a time; each new one loads the code and venv ``current`` names now. Done when
  every worker that ran before is gone, every worker has loaded the app and uWSGI has
  logged the end of the chain. A worker that fails to load fails the step at once
  (there is no guard inside uWSGI: a broken release would replace the workers one by
  one, which is why ``check`` runs before the switch and the deploy rolls back a failed
  upgrade). When the master itself must change (other ``[uwsgi]`` options, another
  uWSGI version in the live venv), a graceful full reload (``r``) instead.
- ``stop``: ``q`` on the FIFO (graceful: requests in flight finish), KILL only past the timeout.
- ``check``: run the new release's uwsgi with the ``[check]`` section of its own
  ``uwsgi.ini`` (same app options, the release's own paths, ``need-app``), which loads
  the app once and exits.
"""
from __future__ import annotations

from ..layout import Layout
from ..modes import ServerContext
from .recipe import Script

# uWSGI compiles (16-57 s measured on 2 cores). Every venv build runs pip with
# PIP_USE_PEP517=1 (commands/venv.py), so pip builds a wheel and keeps it in the deploy user's
# wheel cache: every later venv installs it in under a second. Without it, Debian 12's pip 23.0
# uses the legacy `setup.py install`, which caches nothing and compiles uWSGI every time.
PACKAGES = ("uwsgi",)
CONFIG_TEMPLATES = {"uwsgi.ini": "uwsgi.ini.j2", "uwsgi_app.py": "uwsgi_app.py.j2"}
UPSTREAM = "uwsgi-unix"  # nginx uwsgi_pass to the unix socket in shared/run

# Files in shared/run (the templates name the same ones).
PIDFILE = "uwsgi.pid"
FIFO = "uwsgi.fifo"
SOCKET = "uwsgi.sock"
CHECK_SOCKET = "uwsgi.check.sock"
# What the running master started with: the [uwsgi] options of its ini and its uWSGI version.
RUNNING = "uwsgi.running"
# Seconds without progress after which ``c`` (or ``r``) is written again: uWSGI ignores
# a ``c`` that arrives while an earlier chain reload is still being finished.
RESEND_AFTER = 3


def pidfile(layout: Layout) -> str:
    return f"{layout.run}/{PIDFILE}"


# tasks/recipes/*.sh: every function the scripts below call
RECIPES = ("process", "pidfile", "app_check", "uwsgi")


def _values(ctx: ServerContext, **extra: str | int) -> dict[str, str | int]:
    """What ``pidfile.sh`` and ``uwsgi.sh`` read: the layout's paths and the timeouts."""
    layout: Layout = ctx.layout
    return {"name": "uWSGI", "pidfile": pidfile(layout), "fifo": f"{layout.run}/{FIFO}", "run": layout.run,
            "marker": "uwsgi", "root": layout.root, "current": layout.current,
            "live_ini": f"{layout.live_config_dir}/uwsgi.ini", "logfile": f"{layout.log}/uwsgi.log",
            "also_log": f"{layout.log}/uwsgi.stdout.log", "stdout_log": f"{layout.log}/uwsgi.stdout.log",
            "running": f"{layout.run}/{RUNNING}", "socket": f"{layout.run}/{SOCKET}",
            "START_TIMEOUT": int(ctx.timeout), "GRACEFUL_TIMEOUT": int(ctx.graceful_timeout),
            "RESEND_AFTER": RESEND_AFTER, **extra}


def start(ctx: ServerContext) -> str:
    """Start uWSGI unless its pidfile names a live master (a stale pidfile is replaced)."""
    return Script("pidfile_start", _values(ctx), RECIPES).text()


def upgrade(ctx: ServerContext, start_if_stopped: bool = True) -> str:
    """Make the running master serve ``current`` (code and venv) without dropping requests.

    A chain reload (``c``): new workers one at a time, the master stays. When the
    ``[uwsgi]`` options of the live ``uwsgi.ini`` differ from those the master started
    with (other workers, timeouts, a template change), or the live venv has another
    uWSGI version than the master runs, a full graceful reload (``r``) instead: the master re-executes the live release's uwsgi with the new ini, keeping
    its socket, while requests wait in the socket's backlog. With ``start_if_stopped``
    a stopped server is simply started; otherwise that is an error.
    """
    return Script("uwsgi_upgrade", _values(ctx, start_if_stopped=int(start_if_stopped)), RECIPES).text()


def stop(ctx: ServerContext) -> str:
    """Stop uWSGI gracefully (``q`` on the master FIFO); KILL only past the timeout."""
    return Script("uwsgi_stop", _values(ctx), RECIPES).text()


def status(ctx: ServerContext) -> str:
    """Report the master pid (if alive), its workers and the live release as facts."""
    return Script("uwsgi_status", _values(ctx), RECIPES).text()


def check(ctx: ServerContext, release_id: str) -> str:
    """Load the app once with the new release's uwsgi and the ``[check]`` section of its ini.

    First the ``[uwsgi]`` section is parsed with ``strict`` (an unknown directive fails;
    nothing starts). Then the ``[check]`` section, which names the release's own venv and
    code (``current`` still names the live one, or nothing on a first deploy), loads the
    app with ``need-app`` (exit 22 when it does not load) and exits 0 once it has. ``FLASK_RUN_FROM_CLI=true`` turns a
    stray ``app.run()`` into a no-op, and ``timeout`` bounds an import that hangs.
    """
    layout = ctx.layout
    values = _values(ctx, release=layout.release(release_id), release_id=release_id,
                     check_timeout=int(ctx.timeout), check_socket=f"{layout.run}/{CHECK_SOCKET}",
                     config_dir_name=layout.config_dir_name)
    return Script("uwsgi_check", values, RECIPES).text()
