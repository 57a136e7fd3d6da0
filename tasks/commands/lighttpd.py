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
"""
from __future__ import annotations

from ..inventory import Lighttpd
from ..protocol import FACTS_MARK
from .sites import install_tested_site
from .shell import PRELUDE, fail, maybe_sudo, q, script

SITE_TEMPLATE = "lighttpd/site.conf.j2"
SITE_FILE = "lighttpd.conf"
DEFAULT_CONF = "/etc/lighttpd/lighttpd.conf"
SYSTEMD_UNIT = "lighttpd"
WATCH_TENTHS = 20  # how long a reload or start is watched at most, in tenths of a second (see `reload`)


def site_file_name(site_name: str) -> str:
    """The site's file name in ``sites_available`` and ``sites_enabled`` (must end in ``.conf``)."""
    return f"wsgideploy-{site_name}.conf"


def lighttpd_command(settings: Lighttpd, *args: str) -> str:
    """``lighttpd -f <conf> args...``, with ``sudo -n`` when the inventory asks for it."""
    extra = "".join(f" {q(a)}" for a in args)
    return maybe_sudo(f"{q(settings.binary)} -f {q(settings.conf or DEFAULT_CONF)}{extra}", settings.sudo)


def quoted_value(key: str, first: str = "") -> str:
    """A sed program, quoted for bash, that prints the value of each ``key = "<value>"`` line
    (``first``: characters the value may not start with, e.g. ``|`` for a piped log)."""
    start = f'[^"{first}]' if first else ""
    pattern = (r"s/^[[:space:]]*" + key.replace(".", r"\.") + r'[[:space:]]*=[[:space:]]*"\('
               + start + r'[^"]*\)".*/\1/p')
    return q(pattern)


def printed_setting(settings: Lighttpd, key: str) -> str:
    """A command that prints ``key`` of lighttpd's parsed config (``lighttpd -p``), or nothing."""
    return f"{{ {lighttpd_command(settings, '-p')} 2>/dev/null | sed -n {quoted_value(key)} | tail -n 1; }} || true"


def _test_config(settings: Lighttpd, failure: str) -> str:
    return f"""if ! out=$({lighttpd_command(settings, "-tt")} 2>&1); then
  echo "$out" >&2
  {fail(failure)}
fi"""


def site_path(settings: Lighttpd, site_name: str) -> str:
    """Where `install_site` puts the site: ``<sites_available>/wsgideploy-<name>.conf``."""
    return f"{settings.sites_available}/{site_file_name(site_name)}"


def install_site(settings: Lighttpd, site_name: str, rendered_path: str) -> str:
    """Give lighttpd's user the site's access logs, keep a copy of the live site, install
    ``rendered_path`` as the site, enable it and test the whole config (``lighttpd -tt``);
    a rejected site is taken back (see `sites.install_tested_site`).

    Leaves ``wsgideploy_lighttpd_*`` variables for `reload`, which puts the kept copy back
    if lighttpd cannot run with the new site.
    """
    available = site_path(settings, site_name)
    enabled = f"{settings.sites_enabled}/{site_file_name(site_name)}"
    kept = f"{rendered_path}.live-before"  # in the new release: never left in /etc
    keep_live_site = f"""
wsgideploy_lighttpd_site={q(available)}; wsgideploy_lighttpd_link={q(enabled)}
wsgideploy_lighttpd_previous=""; wsgideploy_lighttpd_had_link=0
if [ -e {q(available)} ]; then cp -p {q(available)} {q(kept)} && wsgideploy_lighttpd_previous={q(kept)}; fi
if [ -L {q(enabled)} ]; then wsgideploy_lighttpd_had_link=1; fi
"""
    install = install_tested_site(sites_available=settings.sites_available, sites_enabled=settings.sites_enabled,
                                  file_name=site_file_name(site_name), rendered_path=rendered_path,
                                  test_command=lighttpd_command(settings, "-tt"), sudo=settings.sudo,
                                  directory_label="lighttpd directory", test_label="lighttpd -tt")
    return script(logs_for_lighttpd_user(settings, rendered_path), keep_live_site, install.removeprefix(PRELUDE))


