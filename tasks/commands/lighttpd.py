"""Install a lighttpd site and reload lighttpd, never leaving a broken config live.

The site is one file, ``<sites_available>/wsgideploy-<app>.conf``, linked into
``<sites_enabled>`` (Debian's lighttpd.conf includes ``conf-enabled/*.conf``). lighttpd has
no per-site check: ``lighttpd -tt -f <conf>`` tests the whole config, modules included.

lighttpd (since 1.4.46) reloads gracefully on SIGUSR1: it finishes the requests in flight,
reads its config again and goes on in the same process (measured here with 1.4.69: no
request failed across reloads under load). A config it cannot read at that point would
stop it, so the config is tested again right before every reload.

Debian's lighttpd starts as root and drops to ``server.username`` (www-data) before it opens
its logs, at start and at every reload. An access log in the deploy's ``shared/log`` is
therefore made that user's before the site goes in (group: the deploy user's, so ``fab logs``
and the logrotate snippet still read and truncate it). Without that, the reload took the
whole lighttpd down (``opening log ... failed: Permission denied``, then systemd gave up after
five restarts), and every other site with it. And since ``lighttpd -tt`` cannot see such a
failure, the reload is watched: if lighttpd goes down, the previous site is put back,
lighttpd is started again, and the step fails with lighttpd's own error lines.

The bash is ``tasks/recipes/lighttpd.sh`` (with ``site.sh``, shared with nginx); this module writes
the values and the few functions that differ per ``control`` (systemd, or the pidfile and signals).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .front import FrontServer, as_root_function, per_control
from .recipe import Script
from .shell import maybe_sudo, q

if TYPE_CHECKING:
    from ..settings import Lighttpd

SITE_TEMPLATE = "lighttpd/site.conf.j2"
SITE_FILE = "lighttpd.conf"
DEFAULT_CONF = "/etc/lighttpd/lighttpd.conf"
SYSTEMD_UNIT = "lighttpd"
RECIPES = ("process", "site", "lighttpd")  # tasks/recipes/*.sh
WATCH_TENTHS = 20  # how long a reload or start is watched at most, in tenths of a second (see `reload`)
KEPT_SUFFIX = ".live-before"  # the live site, kept beside the rendered one in the new release: never left in /etc


def site_file_name(site_name: str) -> str:
    """The site's file name in ``sites_available`` and ``sites_enabled`` (must end in ``.conf``)."""
    return f"wsgideploy-{site_name}.conf"


def lighttpd_command(settings: Lighttpd, *args: str) -> str:
    """``lighttpd -f <conf> args...``, with ``sudo -n`` when the inventory asks for it."""
    extra = "".join(f" {q(a)}" for a in args)
    return maybe_sudo(f"{q(settings.binary)} -f {q(settings.conf or DEFAULT_CONF)}{extra}", settings.sudo)


def site_path(settings: Lighttpd, site_name: str) -> str:
    """Where `install_site` puts the site: ``<sites_available>/wsgideploy-<name>.conf``."""
    return f"{settings.sites_available}/{site_file_name(site_name)}"


def _signal_control() -> str:
    """The control functions of `lighttpd.sh` through the pidfile, SIGUSR1 and the binary."""
    return """
lighttpd_pid() { as_root cat "$PIDFILE" 2>/dev/null || true; }
lighttpd_running() { lighttpd_alive "$1"; }
lighttpd_reload() { as_root kill -USR1 "$1" || fail "could not signal lighttpd (pid $1) to reload"; }
lighttpd_start_stopped() {
  lighttpd_daemon || fail "lighttpd was not running and did not start"
  lighttpd_wait_pidfile
}
lighttpd_restart() { lighttpd_daemon; }
lighttpd_journal() { :; }"""


