"""Run the app as a CGI script in Apache (see docs/modes/cgi.md).

Each release gets ``.wsgideploy/app.cgi`` (templates/apache/app.cgi.j2): wsgiref's
``CGIHandler`` around the app, with ``#!<root>/current/venv/bin/python``. The site
(templates/apache/site.conf.j2) maps the app's URL to it with ``ScriptAlias``. Apache starts one
process per request, which imports the app from ``current``: there is no server to start, stop
or reload, and the switch of ``current`` alone makes the next request run the new release in its
venv. ``start``, ``stop`` and ``upgrade`` only say so; ``status`` reports Apache's pid.
"""
from __future__ import annotations

from . import apache
from .app_server import AppServer, ServerContext
from .recipe import Script

SCRIPT = "app.cgi"


def _settings(ctx: ServerContext) -> apache.Apache:
    if not isinstance(ctx.proxy, apache.Apache):
        raise ValueError("CGI runs inside Apache: ServerContext.proxy must be the [apache] settings")
    return ctx.proxy


def _script(ctx: ServerContext, run: str, **extra: str | int) -> str:
    """A script that runs ``run`` with ``cgi.sh`` and Apache's functions (`apache.functions`)."""
    values: dict[str, str | int] = {"current": ctx.layout.current, **extra}
    return Script(run, values, ("process", "cgi"), apache.functions(_settings(ctx))).text()


class Cgi(AppServer):
    """The app as a CGI script that Apache runs per request: nothing of wsgideploy's runs between requests."""

    name = "cgi"
    fronts = ("apache",)
    upstream = "cgi"                   # Apache runs the script itself: no socket of wsgideploy's
    packages = ()                      # CGI needs nothing in the venv (wsgiref is in the standard library)
    config_templates = {SCRIPT: "apache/app.cgi.j2"}

    def start(self, ctx: ServerContext) -> str:
        """Nothing to start: Apache runs a new CGI process for each request."""
        return _script(ctx, "cgi_report", action="nothing to start (CGI: Apache runs app.cgi per request)")

    def upgrade(self, ctx: ServerContext, start_if_stopped: bool = True) -> str:
        """Nothing to reload: the next request runs ``current``'s script in ``current``'s venv."""
        return _script(ctx, "cgi_report", action="nothing to reload (CGI: the next request runs the live release)")

    def stop(self, ctx: ServerContext) -> str:
        """Nothing to stop: no process of the app outlives its request (Apache keeps the site)."""
        return _script(ctx, "cgi_report",
                       action="nothing to stop (CGI has no process between requests; the site stays in Apache)")

    def status(self, ctx: ServerContext) -> str:
        """Report Apache's pid (while the site is enabled) and the live release."""
        enabled = apache.enabled_link(_settings(ctx), ctx.app.name if ctx.app else "")
        return _script(ctx, "cgi_status", enabled=enabled)

    def check(self, ctx: ServerContext, release_id: str) -> str:
        """Make the release's ``app.cgi`` executable and load the app with it in the release's venv.

        The configs are written with mode 0644; Apache executes the script, so it gets 0755 here.
        ``FLASK_RUN_FROM_CLI=true`` turns a stray ``app.run()`` into a no-op, ``timeout`` bounds an
        import that hangs.
        """
        layout = ctx.layout
        release = layout.release(release_id)
        values: dict[str, str | int] = {
            "release": release, "release_id": release_id, "check_timeout": int(ctx.timeout),
            "cgi": f"{release}/{layout.config_dir_name}/{SCRIPT}"}
        return Script("cgi_check", values, ("app_check", "cgi")).text()
