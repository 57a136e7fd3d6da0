"""Install a lighttpd site and reload lighttpd, never leaving a broken config live.

The site is one file, ``<sites_available>/wsgideploy-<app>.conf``, linked into
``<sites_enabled>`` (Debian's lighttpd.conf includes ``conf-enabled/*.conf``). lighttpd has
no per-site check: ``lighttpd -tt -f <conf>`` tests the whole config, modules included.

lighttpd (since 1.4.46) reloads gracefully on SIGUSR1: it finishes the requests in flight,
reads its config again and goes on in the same process (measured here with 1.4.69: no
request failed across reloads under load). A config it cannot read at that point would
stop it, so the config is tested again right before every reload.

Debian's lighttpd starts as root and drops to ``server.username`` (www-data) before it opens
its logs, at start and at every reload. The site's access log is therefore lighttpd's own,
``/var/log/lighttpd/<app>.access.log`` (www-data's folder, rotated by Debian's own logrotate
snippet), not in the deploy's ``shared/log``: a log lighttpd cannot open at a reload took the
whole lighttpd down (``opening log ... failed: Permission denied``, then systemd gave up after
five restarts), and every other site with it. Since ``lighttpd -tt`` cannot see such a failure,
the reload is still watched: if lighttpd goes down, the previous site is put back, lighttpd is
started again, and the step fails with lighttpd's own error lines.

The site's text is rendered on the controller and installed by root from the script. Without
systemd, a reload is ``pkill --signal USR1 --pidfile <pidfile>``: a fixed command (the pid is read
by root from lighttpd's own root-owned pidfile), which sudoers can allow; ``kill -USR1 <pid>``
could not be. What runs as root is `root_commands` (tasks/commands/privileged.py).

The bash is ``tasks/recipes/lighttpd.sh`` (with ``site.sh``, shared with nginx); this module writes
the values and the few functions that differ per ``control`` (systemd, or the pidfile and signals).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from .front import (FrontServer, RootCommand, as_root_function, binary_path, per_control, site_file_commands,
                    system_command, uses_signals, uses_systemd)
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
KEPT_SUFFIX = ".wsgideploy-live"  # the live site, kept beside it (root's folder; lighttpd includes *.conf only)


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
lighttpd_pid() { pid_in "$PIDFILE"; }
lighttpd_running() { lighttpd_alive "$1"; }
lighttpd_coming_back() { return 1; }
lighttpd_reload() {
  [ -n "$(pid_in "$PIDFILE")" ] || fail "$PIDFILE does not name a process (a pid above 1): lighttpd was not signalled"
  as_root pkill --signal USR1 --pidfile "$PIDFILE" || fail "could not signal lighttpd (pid $1) to reload"
}
lighttpd_start_stopped() {
  lighttpd_daemon || fail "lighttpd was not running and did not start"
  lighttpd_wait_pidfile
}
lighttpd_restart() { lighttpd_daemon; }
lighttpd_restart_running() {
  site_restore
  fail "the site listens on port(s) $1, which lighttpd binds as root only, at a start: restart lighttpd as root, then deploy again"
}
lighttpd_journal() { :; }"""


def _systemd_control() -> str:
    """The control functions of `lighttpd.sh` through systemd's unit `SYSTEMD_UNIT`."""
    unit = SYSTEMD_UNIT
    # What lighttpd says before it opens its error log (a port it cannot bind) goes to the journal,
    # which the groups adm and systemd-journal read.
    return f"""
lighttpd_pid() {{ systemctl show -p MainPID --value {unit} 2>/dev/null | grep -v '^0$' || true; }}
lighttpd_running() {{ systemctl is-active --quiet {unit}; }}
lighttpd_coming_back() {{ [ "$(systemctl show -p ActiveState --value {unit} 2>/dev/null)" = activating ]; }}
lighttpd_reload() {{ as_root systemctl reload {unit} || fail "systemctl reload {unit} failed"; }}
lighttpd_start_stopped() {{
  as_root systemctl start {unit} || lighttpd_went_down start
  lighttpd_live_pid > /dev/null || lighttpd_went_down start
}}
lighttpd_restart() {{
  as_root systemctl reset-failed {unit} 2>/dev/null || true
  as_root systemctl restart {unit}
}}
lighttpd_restart_running() {{ as_root systemctl restart {unit} || lighttpd_went_down restart; }}
lighttpd_journal() {{
  journalctl -u {unit} --since "@${{lighttpd_since:-0}}" -o cat --no-pager 2>/dev/null \\
    | grep -v -e '^{unit}.service:' -e '^Start' -e '^Stop' | tail -n 4 || true
}}"""


def control_functions(settings: Lighttpd) -> str:
    """``as_root``, ``lighttpd_cmd`` and the control functions of `lighttpd.sh` for ``settings.control``.

    ``auto`` uses systemd where it runs and no custom main config is set, the pidfile and signals elsewhere.
    """
    query = lighttpd_command(settings).removeprefix("sudo -n ")  # the same binary and -f, as the deploy user
    common = (as_root_function(settings.sudo) + f"\nlighttpd_cmd() {{ {lighttpd_command(settings)} \"$@\"; }}"
              f"\nlighttpd_query() {{ {query} \"$@\"; }}")
    return per_control(settings.control, bool(settings.conf), common=common, systemd=_systemd_control(),
                       signal=_signal_control())