def logs_for_lighttpd_user(settings: Lighttpd, rendered_path: str) -> str:
    """Script lines that make every ``accesslog.filename`` of the rendered site writable by the
    user lighttpd drops to (``server.username``), as ``<that user>:<deploy group>`` mode 0660.

    Nothing to do when lighttpd keeps the user that starts it (no ``server.username``, or the
    deploy user's own). A file it cannot hand over (no sudo) fails the step before the site goes
    in: lighttpd would stop at its next reload.
    """
    s = "sudo -n " if settings.sudo else ""
    return f"""
lighttpd_user=$({printed_setting(settings, "server.username")})
if [ -n "$lighttpd_user" ] && [ "$lighttpd_user" != "$(id -un)" ]; then
  while IFS= read -r log; do
    [ -n "$log" ] || continue
    if [ -e "$log" ]; then
      given=$({s}chown "$lighttpd_user:$(id -gn)" "$log" 2>&1 && {s}chmod 0660 "$log" 2>&1) || given="failed: $given"
    else
      given=$({s}install -m 0660 -o "$lighttpd_user" -g "$(id -gn)" /dev/null "$log" 2>&1) || given="failed: $given"
    fi
    case $given in failed:*)
      fail "lighttpd runs as $lighttpd_user (server.username) and opens $log at every reload, but it could not be made that user's ($given): lighttpd would stop at the reload. Give $lighttpd_user that file, or set [lighttpd] sudo = true.";;
    esac
    echo "{FACTS_MARK}lighttpd_log=$log ($lighttpd_user:$(id -gn))"
  done <<EOF_LIGHTTPD_LOGS
$(sed -n {quoted_value("accesslog.filename", first="|")} {q(rendered_path)} | sort -u)
EOF_LIGHTTPD_LOGS
fi
"""


def _functions(settings: Lighttpd, systemd: bool) -> str:
    """Shell functions of `reload` (under ``systemd`` or with signals): watch lighttpd after a
    reload or start; put the previous site back and start lighttpd again when it went down."""
    s = "sudo -n " if settings.sudo else ""
    # What lighttpd says before it opens its error log (a port it cannot bind) goes to the journal.
    journal = (f"{s}journalctl -u {SYSTEMD_UNIT} --since \"@${{lighttpd_since:-0}}\" -o cat --no-pager 2>/dev/null"
               f" | grep -v -e '^{SYSTEMD_UNIT}.service:' -e '^Start' -e '^Stop' | tail -n 4 || true"
               if systemd else "")
    if systemd:
        pid = f"{s}systemctl show -p MainPID --value {SYSTEMD_UNIT} 2>/dev/null | grep -v '^0$' || true"
        start = (f"  {s}systemctl reset-failed {SYSTEMD_UNIT} 2>/dev/null || true\n"
                 f"  {s}systemctl restart {SYSTEMD_UNIT} || return 1")
    else:
        pid = f"{s}cat {q(settings.pidfile)} 2>/dev/null || true"
        start = f"""  # A file, not $(...): the daemon may keep the standard error it inherited open.
  out=$(mktemp)
  if ! {lighttpd_command(settings)} < /dev/null > "$out" 2>&1; then cat "$out" >&2; rm -f "$out"; return 1; fi
  rm -f "$out"
"""
    return f"""
lighttpd_pid() {{
  {pid}
}}
lighttpd_alive() {{
  [ -n "${{1:-}}" ] && {s}kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*[ZX]' "/proc/$1/status"
}}
# lighttpd_starts: how many times its error log says "server started" (at every start, and at every
# reload once it has read its config again: right before it opens its logs)
lighttpd_starts() {{
  local log
  log=$({printed_setting(settings, "server.errorlog")})
  {{ [ -n "$log" ] && {s}grep -c 'server started' "$log" 2>/dev/null; }} || echo 0
}}
# lighttpd_stays PID STARTS: that lighttpd still runs 0.3 s after its error log counts more than STARTS
# "server started" lines, or {WATCH_TENTHS / 10:g} s later. A reload re-reads the config in the same process
# once the requests in flight are done; a config it cannot run (a log it cannot open) ends it right after.
lighttpd_stays() {{
  for _ in $(seq {WATCH_TENTHS}); do
    sleep 0.1
    lighttpd_alive "$1" || return 1
    if [ "$(lighttpd_starts)" -gt "${{2:-999999999}}" ]; then
      sleep 0.3
      lighttpd_alive "$1"
      return
    fi
  done
}}
lighttpd_errors() {{
  local log
  log=$({printed_setting(settings, "server.errorlog")})
  {{ {journal}
    [ -z "$log" ] || {s}tail -n 4 "$log" 2>/dev/null; }} | sed 's/^/  /' || true
}}
lighttpd_start() {{
  local starts
  starts=$(lighttpd_starts)
{start}
  local end=$((SECONDS + 10)) pid=""
  until pid=$(lighttpd_pid) && lighttpd_alive "$pid"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.1
  done
  lighttpd_stays "$pid" "$starts"
}}
# lighttpd_went_down WHAT: put the site lighttpd ran before back, start lighttpd with it, fail the step.
lighttpd_went_down() {{
  local errors
  errors=$(lighttpd_errors)
  if [ -n "${{wsgideploy_lighttpd_site:-}}" ]; then
    if [ -n "${{wsgideploy_lighttpd_previous:-}}" ]; then
      {s}install -m 0644 "$wsgideploy_lighttpd_previous" "$wsgideploy_lighttpd_site"
    else
      {s}rm -f "$wsgideploy_lighttpd_site"
    fi
    [ "${{wsgideploy_lighttpd_had_link:-1}}" = 1 ] || {s}rm -f "$wsgideploy_lighttpd_link"
    back="the previous site was put back"
  else
    back="no site was changed"
  fi
  if lighttpd_start; then
    printf '%s\n' "$errors" >&2
    fail "lighttpd stopped after the $1 (its error log is above); $back and lighttpd was started again"
  fi
  printf '%s\n' "$errors" >&2
  lighttpd_errors >&2
  fail "lighttpd stopped after the $1 (its error log is above); $back, but lighttpd DID NOT START again"
}}
"""


