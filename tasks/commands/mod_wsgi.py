"""Run the app in Apache with mod_wsgi in daemon mode (see docs/modes/mod_wsgi.md).

The site (templates/apache/site.conf.j2) defines ``WSGIDaemonProcess wsgideploy-<name>`` running
as the deploy user with ``python-home=<root>/current/venv`` and ``home=<root>/current``, and
``WSGIScriptAlias`` to ``<root>/current/.wsgideploy/app.wsgi`` (templates/apache/app.wsgi.j2),
which imports the app as ``application``. Apache starts and supervises the daemon processes; there
is no pidfile of wsgideploy's own.

The reload after the switch touches ``<root>/current/.wsgideploy/app.wsgi``. mod_wsgi compares
the script's mtime at each request, and in daemon mode a changed script restarts the daemon
process: a new Python interpreter whose ``python-home`` and ``home`` resolve ``current`` again,
so it runs the new code in the new venv. Requests wait in the daemon socket's backlog meanwhile
(measured: none fails). An Apache graceful restart would also do it, but it kills the requests
in flight in the daemon processes, so it is used only when the site itself changes.
"""
from __future__ import annotations

from ..modes import ServerContext
from . import apache
from ..protocol import FACTS_MARK
from .shell import fail, q, script

PACKAGES: tuple[str, ...] = ()   # mod_wsgi is Apache's module (Debian: libapache2-mod-wsgi-py3)
SCRIPT = "app.wsgi"
CONFIG_TEMPLATES = {SCRIPT: "apache/app.wsgi.j2"}
UPSTREAM = "mod_wsgi"             # Apache runs the app itself: no socket of wsgideploy's
MOD_WSGI_SO = "/usr/lib/apache2/modules/mod_wsgi.so"


def _site_name(ctx: ServerContext) -> str:
    if ctx.app is None:
        raise ValueError("mod_wsgi commands need the app (ServerContext.app)")
    return ctx.app.name


def _settings(ctx: ServerContext) -> apache.Apache:
    if not isinstance(ctx.proxy, apache.Apache):
        raise ValueError("mod_wsgi runs inside Apache: ServerContext.proxy must be the [apache] settings")
    return ctx.proxy


def _enable_and_reload(ctx: ServerContext) -> str:
    """Install the live release's site (enabled, tested) and reload or start Apache."""
    settings = _settings(ctx)
    rendered = f"{ctx.layout.live_config_dir}/{apache.SITE_FILE}"
    return apache.install_site(settings, _site_name(ctx), rendered) + apache.reload(settings)


def _running(ctx: ServerContext) -> str:
    """Sets ``pid`` (Apache's parent) and ``enabled`` (0/1) in the script."""
    enabled = apache.enabled_link(_settings(ctx), _site_name(ctx))
    return f"""
pid=$(apache_pid)
enabled=0; [ -e {q(enabled)} ] && enabled=1
"""


def start(ctx: ServerContext) -> str:
    """Enable the live release's site and start (or gracefully reload) Apache, unless both are done."""
    settings = _settings(ctx)
    return script(apache.functions(settings), f"""
[ -e {q(ctx.layout.current)} ] || fail "no release is live yet: run deploy first"
""", _running(ctx), f"""
if [ -n "$pid" ] && [ $enabled = 1 ]; then
  echo "{FACTS_MARK}pid=$pid"
  echo "{FACTS_MARK}action=already running (in Apache)"
  exit 0
fi
""") + _enable_and_reload(ctx) + script(apache.functions(settings), f"""
echo "{FACTS_MARK}pid=$(apache_pid)"
echo "{FACTS_MARK}action=started (site enabled in Apache)"
""")


def upgrade(ctx: ServerContext, start_if_stopped: bool = True) -> str:
    """Make the daemon processes serve ``current`` (code and venv): touch the ``.wsgi`` file.

    Each daemon process restarts at its next request (mod_wsgi's script reloading). If Apache
    is not running or the site is disabled, it is started (``start_if_stopped``) or an error.
    """
    settings = _settings(ctx)
    script_path = f"{ctx.layout.live_config_dir}/{SCRIPT}"
    when_stopped = (_enable_and_reload(ctx) if start_if_stopped else
                    'fail "the app is not running in Apache (Apache stopped or its site disabled): use start"\n')
    check_running = script(apache.functions(settings), f"""
[ -e {q(ctx.layout.current)} ] || fail "no release is live yet: run deploy first"
[ -f {q(script_path)} ] || {fail(f"{script_path} is missing: the live release has no mod_wsgi script")}
""", _running(ctx), """
if [ -n "$pid" ] && [ $enabled = 1 ]; then wsgideploy_running=1; else wsgideploy_running=0; fi
""")
    touch = script(apache.functions(settings), f"""
if [ "$wsgideploy_running" = 1 ]; then
  touch {q(script_path)}
  echo "{FACTS_MARK}action=reloaded (daemon processes restart at their next request)"
else
  echo "{FACTS_MARK}action=started"
fi
echo "{FACTS_MARK}pid=$(apache_pid)"
""")
    return check_running + 'if [ "$wsgideploy_running" = 0 ]; then\n' + when_stopped + "fi\n" + touch


