"""The app server under systemd: a template unit per app, two instances (slots ``a`` and ``b``).

Each instance runs the release that ``<root>/slots/<slot>`` names, on a socket of its own
(``shared/run/<server>.<slot>.sock``); the front server reaches the live one through the link
``shared/run/<server>.sock``. An upgrade starts the idle slot with the new release, waits until it
has loaded the app and answers the health check on its own socket, then moves the link (one
rename: every new connection goes to the new instance) and stops the old instance once no
connection waits on its socket. A broken release never receives a request from the front server.
systemd starts the live instance at boot and restarts it after a crash (docs/supervision.md).

`Supervised` wraps a mode's `PidfileServer`: with ``supervisor = "auto"`` each script decides on
the host (systemd when it is PID 1, else the mode's own pidfile control); ``"systemd"`` and
``"none"`` force one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from .. import render
from ..layout import Layout
from .app_server import AppServer, PidfileServer, ServerContext, SystemdMode
from .health import UNIX_PROBE, unix_probe_config
from .recipe import Script
from .shell import fail, script

if TYPE_CHECKING:
    from ..settings import App

UNIT_DIR = "/etc/systemd/system"
SLOTS = ("a", "b")
START_INTERVAL, START_BURST = 60, 10  # a unit that fails to start 10 times in 60 s is left failed


def app_user_of(app: App) -> str:
    """The user the app runs as under systemd: ``[app] app_user``, else the app's name
    (`wsgideploy setup` creates it; ``app_access`` (`release.app_user_script`) checks it before each deploy)."""
    return app.app_user or app.name


def unit_escape(text: str) -> str:
    """``text`` for inside a double-quoted word of a unit file: no specifier, quote or escape in it
    is taken as one (a line break cannot be written: it is refused)."""
    if "\n" in text or "\r" in text:
        raise ValueError(f"a path with a line break cannot go into a systemd unit: {text!r}")
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")


def unit_name(app_name: str) -> str:
    """``wsgideploy-<app>@.service``: the template unit of the app's two instances."""
    return f"wsgideploy-{app_name}@.service"


def process_unit(app_name: str, name: str) -> str:
    """``wsgideploy-<app>-<name>.service``: the unit of one of the app's ``[processes]``."""
    return f"wsgideploy-{app_name}-{name}.service"


def instance(app_name: str, slot: str) -> str:
    """``wsgideploy-<app>@<slot>.service``."""
    return f"wsgideploy-{app_name}@{slot}.service"