def reload(settings: Lighttpd) -> str:
    """Test the config, then reload lighttpd gracefully (SIGUSR1), or start it if it is not running;
    then watch it (`WATCH_TENTHS`): if it went down, put the previous site back, start it again and fail.

    ``control = "auto"`` uses systemctl where systemd runs and no custom main config is set,
    and the pidfile and signals elsewhere.
    """
    s = "sudo -n " if settings.sudo else ""
    test = _test_config(settings, "lighttpd -tt rejects the config: lighttpd was not reloaded")
    signal_reload = f"""{_functions(settings, systemd=False)}
pid=$(lighttpd_pid)
starts=$(lighttpd_starts)
if lighttpd_alive "$pid"; then
  {s}kill -USR1 "$pid" || fail "could not signal lighttpd (pid $pid) to reload"
  lighttpd_stays "$pid" "$starts" || lighttpd_went_down reload
  echo "{FACTS_MARK}lighttpd=reloaded"
else
  # A file, not $(...): the daemon may keep the standard error it inherited open.
  out=$(mktemp)
  if ! {lighttpd_command(settings)} < /dev/null > "$out" 2>&1; then
    cat "$out" >&2; rm -f "$out"; fail "lighttpd was not running and did not start"
  fi
  rm -f "$out"
  end=$((SECONDS + 10))
  until pid=$(lighttpd_pid) && [ -n "$pid" ] && {s}kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -lt $end ] || fail {q(f"lighttpd started but wrote no live pid to {settings.pidfile} (server.pid-file in its config?)")}
    sleep 0.1
  done
  lighttpd_stays "$pid" "$starts" || lighttpd_went_down start
  echo "{FACTS_MARK}lighttpd=started"
fi"""
    systemd_reload = f"""{_functions(settings, systemd=True)}
lighttpd_since=$(date +%s)
starts=$(lighttpd_starts)
if {s}systemctl is-active --quiet {SYSTEMD_UNIT}; then
  pid=$(lighttpd_pid)
  {s}systemctl reload {SYSTEMD_UNIT} || fail "systemctl reload {SYSTEMD_UNIT} failed"
  lighttpd_stays "$pid" "$starts" || lighttpd_went_down reload
  echo "{FACTS_MARK}lighttpd=reloaded"
else
  {s}systemctl start {SYSTEMD_UNIT} || lighttpd_went_down start
  end=$((SECONDS + 10))
  until pid=$(lighttpd_pid) && lighttpd_alive "$pid"; do
    [ $SECONDS -lt $end ] || lighttpd_went_down start
    sleep 0.1
  done
  lighttpd_stays "$pid" "$starts" || lighttpd_went_down start
  echo "{FACTS_MARK}lighttpd=started"
fi"""
    if settings.control == "signal" or (settings.control != "systemd" and settings.conf):
        body = signal_reload
    elif settings.control == "systemd":
        body = systemd_reload
    else:
        body = f"if [ -d /run/systemd/system ]; then {systemd_reload}\nelse {signal_reload}\nfi"
    return script(test, body)


def publish_site(settings: Lighttpd, site_name: str, rendered_path: str) -> str:
    """Install and test the site, then apply it: `install_site` then `reload` (watched: a lighttpd that went down gets the previous site back)."""
    return install_site(settings, site_name, rendered_path) + reload(settings)
