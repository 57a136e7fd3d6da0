"""The registries: every app server (``server``) and every front server (``proxy``) wsgideploy has.

An app server is an `AppServer` class (``tasks/commands/app_server.py``), a front server a
`FrontServer` class (``tasks/commands/front.py``), each in its own module of ``tasks/commands/``.
Each class declares what the rest of wsgideploy needs to know: its name, what it installs and
renders, how the front server reaches it and which front servers it runs behind. Adding a mode
means writing that module, its templates, its docs page, and naming the class here. Nothing is
discovered.
"""
from __future__ import annotations

from .commands.apache import ApacheFront
from .commands.app_server import AppServer, ServerContext
from .commands.cgi import Cgi
from .commands.fastcgi import FastCgi
from .commands.front import FrontServer
from .commands.gunicorn import Gunicorn
from .commands.lighttpd import LighttpdFront
from .commands.mod_wsgi import ModWsgi
from .commands.nginx import NginxFront
from .commands.standalone import Gevent, Tornado, Twisted
from .commands.uwsgi import Uwsgi

__all__ = ["APP_SERVERS", "FRONT_SERVERS", "AppServer", "FrontServer", "ServerContext", "app_server", "front_server"]

# server -> the class that runs it
APP_SERVERS: dict[str, AppServer] = {server.name: server for server in (
    Gunicorn(), Uwsgi(), ModWsgi(), FastCgi(), Cgi(), Gevent(), Tornado(), Twisted())}

# proxy -> the class that configures and controls it
FRONT_SERVERS: dict[str, FrontServer] = {front.name: front for front in (
    NginxFront(), ApacheFront(), LighttpdFront())}


def app_server(name: str) -> AppServer:
    """The app server ``name`` (an inventory ``server`` value)."""
    if name not in APP_SERVERS:
        raise KeyError(f"no app server {name!r}")
    return APP_SERVERS[name]


def front_server(name: str) -> FrontServer:
    """The front server ``name`` (an inventory ``proxy`` value)."""
    if name not in FRONT_SERVERS:
        raise KeyError(f"no front server {name!r}")
    return FRONT_SERVERS[name]
