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
from .app_server import PidfileServer, ServerContext, SystemdMode

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


class Uwsgi(PidfileServer, SystemdMode):
    """uWSGI behind nginx through its pidfile and master FIFO: a chain reload (``c``), or a full
    graceful reload (``r``) when the master's options or uWSGI version changed."""

    name = "uwsgi"
    fronts = ("nginx",)
    upstream = "uwsgi-unix"  # nginx uwsgi_pass to the unix socket in shared/run
    # uWSGI compiles (16-57 s measured on 2 cores). Every venv build runs pip with
    # PIP_USE_PEP517=1 (commands/venv.py), so pip builds a wheel and keeps it in the deploy user's
    # wheel cache: every later venv installs it in under a second. Without it, Debian 12's pip 23.0
    # uses the legacy `setup.py install`, which caches nothing and compiles uWSGI every time.
    packages = ("uwsgi",)
    host_packages = ("build-essential", "python3-dev")  # pip compiles uWSGI (no binary wheel on PyPI)
    config_templates = {"uwsgi.ini": "uwsgi.ini.j2", "uwsgi_app.py": "uwsgi_app.py.j2"}
    recipes = ("process", "pidfile", "app_check", "uwsgi")
    upgrade_run = "uwsgi_upgrade"
    stop_run = "uwsgi_stop"        # ``q`` on the master FIFO; KILL only past the timeout
    status_run = "uwsgi_status"    # the master pid, its workers and the live release
    check_run = "uwsgi_check"
    # Under systemd: SIGTERM with die-on-term stops uWSGI at once, so the unit stops it with `q` on
    # the instance's master FIFO (requests in flight finish), and waits for the master to exit.
    exec_stop = ('/bin/sh -c "[ -p \\"$$WSGIDEPLOY_FIFO\\" ] && [ -n \\"$${MAINPID:-}\\" ] || exit 0; '
                 'timeout 10 sh -c \'printf q > \\"$$1\\"\' sh \\"$$WSGIDEPLOY_FIFO\\" || exit 0; '
                 'while kill -0 \\"$$MAINPID\\" 2>/dev/null; do sleep 0.1; done"')

    def values(self, ctx: ServerContext) -> dict[str, str | int]:
        """What ``pidfile.sh`` and ``uwsgi.sh`` read: the layout's paths and the timeouts."""
        layout = ctx.layout
        return {"name": "uWSGI", "pidfile": pidfile(layout), "fifo": f"{layout.run}/{FIFO}", "run": layout.run,
                "marker": "uwsgi", "root": layout.root, "current": layout.current,
                "live_ini": f"{layout.live_config_dir}/uwsgi.ini", "logfile": f"{layout.log}/uwsgi.log",
                "also_log": f"{layout.log}/uwsgi.stdout.log", "stdout_log": f"{layout.log}/uwsgi.stdout.log",
                "running": f"{layout.run}/{RUNNING}", "socket": f"{layout.run}/{SOCKET}",
                "START_TIMEOUT": int(ctx.timeout), "GRACEFUL_TIMEOUT": int(ctx.graceful_timeout),
                "RESEND_AFTER": RESEND_AFTER}

    def check_values(self, ctx: ServerContext, release_id: str) -> dict[str, str | int]:
        """The check (``uwsgi_check``) also needs the ``[check]`` section's socket and the config
        directory: it parses ``[uwsgi]`` with ``strict``, then loads the app once with ``need-app``."""
        layout = ctx.layout
        return {**super().check_values(ctx, release_id), "check_socket": f"{layout.run}/{CHECK_SOCKET}",
                "config_dir_name": layout.config_dir_name}

    def unit_exec(self, ctx: ServerContext, slot_dir: str, socket: str) -> tuple[str, dict[str, str]]:
        """uWSGI of the slot's venv with the ``[slot]`` section of the slot's uwsgi.ini (its own socket,
        pidfile and FIFO: ``uwsgi.<slot>.*``; the unit's WSGIDEPLOY_SLOT names the slot)."""
        ini = f"{slot_dir}/{ctx.layout.config_dir_name}/uwsgi.ini:slot"
        return (f'"{slot_dir}/venv/bin/uwsgi" --ini "{ini}"',
                {"WSGIDEPLOY_FIFO": f"{ctx.layout.run}/uwsgi.%i.fifo"})