def stop(ctx: ServerContext) -> str:
    """Disable the site (its link and Listen file) and reload Apache: the daemon processes exit.

    Apache and its other sites keep running. An Apache left with no Listen at all would exit
    at the reload ("no listening sockets available"), so it is stopped gracefully instead.
    ``start`` (or a deploy) enables the site again.
    """
    settings = _settings(ctx)
    wait = int(ctx.graceful_timeout) + 5
    return script(apache.functions(settings), apache.disable_site(settings, _site_name(ctx)), f"""
if [ "$wsgideploy_apache_disabled" = 0 ]; then
  echo "{FACTS_MARK}action=not running (the site was not enabled)"
  exit 0
fi
pid=$(apache_pid)
if [ -z "$pid" ]; then
  echo "{FACTS_MARK}action=stopped (site disabled; Apache was not running)"
elif [ -n "$(config_listens)" ]; then
  out=$({apache.apache_command(settings, "-k", "graceful")} 2>&1) || {{ echo "$out" >&2; fail "apache -k graceful failed"; }}
  echo "{FACTS_MARK}action=stopped (site disabled; Apache keeps running)"
else
  out=$({apache.apache_command(settings, "-k", "graceful-stop")} 2>&1) || {{ echo "$out" >&2; fail "apache -k graceful-stop failed"; }}
  end=$((SECONDS + {wait}))
  while proc_alive "$pid" && [ $SECONDS -lt $end ]; do sleep 0.1; done
  if proc_alive "$pid"; then {apache.apache_command(settings, "-k", "stop")} >/dev/null 2>&1 || true; fi
  echo "{FACTS_MARK}action=stopped (site disabled; Apache, left with no other Listen, stopped too)"
fi
""")


def status(ctx: ServerContext) -> str:
    """Report Apache's pid when it runs with the site enabled, and the live release."""
    settings = _settings(ctx)
    return script(apache.functions(settings), _running(ctx), f"""
if [ -n "$pid" ] && [ $enabled = 1 ]; then echo "{FACTS_MARK}pid=$pid"; else echo "{FACTS_MARK}pid="; fi
echo "{FACTS_MARK}current=$(readlink {q(ctx.layout.current)} 2>/dev/null | sed 's#.*/##' || true)"
""")


def check(ctx: ServerContext, release_id: str) -> str:
    """Load the release's ``.wsgi`` file in its own venv, as mod_wsgi would, before the switch.

    ``FLASK_RUN_FROM_CLI=true`` turns a stray ``app.run()`` into a no-op and ``timeout`` bounds
    an import that hangs. mod_wsgi embeds one Python version (Debian's: the system python3):
    a venv of another version cannot run there, so that is checked too.
    """
    layout, timeout = ctx.layout, int(ctx.timeout)
    release = layout.release(release_id)
    wsgi = f"{release}/{layout.config_dir_name}/{SCRIPT}"
    python = f"{release}/venv/bin/python"
    loader = ("import runpy, sys; ns = runpy.run_path(sys.argv[1], run_name='wsgideploy_check'); "
              "app = ns.get('application'); "
              "sys.exit(None if callable(app) else sys.argv[1] + ' defines no callable application')")
    return script(f"""
venv_version=$({q(python)} -c 'import sys; print("%d.%d" % sys.version_info[:2])') \\
  || {fail(f"the venv of release {release_id} has no working python")}
so={q(MOD_WSGI_SO)}
if [ -f "$so" ] && command -v ldd >/dev/null 2>&1; then
  wsgi_version=$(ldd "$so" 2>/dev/null | sed -n 's/.*libpython\\([0-9]*\\.[0-9]*\\).*/\\1/p' | head -n 1)
  if [ -n "$wsgi_version" ] && [ "$wsgi_version" != "$venv_version" ]; then
    fail "mod_wsgi ($so) embeds Python $wsgi_version but the venv runs Python $venv_version; set [app] python to python$wsgi_version"
  fi
fi
cd {q(release)}
set +e
out=$(FLASK_RUN_FROM_CLI=true timeout {timeout} {q(python)} -c {q(loader)} {q(wsgi)} 2>&1)
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