def _values(settings: Lighttpd, site_name: str = "", site_text: str = "") -> dict[str, str | int]:
    values: dict[str, str | int] = {"WATCH_TENTHS": WATCH_TENTHS, "PIDFILE": settings.pidfile}
    if site_name:
        values |= {"SITE_AVAILABLE": site_path(settings, site_name),
                   "SITE_ENABLED": f"{settings.sites_enabled}/{site_file_name(site_name)}",
                   "SITE_KEPT": site_path(settings, site_name) + KEPT_SUFFIX, "SITE_TEXT": site_text,
                   "SITES_LABEL": "lighttpd directory", "SITE_TEST_LABEL": "lighttpd -tt"}
    return values


def install_site(settings: Lighttpd, site_name: str, site_text: str) -> str:
    """Keep a copy of the live site, install ``site_text`` as the site, enable it and test the whole
    config (``lighttpd -tt``);
    a rejected site is taken back (``site_install``, tasks/recipes/site.sh).

    The kept copy (``kept_site``) serves `reload` in the same script, which puts it back if lighttpd
    cannot run with the new site.
    """
    return Script("site_install", _values(settings, site_name, site_text), RECIPES,
                  control_functions(settings)).text()


def reload(settings: Lighttpd) -> str:
    """Test the config, then reload lighttpd gracefully (SIGUSR1), or start it if it is not running;
    then watch it (`WATCH_TENTHS`): if it went down, put the previous site back, start it again and fail.

    ``control = "auto"`` uses systemctl where systemd runs and no custom main config is set,
    and the pidfile and signals elsewhere.
    """
    return Script('lighttpd_test\nlighttpd_apply_or_fail ""', _values(settings), RECIPES,
                  control_functions(settings)).text()


def publish_site(settings: Lighttpd, site_name: str, site_text: str) -> str:
    """Install and test the site, then apply it: `install_site` then `reload` (watched: a lighttpd that
    went down gets the previous site back). A running lighttpd whose enabled site is these very bytes is
    left alone (fact ``lighttpd=unchanged``). The ports below 1024 that the site adds are asked before it
    goes in and handed to ``lighttpd_apply_or_fail``: a reload by someone else in between could hide them."""
    run = ('if site_is_live && lighttpd_alive "$(lighttpd_pid)"; then fact lighttpd unchanged\n'
           'else new_ports=$(new_low_ports); site_install; lighttpd_test; lighttpd_apply_or_fail "$new_ports"; fi')
    return Script(run, _values(settings, site_name, site_text),
                  RECIPES, control_functions(settings)).text()


def remove_site(settings: Lighttpd, site_name: str) -> str:
    """Remove the site and its link, test the config without them (``lighttpd -tt``), reload lighttpd and
    watch it; the site goes back when either fails (``site_remove``, then `reload`'s apply).
    Fact ``site``: ``removed`` or ``none installed``."""
    run = ('site_remove\nif [ "$site_removed" = 1 ]; then lighttpd_test; lighttpd_apply_or_fail ""; site_drop_kept; '
           'fact site removed; else fact site "none installed"; fi')
    return Script(run, _values(settings, site_name, ""), RECIPES + ("site_removal",),
                  control_functions(settings)).text()


def root_commands(settings: Lighttpd, site_name: str) -> list[RootCommand]:
    """Every command the scripts above run as root (none without ``sudo``), with its exact arguments."""
    if not settings.sudo:
        return []
    conf = settings.conf or DEFAULT_CONF
    binary = (binary_path(settings.binary), "-f", conf)
    commands = [RootCommand((*binary, "-tt"), "test the whole config with the new site, modules loaded")]
    if uses_systemd(settings.control, bool(settings.conf)):
        commands += [system_command("systemctl", verb, SYSTEMD_UNIT, why=why) for verb, why in (
            ("reload", "apply the new site (SIGUSR1: graceful)"), ("start", "start lighttpd when it is not running"),
            ("restart", "start lighttpd again after the new site stopped it"),
            ("reset-failed", "let systemd start a lighttpd it gave up on"))]
    if uses_signals(settings.control, bool(settings.conf)):
        commands += [system_command("pkill", "--signal", "USR1", "--pidfile", settings.pidfile,
                                    why="apply the new site without systemd (the pid from root's pidfile)"),
                     RootCommand(binary, "start lighttpd without systemd")]
    available = site_path(settings, site_name)
    return commands + site_file_commands(available, f"{settings.sites_enabled}/{site_file_name(site_name)}",
                                         available + KEPT_SUFFIX)


class LighttpdFront(FrontServer):
    """lighttpd: a site included from its conf directory; a reload watched until it took."""

    name = "lighttpd"
    host_packages = ("lighttpd",)
    site_template = SITE_TEMPLATE
    site_file = SITE_FILE
    log_dir = "/var/log/lighttpd"
    log_group = "www-data"

    # the module's builders are the class's methods
    site_path = staticmethod(site_path)
    install_site = staticmethod(install_site)
    publish_site = staticmethod(publish_site)
    reload = staticmethod(reload)
    remove_site = staticmethod(remove_site)
    root_commands = staticmethod(root_commands)

    def log_files(self, site_name: str, host_vars: Mapping[str, Any]) -> tuple[str, ...]:
        """The site's access log only: lighttpd has one error log, its own (``server.errorlog``)."""
        return super().log_files(site_name, host_vars)[:1]
