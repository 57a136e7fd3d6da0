"""Standalone WSGI containers (gevent, tornado, twisted) behind nginx: a generated runner.

Each container has no master process of its own, so wsgideploy renders a small runner per
release (``templates/standalone/<server>.py.j2`` into ``releases/<id>/.wsgideploy/<server>_runner.py``)
and controls it through its pidfile ``shared/run/<server>.pid``:

- ``start``: ``setsid <release>/venv/bin/python <release>/.wsgideploy/<server>_runner.py``, where
  ``<release>`` is what ``current`` names at that moment (resolved, so that the process keeps
  serving that release's code and venv even after ``current`` moves). The runner imports the app,
  binds the socket ``shared/run/<server>.sock`` under a temporary name, renames it over the real
  name once it listens, and touches ``shared/run/<server>.ready.<pid>``.
- ``upgrade``: start a second runner from the new ``current`` (pidfile ``<server>.pid.2``). Its
  ``rename()`` swaps, atomically, which process new connections reach; once it is ready the
  pidfile names it and the old runner gets TERM: it serves what was already queued on its socket
  and in flight, then exits. If the new runner fails before it is ready, the old one never stopped.
- ``stop``: TERM (graceful), KILL only past ``graceful_timeout`` + 5 s.

See docs/modes/standalone.md.
"""
from __future__ import annotations

from ..layout import Layout
from .app_server import PidfileServer, ServerContext, SystemdMode


def runner_file(server: str) -> str:
    """The runner's file name in ``releases/<id>/.wsgideploy/``."""
    return f"{server}_runner.py"


def pidfile(layout: Layout, server: str) -> str:
    return f"{layout.run}/{server}.pid"


def socket_path(layout: Layout, server: str) -> str:
    """The unix socket nginx proxies to (``socket`` in the templates' context)."""
    return f"{layout.run}/{server}.sock"


class Standalone(PidfileServer, SystemdMode):
    """A standalone WSGI container run by a generated runner, through its pidfile: a second runner
    renames its socket over the live one, then the old runner gets TERM. A subclass names the
    container, its package and its runner's template (``standalone/<name>.py.j2``)."""

    fronts = ("nginx",)
    upstream = "http-unix"  # nginx proxy_pass to the unix socket shared/run/<server>.sock (as gunicorn)
    recipes = ("process", "pidfile", "app_check", "standalone")
    upgrade_run = "standalone_upgrade"
    stop_run = "standalone_stop"   # also the runners an interrupted upgrade left (.pid.2, .old.pid)
    check_run = "standalone_check"  # the app and the server package, with the release's runner

    def values(self, ctx: ServerContext) -> dict[str, str | int]:
        """What ``pidfile.sh`` and ``standalone.sh`` read: the server, the layout's paths and the timeouts."""
        layout, server = ctx.layout, self.name
        return {"name": server, "server": server, "pidfile": pidfile(layout, server), "run": layout.run,
                "marker": server, "current": layout.current, "runner": runner_file(server),
                "config_dir_name": layout.config_dir_name, "logfile": f"{layout.log}/{server}.error.log",
                "stdout_log": f"{layout.log}/{server}.stdout.log",
                "START_TIMEOUT": int(ctx.timeout), "GRACEFUL_TIMEOUT": int(ctx.graceful_timeout)}

    def unit_exec(self, ctx: ServerContext, slot_dir: str, socket: str) -> tuple[str, dict[str, str]]:
        """The slot's runner with the slot's venv, on the slot's socket (it renames its socket there
        once it listens, then writes its ready marker), with a pidfile of its own."""
        runner = f"{slot_dir}/{ctx.layout.config_dir_name}/{runner_file(self.name)}"
        return (f'"{slot_dir}/venv/bin/python" "{runner}" --socket "{socket}" '
                f'--pidfile "{ctx.layout.run}/{self.name}.%i.pid"'), {}


# PyPI requirements put into the app's venv: the minimums for the APIs the runners use.
class Gevent(Standalone):
    """gevent's WSGIServer (``server = "gevent"``)."""

    name = "gevent"
    config_templates = {runner_file("gevent"): "standalone/gevent.py.j2"}
    packages = ("gevent>=23.9",)


class Tornado(Standalone):
    """Tornado's WSGIContainer on its HTTPServer (``server = "tornado"``)."""

    name = "tornado"
    config_templates = {runner_file("tornado"): "standalone/tornado.py.j2"}
    packages = ("tornado>=6.3",)        # WSGIContainer(executor=...)


class Twisted(Standalone):
    """Twisted's WSGIResource (``server = "twisted"``)."""

    name = "twisted"
    config_templates = {runner_file("twisted"): "standalone/twisted.py.j2"}
    packages = ("twisted>=22.10",)
