"""What every app server is (`AppServer`), and the base of those controlled through a pidfile.

An app server is one class in its own module of ``tasks/commands/`` (gunicorn.py, uwsgi.py, ...),
named once in the registry (``tasks/modes.py``). The class declares what the rest of wsgideploy
needs to know (`AppServer`'s class attributes: its packages, its config templates, how the front
server reaches it, which front servers it runs behind) and builds the five host scripts of the
mode. Each script is a `Script`: quoted values, the recipes of ``tasks/recipes/``, one call.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..layout import Layout
from .recipe import Script

if TYPE_CHECKING:
    from ..settings import App


@dataclass(frozen=True)
class ServerContext:
    """What an app server's command builders may use."""

    layout: Layout
    app: App | None = None
    proxy: Any = None                # the front server's settings: [nginx], [apache] or [lighttpd]
    timeout: float = 60.0            # how long a start or upgrade may take to get ready
    graceful_timeout: float = 30.0   # how long requests in flight get when a server stops
    processes: Mapping[str, str] = field(default_factory=dict)  # [processes]: the worker units beside it


class AppServer:
    """An app server (an inventory ``server`` value). Every method returns a shell script.

    ``check`` loads the app in ``releases/<id>`` before the switch; ``start`` starts the server
    from ``current`` unless it runs; ``upgrade`` makes a running server serve ``current`` (code
    and venv) without dropping requests where the server allows it; ``stop`` stops it gracefully;
    ``status`` reports ``pid`` and ``current`` facts. Scripts report facts with the ``fact``
    function of ``process.sh`` (``action`` and ``pid`` are shown to the person).
    """

    name: ClassVar[str]                       # the inventory's ``server`` value
    fronts: ClassVar[tuple[str, ...]]         # the front servers (``proxy``) it runs behind
    upstream: ClassVar[str]                   # how the front server reaches it: picks the site's includes
    packages: ClassVar[tuple[str, ...]] = ()  # pip requirements added to the app's venv
    host_packages: ClassVar[tuple[str, ...]] = ()  # apt packages `setup` installs on the host for it
    host_packages_behind: ClassVar[dict[str, tuple[str, ...]]] = {}  # proxy -> apt packages only behind it
    config_templates: ClassVar[dict[str, str]] = {}  # file in releases/<id>/.wsgideploy/ -> template

    def check(self, ctx: ServerContext, release_id: str) -> str:
        raise NotImplementedError

    def stage(self, ctx: ServerContext, release_id: str) -> str | None:
        """The check that also starts the new release's instance, which the go-live then makes live (the
        app loads once per deploy); None for a server that has no such instance (the plain `check`)."""
        return None

    def unstage(self, ctx: ServerContext, release_id: str) -> str:
        """Stop what `stage` started for a release that will not go live ("" when nothing can be)."""
        return ""

    def start(self, ctx: ServerContext) -> str:
        raise NotImplementedError

    def upgrade(self, ctx: ServerContext, start_if_stopped: bool = True) -> str:
        raise NotImplementedError

    def stop(self, ctx: ServerContext) -> str:
        raise NotImplementedError

    def status(self, ctx: ServerContext) -> str:
        raise NotImplementedError


class PidfileServer(AppServer):
    """An app server that wsgideploy starts itself and controls through its pidfile
    (``tasks/recipes/pidfile.sh``): gunicorn, uWSGI, the FastCGI runner, the standalone runners.

    A subclass says which values its recipes read (`values`) and which recipe function does
    each job; the scripts are built here, the same way for all of them.
    """

    recipes: ClassVar[tuple[str, ...]]       # tasks/recipes/*.sh: every function the scripts call
    start_run: ClassVar[str] = "pidfile_start"
    upgrade_run: ClassVar[str]
    stop_run: ClassVar[str]
    status_run: ClassVar[str] = "pidfile_status"
    check_run: ClassVar[str]

    def values(self, ctx: ServerContext) -> dict[str, str | int]:
        """What the recipes read: the layout's paths and the timeouts."""
        raise NotImplementedError

    def check_values(self, ctx: ServerContext, release_id: str) -> dict[str, str | int]:
        """What the check reads besides `values`: the release and how long loading it may take."""
        return {"release": ctx.layout.release(release_id), "release_id": release_id,
                "check_timeout": int(ctx.timeout)}

    def script(self, ctx: ServerContext, run: str, **extra: str | int) -> str:
        """The script that calls ``run`` with `values` (and ``extra``) and the recipes."""
        return Script(run, {**self.values(ctx), **extra}, self.recipes).text()

    def start(self, ctx: ServerContext) -> str:
        """Start the server unless its pidfile names a live process (a stale pidfile is replaced)."""
        return self.script(ctx, self.start_run)

    def upgrade(self, ctx: ServerContext, start_if_stopped: bool = True) -> str:
        """Make the running server serve ``current`` without dropping requests. With
        ``start_if_stopped`` a stopped server is simply started; otherwise that is an error."""
        return self.script(ctx, self.upgrade_run, start_if_stopped=int(start_if_stopped))

    def stop(self, ctx: ServerContext) -> str:
        """Stop the server gracefully through its pidfile; KILL only past the timeout."""
        return self.script(ctx, self.stop_run)

    def status(self, ctx: ServerContext) -> str:
        """Report the server's pid (if alive) and the live release as facts."""
        return self.script(ctx, self.status_run)

    def check(self, ctx: ServerContext, release_id: str) -> str:
        """Load the app in the new release, in its own venv, before the switch."""
        return self.script(ctx, self.check_run, **self.check_values(ctx, release_id))


class SystemdMode:
    """What a mode declares to run under systemd (a mixin of its `PidfileServer` class)."""

    stop_signal: ClassVar[str] = "SIGTERM"  # a graceful stop: requests in flight finish
    exec_stop: ClassVar[str] = ""           # ``ExecStop=``, for a server that stops gracefully another way

    def runs_under_systemd(self, ctx: ServerContext) -> bool:
        """Whether this app's server is one wsgideploy runs (not one its front server spawns)."""
        return True

    def unit_exec(self, ctx: ServerContext, slot_dir: str, socket: str) -> tuple[str, dict[str, str]]:
        """The ``ExecStart=`` command line of an instance, and its ``Environment=``; ``slot_dir`` and
        ``socket`` contain ``%i`` (systemd's instance name: the slot)."""
        raise NotImplementedError
