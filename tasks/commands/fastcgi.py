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
from .app_server import PidfileServer, ServerContext, SystemdMode

RUNNER = "app.fcgi"


def pidfile(layout: Layout) -> str:
    """``shared/run/fastcgi.pid``: the pid of the runner that serves."""
    return f"{layout.run}/fastcgi.pid"


def socket_path(layout: Layout) -> str:
    """``shared/run/fastcgi.sock``: the socket the front server connects to."""
    return f"{layout.run}/fastcgi.sock"


def log_file(layout: Layout) -> str:
    """``shared/log/fastcgi.log``: the runners' standard output and error."""
    return f"{layout.log}/fastcgi.log"


class FastCgi(PidfileServer, SystemdMode):
    """The app as a flup FastCGI runner (``.wsgideploy/app.fcgi``) through its pidfile: a new runner
    on a new socket, renamed over the live one, then TERM the old. Behind Apache, mod_fcgid runs
    the runners itself, and the scripts only say so."""

    name = "fastcgi"
    fronts = ("nginx", "lighttpd", "apache")
    upstream = "fastcgi-unix"  # nginx fastcgi_pass / lighttpd mod_fastcgi to the unix socket in shared/run
    packages = ("flup>=1.0.3",)
    host_packages_behind = {"apache": ("libapache2-mod-fcgid",)}  # Apache runs the runners with mod_fcgid
    config_templates = {RUNNER: "fastcgi/app.fcgi.j2"}
    recipes = ("process", "pidfile", "app_check", "fastcgi")
    upgrade_run = "fastcgi_upgrade"
    stop_run = "pidfile_stop $STOP_TIMEOUT"  # TERM: it answers the requests it has; KILL past the timeout
    check_run = "fastcgi_check"              # makes the runner executable, then `app.fcgi --check`

    def values(self, ctx: ServerContext) -> dict[str, str | int]:
        """What ``pidfile.sh`` and ``fastcgi.sh`` read: the layout's paths and the timeouts."""
        layout = ctx.layout
        return {"name": "the FastCGI runner", "pidfile": pidfile(layout), "run": layout.run, "marker": "fastcgi",
                "sock": socket_path(layout), "newsock": f"{layout.run}/fastcgi.new.sock",
                "logfile": log_file(layout), "current": layout.current,
                "runner": f"{layout.live_config_dir}/{RUNNER}",
                "START_TIMEOUT": int(ctx.timeout), "STOP_TIMEOUT": int(ctx.graceful_timeout) + 10}

    def check_values(self, ctx: ServerContext, release_id: str) -> dict[str, str | int]:
        """The check runs the new release's own runner (``--check``: its venv, flup, the app)."""
        layout = ctx.layout
        return {**super().check_values(ctx, release_id),
                "release_runner": f"{layout.release(release_id)}/{layout.config_dir_name}/{RUNNER}"}

    def script(self, ctx: ServerContext, run: str, **extra: str | int) -> str:
        """Under mod_fcgid (behind Apache) every control script only reports that there is nothing
        to do: after a switch, mod_fcgid starts runners of the new release (the script's path
        resolves to a new file) and lets the old ones idle out. The check runs as everywhere."""
        if ctx.app is not None and ctx.app.proxy == "apache" and run != self.check_run:
            return super().script(ctx, "fastcgi_under_mod_fcgid")
        return super().script(ctx, run, **extra)

    def runs_under_systemd(self, ctx: ServerContext) -> bool:
        """Behind Apache, mod_fcgid spawns the runners itself."""
        return ctx.app is None or ctx.app.proxy != "apache"

    def unit_exec(self, ctx: ServerContext, slot_dir: str, socket: str) -> tuple[str, dict[str, str]]:
        """The slot's runner (its shebang names its release's venv Python) on the slot's socket."""
        return f'"{slot_dir}/{ctx.layout.config_dir_name}/{RUNNER}" --socket "{socket}" --release "{slot_dir}"', {}
