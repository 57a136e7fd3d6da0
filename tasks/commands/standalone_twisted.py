"""The twisted standalone WSGI container behind nginx (``server = "twisted"``): see standalone.py."""
from __future__ import annotations

from ..modes import ServerContext
from . import standalone

SERVER = "twisted"
PACKAGES = standalone.PACKAGES[SERVER]
CONFIG_TEMPLATES = standalone.config_templates(SERVER)
UPSTREAM = standalone.UPSTREAM


def check(ctx: ServerContext, release_id: str) -> str:
    return standalone.check(ctx, SERVER, release_id)


def start(ctx: ServerContext) -> str:
    return standalone.start(ctx, SERVER)


def upgrade(ctx: ServerContext, start_if_stopped: bool = True) -> str:
    return standalone.upgrade(ctx, SERVER, start_if_stopped)


def stop(ctx: ServerContext) -> str:
    return standalone.stop(ctx, SERVER)


def status(ctx: ServerContext) -> str:
    return standalone.status(ctx, SERVER)
