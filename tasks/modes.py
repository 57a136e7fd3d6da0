"""Deployment modes: which module builds the commands of each ``server`` and ``proxy``.

A mode is a plain module in ``tasks/commands/`` with a fixed set of names (the
`AppServer` and `FrontServer` protocols below). Adding a mode means writing that
module, its templates and its tests, and naming it here. Nothing is discovered.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Mapping, Protocol, cast

from .layout import Layout

# server -> the module that runs it
SERVER_MODULES: dict[str, str] = {
    "gunicorn": "tasks.commands.gunicorn",
}

# proxy -> the module that configures and controls it
PROXY_MODULES: dict[str, str] = {
    "nginx": "tasks.commands.nginx",
}

# Which front servers each app server can sit behind.
COMPATIBLE: dict[str, tuple[str, ...]] = {
    "gunicorn": ("nginx",),
}


class AppServer(Protocol):
    """What a ``server`` module provides. Every function returns a shell script."""

    PACKAGES: tuple[str, ...]          # pip requirements added to the app's venv
    CONFIG_TEMPLATES: dict[str, str]   # file in releases/<id>/.wsgideploy/ -> template name
    UPSTREAM: str                      # how the front server reaches it, for the site template

    def check(self, layout: Layout, release_id: str, timeout: float) -> str: ...
    def start(self, layout: Layout, timeout: float) -> str: ...
    def upgrade(self, layout: Layout, timeout: float, graceful_timeout: float,
                start_if_stopped: bool = True) -> str: ...
    def stop(self, layout: Layout, graceful_timeout: float) -> str: ...
    def status(self, layout: Layout) -> str: ...


class FrontServer(Protocol):
    """What a ``proxy`` module provides."""

    SITE_TEMPLATE: str   # template of the site, rendered into releases/<id>/.wsgideploy/<SITE_FILE>
    SITE_FILE: str

    def install_site(self, settings: Any, site_name: str, rendered_path: str) -> str: ...
    def reload(self, settings: Any) -> str: ...


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
