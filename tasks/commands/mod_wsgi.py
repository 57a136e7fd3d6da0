"""Run the app in Apache with mod_wsgi in daemon mode (see docs/modes/mod_wsgi.md).

The site (templates/apache/site.conf.j2) defines ``WSGIDaemonProcess wsgideploy-<name>`` running
as the app's own user with ``python-home=<root>/current/venv`` and ``home=<root>/current``, and
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

from . import apache
from .app_server import AppServer, ServerContext
from .recipe import Script

SCRIPT = "app.wsgi"
MOD_WSGI_SO = "/usr/lib/apache2/modules/mod_wsgi.so"
RECIPES = ("process", "mod_wsgi")  # tasks/recipes/*.sh: every function the control scripts call


def _site_name(ctx: ServerContext) -> str:
    if ctx.app is None:
        raise ValueError("mod_wsgi commands need the app (ServerContext.app)")
    return ctx.app.name


def _settings(ctx: ServerContext) -> apache.Apache:
    if not isinstance(ctx.proxy, apache.Apache):
        raise ValueError("mod_wsgi runs inside Apache: ServerContext.proxy must be the [apache] settings")
    return ctx.proxy


def _enable_and_reload(ctx: ServerContext) -> str:
    """Enable the installed site again (tested) and reload or start Apache."""
    settings = _settings(ctx)
    return apache.install_live_site(settings, _site_name(ctx)) + apache.reload(settings)


def _script(ctx: ServerContext, run: str, **extra: str | int) -> str:
    """A script that runs ``run`` with ``mod_wsgi.sh`` and Apache's functions (`apache.functions`)."""
    settings, layout = _settings(ctx), ctx.layout
    values: dict[str, str | int] = {
        "current": layout.current, "enabled": apache.enabled_link(settings, _site_name(ctx)),
        "wsgi_script": f"{layout.live_config_dir}/{SCRIPT}", **extra}
    # apache_ctl ARGS: Apache's control command (binary, -f conf, sudo) as the inventory names it
    functions = apache.functions(settings) + f'apache_ctl() {{ {apache.apache_command(settings)} "$@"; }}\n'
    return Script(run, values, RECIPES, functions).text()


class ModWsgi(AppServer):
    """The app in Apache's mod_wsgi daemon processes: an upgrade touches the ``.wsgi`` script."""

    name = "mod_wsgi"
    fronts = ("apache",)
    upstream = "mod_wsgi"              # Apache runs the app itself: no socket of wsgideploy's
    packages = ()                      # mod_wsgi is Apache's module (Debian: libapache2-mod-wsgi-py3)
    host_packages = ("libapache2-mod-wsgi-py3",)
    config_templates = {SCRIPT: "apache/app.wsgi.j2"}

    def start(self, ctx: ServerContext) -> str:
        """Enable the live release's site and start (or gracefully reload) Apache, unless both are done."""
        # The scripts of the site's installation run in the same bash: the functions stay defined.
        return _script(ctx, "mod_wsgi_start_unless_running") + _enable_and_reload(ctx) + "mod_wsgi_started\n"

    def upgrade(self, ctx: ServerContext, start_if_stopped: bool = True) -> str:
        """Make the daemon processes serve ``current`` (code and venv): touch the ``.wsgi`` file.

        Each daemon process restarts at its next request (mod_wsgi's script reloading). If Apache
        is not running or the site is disabled, it is started (``start_if_stopped``) or an error.
        """
        before = _script(ctx, "mod_wsgi_before_upgrade", start_if_stopped=int(start_if_stopped))
        when_stopped = ('if [ "$wsgideploy_running" = 0 ]; then\n' + _enable_and_reload(ctx) + "fi\n"
                        if start_if_stopped else "")
        return before + when_stopped + "mod_wsgi_upgrade\n"

    def stop(self, ctx: ServerContext) -> str:
        """Disable the site (its link and Listen file) and reload Apache: the daemon processes exit.

        Apache and its other sites keep running. An Apache left with no Listen at all would exit
        at the reload ("no listening sockets available"), so it is stopped gracefully instead.
        ``start`` (or a deploy) enables the site again.
        """
        settings = _settings(ctx)
        run = apache.disable_site(settings, _site_name(ctx)).strip("\n") + "\nmod_wsgi_stop"
        return _script(ctx, run, GRACEFUL_TIMEOUT=int(ctx.graceful_timeout))

    def status(self, ctx: ServerContext) -> str:
        """Report Apache's pid when it runs with the site enabled, and the live release."""
        return _script(ctx, "mod_wsgi_status")

    def check(self, ctx: ServerContext, release_id: str) -> str:
        """Load the release's ``.wsgi`` file in its own venv, as mod_wsgi would, before the switch.

        ``FLASK_RUN_FROM_CLI=true`` turns a stray ``app.run()`` into a no-op and ``timeout`` bounds
        an import that hangs. mod_wsgi embeds one Python version (Debian's: the system python3):
        a venv of another version cannot run there, so that is checked too.
        """
        layout = ctx.layout
        release = layout.release(release_id)
        values: dict[str, str | int] = {
            "release": release, "release_id": release_id, "check_timeout": int(ctx.timeout),
            "wsgi": f"{release}/{layout.config_dir_name}/{SCRIPT}", "mod_wsgi_so": MOD_WSGI_SO}
        return Script("mod_wsgi_check", values, ("app_check", "mod_wsgi")).text()