def _systemd_control() -> str:
    """The control functions of `lighttpd.sh` through systemd's unit `SYSTEMD_UNIT`."""
    unit = SYSTEMD_UNIT
    # What lighttpd says before it opens its error log (a port it cannot bind) goes to the journal.
    return f"""
lighttpd_pid() {{ as_root systemctl show -p MainPID --value {unit} 2>/dev/null | grep -v '^0$' || true; }}
lighttpd_running() {{ as_root systemctl is-active --quiet {unit}; }}
lighttpd_reload() {{ as_root systemctl reload {unit} || fail "systemctl reload {unit} failed"; }}
lighttpd_start_stopped() {{
  as_root systemctl start {unit} || lighttpd_went_down start
  lighttpd_live_pid > /dev/null || lighttpd_went_down start
}}
lighttpd_restart() {{
  as_root systemctl reset-failed {unit} 2>/dev/null || true
  as_root systemctl restart {unit}
}}
lighttpd_journal() {{
  as_root journalctl -u {unit} --since "@${{lighttpd_since:-0}}" -o cat --no-pager 2>/dev/null \\
    | grep -v -e '^{unit}.service:' -e '^Start' -e '^Stop' | tail -n 4 || true
}}"""


def control_functions(settings: Lighttpd) -> str:
    """``as_root``, ``lighttpd_cmd`` and the control functions of `lighttpd.sh` for ``settings.control``.

    ``auto`` uses systemd where it runs and no custom main config is set, the pidfile and signals elsewhere.
    """
    common = as_root_function(settings.sudo) + f"\nlighttpd_cmd() {{ {lighttpd_command(settings)} \"$@\"; }}"
    return per_control(settings.control, bool(settings.conf), common=common, systemd=_systemd_control(),
                       signal=_signal_control())


def _values(settings: Lighttpd, site_name: str = "", rendered_path: str = "") -> dict[str, str | int]:
    values: dict[str, str | int] = {"WATCH_TENTHS": WATCH_TENTHS, "PIDFILE": settings.pidfile}
    if site_name:
        values |= {"SITE_AVAILABLE": site_path(settings, site_name),
                   "SITE_ENABLED": f"{settings.sites_enabled}/{site_file_name(site_name)}",
                   "SITE_KEPT": rendered_path + KEPT_SUFFIX, "RENDERED_SITE": rendered_path,
                   "SITES_LABEL": "lighttpd directory", "SITE_TEST_LABEL": "lighttpd -tt"}
    return values


def install_site(settings: Lighttpd, site_name: str, rendered_path: str) -> str:
    """Give lighttpd's user the site's access logs (``lighttpd_logs_for_user``), keep a copy of the live
    site, install ``rendered_path`` as the site, enable it and test the whole config (``lighttpd -tt``);
    a rejected site is taken back (``site_install``, tasks/recipes/site.sh).

    The kept copy (``kept_site``) serves `reload` in the same script, which puts it back if lighttpd
    cannot run with the new site.
    """
    return Script("lighttpd_logs_for_user\nsite_install", _values(settings, site_name, rendered_path), RECIPES,
                  control_functions(settings)).text()


def reload(settings: Lighttpd) -> str:
    """Test the config, then reload lighttpd gracefully (SIGUSR1), or start it if it is not running;
    then watch it (`WATCH_TENTHS`): if it went down, put the previous site back, start it again and fail.

    ``control = "auto"`` uses systemctl where systemd runs and no custom main config is set,
    and the pidfile and signals elsewhere.
    """
    return Script("lighttpd_test\nlighttpd_apply_or_fail", _values(settings), RECIPES,
                  control_functions(settings)).text()


def publish_site(settings: Lighttpd, site_name: str, rendered_path: str) -> str:
    """Install and test the site, then apply it: `install_site` then `reload` (watched: a lighttpd that
    went down gets the previous site back)."""
    return Script("lighttpd_logs_for_user\nsite_install\nlighttpd_test\nlighttpd_apply_or_fail",
                  _values(settings, site_name, rendered_path), RECIPES, control_functions(settings)).text()


class LighttpdFront(FrontServer):
    """lighttpd: a site included from its conf directory; a reload watched until it took."""

    name = "lighttpd"
    site_template = SITE_TEMPLATE
    site_file = SITE_FILE

    # the module's builders are the class's methods
    site_path = staticmethod(site_path)
    install_site = staticmethod(install_site)
    publish_site = staticmethod(publish_site)
    reload = staticmethod(reload)
