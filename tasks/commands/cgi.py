"""Run the app as a CGI script in Apache (see docs/modes/cgi.md).

Each release gets ``.wsgideploy/app.cgi`` (templates/apache/app.cgi.j2): wsgiref's
``CGIHandler`` around the app, with ``#!<root>/current/venv/bin/python``. The site
(templates/apache/site.conf.j2) maps the app's URL to it with ``ScriptAlias``. Apache starts one
process per request, which imports the app from ``current``: there is no server to start, stop
or reload, and the switch of ``current`` alone makes the next request run the new release in its
venv. ``start``, ``stop`` and ``upgrade`` only say so; ``status`` reports Apache's pid.
"""
from __future__ import annotations

from ..modes import ServerContext
from . import apache
from ..protocol import FACTS_MARK
from .shell import fail, q, script

PACKAGES: tuple[str, ...] = ()   # CGI needs nothing in the venv (wsgiref is in the standard library)
SCRIPT = "app.cgi"
CONFIG_TEMPLATES = {SCRIPT: "apache/app.cgi.j2"}
UPSTREAM = "cgi"                  # Apache runs the script itself: no socket of wsgideploy's


def _settings(ctx: ServerContext) -> apache.Apache:
    if not isinstance(ctx.proxy, apache.Apache):
        raise ValueError("CGI runs inside Apache: ServerContext.proxy must be the [apache] settings")
    return ctx.proxy


def _report(ctx: ServerContext, action: str) -> str:
    """A script that changes nothing: it reports ``action`` and Apache's pid."""
    return script(apache.functions(_settings(ctx)), f"""
[ -e {q(ctx.layout.current)} ] || fail "no release is live yet: run deploy first"
echo "{FACTS_MARK}pid=$(apache_pid)"
echo "{FACTS_MARK}action={action}"
""")


def start(ctx: ServerContext) -> str:
    """Nothing to start: Apache runs a new CGI process for each request."""
    return _report(ctx, "nothing to start (CGI: Apache runs app.cgi per request)")


def upgrade(ctx: ServerContext, start_if_stopped: bool = True) -> str:
    """Nothing to reload: the next request runs ``current``'s script in ``current``'s venv."""
    return _report(ctx, "nothing to reload (CGI: the next request runs the live release)")


def stop(ctx: ServerContext) -> str:
    """Nothing to stop: no process of the app outlives its request (Apache keeps the site)."""
    return _report(ctx, "nothing to stop (CGI has no process between requests; the site stays in Apache)")


def status(ctx: ServerContext) -> str:
    """Report Apache's pid (while the site is enabled) and the live release."""
    settings = _settings(ctx)
    enabled = apache.enabled_link(settings, ctx.app.name if ctx.app else "")
    return script(apache.functions(settings), f"""
pid=$(apache_pid)
if [ -n "$pid" ] && [ -e {q(enabled)} ]; then echo "{FACTS_MARK}pid=$pid"; else echo "{FACTS_MARK}pid="; fi
echo "{FACTS_MARK}current=$(readlink {q(ctx.layout.current)} 2>/dev/null | sed 's#.*/##' || true)"
""")


def check(ctx: ServerContext, release_id: str) -> str:
    """Make the release's ``app.cgi`` executable and load the app with it in the release's venv.

    The configs are written with mode 0644; Apache executes the script, so it gets 0755 here.
    ``FLASK_RUN_FROM_CLI=true`` turns a stray ``app.run()`` into a no-op, ``timeout`` bounds an
    import that hangs.
    """
    layout, timeout = ctx.layout, int(ctx.timeout)
    release = layout.release(release_id)
    cgi = f"{release}/{layout.config_dir_name}/{SCRIPT}"
    return script(f"""
[ -f {q(cgi)} ] || {fail(f"{cgi} is missing")}
chmod 0755 {q(cgi)}
cd {q(release)}
set +e
out=$(WSGIDEPLOY_CGI_CHECK=1 FLASK_RUN_FROM_CLI=true timeout {timeout} {q(release + '/venv/bin/python')} {q(cgi)} 2>&1)
code=$?
set -e
if [ $code -eq 124 ]; then
  echo "$out" | tail -n 30 >&2
  fail "importing the app took longer than {timeout}s (does it block at import time?)"
elif [ $code -ne 0 ]; then
  echo "$out" | tail -n 40 >&2
  fail "the app does not load in release {release_id} (traceback above)"
fi
""")
