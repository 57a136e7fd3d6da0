"""Deployment modes: which module builds the commands of each ``server`` and ``proxy``.

A mode is a plain module in ``tasks/commands/`` with a fixed set of names (the
`AppServer` and `FrontServer` protocols below). Adding a mode means writing that
module, its templates and its tests, and naming it here. Nothing is discovered.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Mapping, Protocol, cast

from .layout import Layout

if TYPE_CHECKING:
    from .inventory import App

# server -> the module that runs it
SERVER_MODULES: dict[str, str] = {
    "gunicorn": "wsgideploy.commands.gunicorn",
    "uwsgi": "wsgideploy.commands.uwsgi",
    "mod_wsgi": "wsgideploy.commands.mod_wsgi",
    "fastcgi": "wsgideploy.commands.fastcgi",
    "cgi": "wsgideploy.commands.cgi",
    "gevent": "wsgideploy.commands.standalone_gevent",
    "tornado": "wsgideploy.commands.standalone_tornado",
    "twisted": "wsgideploy.commands.standalone_twisted",
}

# proxy -> the module that configures and controls it
PROXY_MODULES: dict[str, str] = {
    "nginx": "wsgideploy.commands.nginx",
    "apache": "wsgideploy.commands.apache",
    "lighttpd": "wsgideploy.commands.lighttpd",
}

# Which front servers each app server can sit behind.
COMPATIBLE: dict[str, tuple[str, ...]] = {
    "gunicorn": ("nginx",),
    "uwsgi": ("nginx",),
    "mod_wsgi": ("apache",),
    "fastcgi": ("nginx", "lighttpd", "apache"),
    "cgi": ("apache",),
    "gevent": ("nginx",),
    "tornado": ("nginx",),
    "twisted": ("nginx",),
}


@dataclass(frozen=True)
class ServerContext:
    """What an app server's command builders may use."""

    layout: Layout
    app: "App | None" = None
    proxy: Any = None                # the front server's settings: [nginx], [apache] or [lighttpd]
    timeout: float = 60.0            # how long a start or upgrade may take to get ready
    graceful_timeout: float = 30.0   # how long requests in flight get when a server stops


class AppServer(Protocol):
    """What a ``server`` module provides. Every function returns a shell script.

    ``check`` loads the app in ``releases/<id>`` before the switch; ``start``
    starts the server from ``current`` unless it runs; ``upgrade`` makes a running
    server serve ``current`` (code and venv) without dropping requests where the
    server allows it; ``stop`` stops it gracefully; ``status`` reports ``pid`` and
    ``current`` facts. Scripts report facts as ``wsgideploy-fact:key=value`` lines
    (``action`` and ``pid`` are shown to the person).
    """

    PACKAGES: tuple[str, ...]          # pip requirements added to the app's venv
    CONFIG_TEMPLATES: dict[str, str]   # file in releases/<id>/.wsgideploy/ -> template name
    UPSTREAM: str                      # how the front server reaches it: picks the site's includes

    def check(self, ctx: ServerContext, release_id: str) -> str: ...
    def start(self, ctx: ServerContext) -> str: ...
    def upgrade(self, ctx: ServerContext, start_if_stopped: bool = True) -> str: ...
    def stop(self, ctx: ServerContext) -> str: ...
    def status(self, ctx: ServerContext) -> str: ...


class FrontServer(Protocol):
    """What a ``proxy`` module provides. Every function but `site_path` returns a shell script.

    ``publish_site`` installs the site, tests the whole config and applies it, checking that the
    server took it (the previous site back otherwise); ``reload`` applies the config as it is;
    ``site_path`` says where ``install_site`` puts the site (``plan`` reads it there).
    """

    SITE_TEMPLATE: str   # template of the site, rendered into releases/<id>/.wsgideploy/<SITE_FILE>
    SITE_FILE: str

    def site_path(self, settings: Any, site_name: str) -> str: ...
    def install_site(self, settings: Any, site_name: str, rendered_path: str) -> str: ...
    def publish_site(self, settings: Any, site_name: str, rendered_path: str) -> str: ...
    def reload(self, settings: Any) -> str: ...


def is_available(name: str) -> bool:
    """Whether the command module of a server or proxy is present in this version."""
    module = SERVER_MODULES.get(name) or PROXY_MODULES.get(name)
    return module is not None and importlib.util.find_spec(module) is not None


def _load(registry: Mapping[str, str], name: str, kind: str) -> ModuleType:
    if name not in registry:
        raise KeyError(f"no {kind} module for {name!r}")
    return importlib.import_module(registry[name])


def app_server(name: str) -> AppServer:
    """The command module of the app server ``name`` (an inventory ``server`` value)."""
    return cast(AppServer, _load(SERVER_MODULES, name, "server"))


def front_server(name: str) -> FrontServer:
    """The command module of the front server ``name`` (an inventory ``proxy`` value)."""
    return cast(FrontServer, _load(PROXY_MODULES, name, "proxy"))