class Supervised(AppServer):
    """A `PidfileServer` mode under systemd (``supervisor``: ``auto``, ``systemd`` or ``none``)."""

    recipes_after: ClassVar[tuple[str, ...]] = ("app_user", "systemd")

    def __init__(self, server: PidfileServer, supervisor: str) -> None:
        self.server, self.supervisor = server, supervisor
        self.name, self.fronts, self.upstream = server.name, server.fronts, server.upstream
        self.packages, self.config_templates = server.packages, server.config_templates

    def check(self, ctx: ServerContext, release_id: str) -> str:
        return self.server.check(ctx, release_id)

    def stage(self, ctx: ServerContext, release_id: str) -> str | None:
        """Under systemd, the idle slot's instance started with the new release and health-checked on its own
        socket (``systemd_stage``); the go-live moves the live link to it. Without systemd, the plain check."""
        values = self.server.check_values(ctx, release_id)
        return self.either(ctx, "systemd_stage", self.server.check(ctx, release_id), **values,
                           check_run=self.server.check_run)

    def unstage(self, ctx: ServerContext, release_id: str) -> str:
        """Under systemd, stop the instance `stage` started for ``release_id`` unless it is live."""
        return self.either(ctx, "systemd_unstage", ":", release=ctx.layout.release(release_id))

    def start(self, ctx: ServerContext) -> str:
        return self.either(ctx, "systemd_start", self.server.start(ctx))

    def upgrade(self, ctx: ServerContext, start_if_stopped: bool = True) -> str:
        return self.either(ctx, "systemd_upgrade", self.server.upgrade(ctx, start_if_stopped),
                           start_if_stopped=int(start_if_stopped))

    def stop(self, ctx: ServerContext) -> str:
        return self.either(ctx, "systemd_stop", self.server.stop(ctx))

    def status(self, ctx: ServerContext) -> str:
        return self.either(ctx, "systemd_status", self.server.status(ctx))

    def either(self, ctx: ServerContext, run: str, pidfile_script: str, **extra: str | int) -> str:
        """The systemd script, the pidfile one, or (``auto``) the one the host calls for."""
        if self.supervisor == "none" or not self.server.runs_under_systemd(ctx):  # type: ignore[attr-defined]
            return pidfile_script
        systemd_script = self.systemd_script(ctx, run, **extra)
        if self.supervisor == "systemd":
            return script("[ -d /run/systemd/system ] || " + fail(
                'supervisor = "systemd" but systemd is not running on this host (use "auto" or "none")'),
                f"(\n{systemd_script}\n)")
        return script(f"if [ -d /run/systemd/system ]; then\n(\n{systemd_script}\n)\nelse\n(\n{pidfile_script}\n)\nfi")

    def systemd_script(self, ctx: ServerContext, run: str, **extra: str | int) -> str:
        values = {**self.server.values(ctx), **self.values(ctx), **extra}
        return Script(run, values, self.server.recipes + self.recipes_after).text()

    def values(self, ctx: ServerContext) -> dict[str, str | int]:
        """What ``systemd.sh`` reads."""
        assert ctx.app is not None
        app, layout = ctx.app, ctx.layout
        health = app.health
        return {"unit_prefix": f"wsgideploy-{app.name}@", "unit_path": f"{UNIT_DIR}/{unit_name(app.name)}",
                "unit_text": self.unit_text(ctx), "slots": f"{layout.root}/slots",
                "sockets": f"{layout.run}/{self.server.name}",
                "probe": UNIX_PROBE,
                # the probe starts beside the instance (start_slot): it may wait for the app's load too
                "probe_config": unix_probe_config(self.server.upstream, health.path, app.health_host,
                                                  health.status, health.timeout, app.url_prefix,
                                                  load_timeout=ctx.timeout),
                "START_TIMEOUT": int(ctx.timeout), "app_user": app_user_of(app),
                "app_user_always": int(self.supervisor == "systemd"),
                # [processes]: their names, and each one's unit file as process_unit_<name>
                "processes": " ".join(ctx.processes), "unit_dir": UNIT_DIR,
                **{f"process_unit_{name}": self.process_unit_text(ctx, name) for name in ctx.processes}}

    def process_unit_text(self, ctx: ServerContext, name: str) -> str:
        """The unit of the process ``name`` of ``[processes]``, from ``templates/systemd/process.service.j2``."""
        assert ctx.app is not None
        app = ctx.app
        context = {"app": app, "name": name, "unit_file": process_unit(app.name, name),
                   "user": app_user_of(app), "current": unit_escape(ctx.layout.current),
                   "config_dir_name": ctx.layout.config_dir_name, "stop_timeout": int(ctx.graceful_timeout) + 10,
                   "start_interval": START_INTERVAL, "start_burst": START_BURST}
        return render.render("systemd/process.service.j2", context, render.environment(app.templates)).strip() + "\n"

    def unit_text(self, ctx: ServerContext) -> str:
        """The template unit, rendered from ``templates/systemd/app@.service.j2``."""
        assert ctx.app is not None and isinstance(self.server, SystemdMode)
        app, layout = ctx.app, ctx.layout
        escaped = Layout(unit_escape(layout.root))  # every path below is written inside "..."
        slot_dir = f"{escaped.root}/slots/%i"
        exec_start, environment = self.server.unit_exec(ServerContext(escaped, app, ctx.proxy, ctx.timeout,
                                                                      ctx.graceful_timeout),
                                                        slot_dir, f"{escaped.run}/{self.server.name}.%i.sock")
        # a Flask app's static folder, written by the entry at load for systemd_stage (the check's facts)
        environment = {**environment, "WSGIDEPLOY_STATIC_REPORT": f"{escaped.run}/{self.server.name}.%i.static"}
        context = {"app": app, "unit_file": unit_name(app.name), "user": app_user_of(app),
                   "exec_start": exec_start, "environment": environment,
                   "stop_signal": self.server.stop_signal, "exec_stop": self.server.exec_stop, "start_timeout": int(ctx.timeout) + 10,
                   "stop_timeout": int(ctx.graceful_timeout) + 10,
                   "start_interval": START_INTERVAL, "start_burst": START_BURST}
        env = render.environment(app.templates)
        return render.render("systemd/app@.service.j2", context, env).strip() + "\n"


def supervised(server: AppServer, supervisor: str) -> AppServer:
    """``server`` under ``supervisor``: a mode that can run under systemd is wrapped, others are themselves."""
    if supervisor == "none" or not isinstance(server, PidfileServer) or not isinstance(server, SystemdMode):
        return server
    return Supervised(server, supervisor)
