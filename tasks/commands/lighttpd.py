"""Install a lighttpd site and reload lighttpd, never leaving a broken config live.

The site is one file, ``<sites_available>/wsgideploy-<app>.conf``, linked into
``<sites_enabled>`` (Debian's lighttpd.conf includes ``conf-enabled/*.conf``). lighttpd has
no per-site check: ``lighttpd -tt -f <conf>`` tests the whole config, modules included.

lighttpd (since 1.4.46) reloads gracefully on SIGUSR1: it finishes the requests in flight,
reads its config again and goes on in the same process (measured here with 1.4.69: no
request failed across reloads under load). A config it cannot read at that point would
stop it, so the config is tested again right before every reload.
"""
from __future__ import annotations

from ..inventory import Lighttpd
from .release import FACTS_MARK
from .sites import install_tested_site
from .shell import fail, maybe_sudo, q, script

SITE_TEMPLATE = "lighttpd/site.conf.j2"
SITE_FILE = "lighttpd.conf"
DEFAULT_CONF = "/etc/lighttpd/lighttpd.conf"


def site_file_name(site_name: str) -> str:
    """The site's file name in ``sites_available`` and ``sites_enabled`` (must end in ``.conf``)."""
    return f"wsgideploy-{site_name}.conf"


def lighttpd_command(settings: Lighttpd, *args: str) -> str:
    """``lighttpd -f <conf> args...``, with ``sudo -n`` when the inventory asks for it."""
    extra = "".join(f" {q(a)}" for a in args)
    return maybe_sudo(f"{q(settings.binary)} -f {q(settings.conf or DEFAULT_CONF)}{extra}", settings.sudo)


def _test_config(settings: Lighttpd, failure: str) -> str:
    return f"""if ! out=$({lighttpd_command(settings, "-tt")} 2>&1); then
  echo "$out" >&2
  {fail(failure)}
fi"""


def install_site(settings: Lighttpd, site_name: str, rendered_path: str) -> str:
    """Install ``rendered_path`` as the site, enable it and test the whole config (``lighttpd -tt``);
    a rejected site is taken back (see `sites.install_tested_site`)."""
    return install_tested_site(sites_available=settings.sites_available, sites_enabled=settings.sites_enabled,
                               file_name=site_file_name(site_name), rendered_path=rendered_path,
                               test_command=lighttpd_command(settings, "-tt"), sudo=settings.sudo,
                               directory_label="lighttpd directory", test_label="lighttpd -tt")


def reload(settings: Lighttpd) -> str:
    """Test the config, then reload lighttpd gracefully (SIGUSR1), or start it if it is not running.

    ``control = "auto"`` uses systemctl where systemd runs and no custom main config is set,
    and the pidfile and signals elsewhere.
    """
    s = "sudo -n " if settings.sudo else ""
    test = _test_config(settings, "lighttpd -tt rejects the config: lighttpd was not reloaded")
    signal_reload = f"""
pid=$({s}cat {q(settings.pidfile)} 2>/dev/null || true)
if [ -n "$pid" ] && {s}kill -0 "$pid" 2>/dev/null && ! grep -qs '^State:[[:space:]]*[ZX]' "/proc/$pid/status"; then
  {s}kill -USR1 "$pid" || fail "could not signal lighttpd (pid $pid) to reload"
  echo "{FACTS_MARK}lighttpd=reloaded"
else
  # A file, not $(...): the daemon may keep the standard error it inherited open.
  out=$(mktemp)
  if ! {lighttpd_command(settings)} < /dev/null > "$out" 2>&1; then
    cat "$out" >&2; rm -f "$out"; fail "lighttpd was not running and did not start"
  fi
  rm -f "$out"
  end=$((SECONDS + 10))
  until pid=$({s}cat {q(settings.pidfile)} 2>/dev/null) && [ -n "$pid" ] && {s}kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -lt $end ] || fail {q(f"lighttpd started but wrote no live pid to {settings.pidfile} (server.pid-file in its config?)")}
    sleep 0.1
  done
  echo "{FACTS_MARK}lighttpd=started"
fi"""
    systemd_reload = f"""
if {s}systemctl is-active --quiet lighttpd; then
  {s}systemctl reload lighttpd || fail "systemctl reload lighttpd failed"
  echo "{FACTS_MARK}lighttpd=reloaded"
else
  {s}systemctl start lighttpd || fail "systemctl start lighttpd failed"
  echo "{FACTS_MARK}lighttpd=started"
fi"""
    if settings.control == "signal":
        return script(test, signal_reload)
    if settings.control == "systemd":
        return script(test, systemd_reload)
    if settings.conf:
        return script(test, signal_reload)
    return script(test, f"if [ -d /run/systemd/system ]; then {systemd_reload}\nelse {signal_reload}\nfi")
