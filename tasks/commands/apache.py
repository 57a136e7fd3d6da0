"""Install an Apache site and reload Apache gracefully, never leaving a broken config live.

The site file goes to ``<sites_available>/<name>.conf`` and is enabled the Debian way: with
``a2ensite`` when the directories are Debian's own (``/etc/apache2/sites-*``), with the same
symlink otherwise (a custom prefix). The ``Listen`` the site needs goes in wsgideploy's own
file, ``<listen_dir>/wsgideploy-<name>.conf``; ports.conf and other sites are never edited.
The rendered site names it on a ``# wsgideploy-listen: <address:port>`` line. When the host's
config already listens there (``Listen 80`` in ports.conf), the file adds nothing, because a
second Listen on the same port passes ``apachectl -t`` and then kills Apache at the graceful
restart (measured: "could not bind ... no listening sockets available, shutting down").

``apachectl -t`` runs before any reload; if it fails, the previous site file, link and Listen
file are put back, Apache is not touched, and the step fails with Apache's message.

A graceful restart of Apache also restarts every mod_wsgi daemon process, and requests in
flight there fail (measured, see docs/modes/mod_wsgi.md). The site template therefore names
only ``current`` paths and no release id: when a deploy leaves the site and the Listen file
byte for byte as they were, `install_site` says so (``wsgideploy_apache_unchanged=1`` in the
script) and `reload` leaves a running Apache alone. The app server reloads itself instead.

A module that runs processes of its own (mod_cgid's daemon) starts them only on the second
pass over the config, which a graceful restart never makes: loaded there, mod_cgid answers
every request 503 ("unable to connect to cgi daemon after multiple tries"; Debian's apache2
runs mpm_event, so CGI is mod_cgid). So when the site loads a module the config did not load
before, or mod_cgid is loaded but its daemon is not running, `reload` restarts Apache fully
(``systemctl restart``, or ``-k graceful-stop`` then ``-k start``) and says why.
"""
from __future__ import annotations

from ..settings import Apache
from ..protocol import FACTS_MARK
from .front import FrontServer
from .shell import fail, maybe_sudo, q, script

SITE_TEMPLATE = "apache/site.conf.j2"
SITE_FILE = "apache.conf"
LISTEN_MARK = "# wsgideploy-listen:"
DEBIAN_CONFDIR = "/etc/apache2"
SYSTEMD_UNIT = "apache2"


def apache_command(apache: Apache, *args: str) -> str:
    """``<binary> [-f conf] args...`` (``apache2ctl`` passes them to apache2 with Debian's envvars),
    with ``sudo -n`` when the inventory asks for it."""
    conf = f" -f {q(apache.conf)}" if apache.conf else ""
    extra = "".join(f" {q(a)}" for a in args)
    return maybe_sudo(f"{q(apache.binary)}{conf}{extra}", apache.sudo)


def site_path(apache: Apache, site_name: str) -> str:
    """``<sites_available>/<name>.conf`` (Debian's apache2.conf includes ``sites-enabled/*.conf`` only)."""
    return f"{apache.sites_available}/{site_name}.conf"


def enabled_link(apache: Apache, site_name: str) -> str:
    return f"{apache.sites_enabled}/{site_name}.conf"


def listen_file(apache: Apache, site_name: str) -> str:
    """wsgideploy's own file with the site's ``Listen`` directive."""
    return f"{apache.listen_dir}/wsgideploy-{site_name}.conf"


def uses_a2ensite(apache: Apache) -> bool:
    """Whether the sites directories are Debian's own, where ``a2ensite`` manages the links."""
    return (apache.sites_available == f"{DEBIAN_CONFDIR}/sites-available"
            and apache.sites_enabled == f"{DEBIAN_CONFDIR}/sites-enabled")


def functions(apache: Apache) -> str:
    """Shell functions every Apache script uses: the pid of the running Apache, its error log."""
    s = "sudo -n " if apache.sudo else ""
    return f"""
# A process is alive if /proc has it and it is no zombie (kill -0 fails on another user's process).
proc_alive() {{ [ -n "${{1:-}}" ] && [ -e "/proc/$1" ] && ! grep -qs '^State:[[:space:]]*[ZX]' "/proc/$1/status"; }}
apache_run_cfg() {{ {apache_command(apache, "-t", "-D", "DUMP_RUN_CFG")} 2>/dev/null || true; }}
# apache_pid: the pid of the running Apache parent (from its PidFile), or nothing
apache_pid() {{
  local pidfile pid
  pidfile=$(apache_run_cfg | sed -n 's/^PidFile: "\\(.*\\)"$/\\1/p' | head -n 1)
  [ -n "$pidfile" ] || return 0
  pid=$({s}cat "$pidfile" 2>/dev/null || true)
  if proc_alive "$pid"; then echo "$pid"; fi
}}
# config_listens: "<file> <address:port>" for each Listen directive of the config on disk
config_listens() {{
  local f
  for f in $({apache_command(apache, "-t", "-D", "DUMP_INCLUDES")} 2>/dev/null | sed -n 's/^ *([^)]*) //p' || true); do
    {s}awk -v f="$f" 'tolower($1) == "listen" {{ print f, $2 }}' "$f" 2>/dev/null || true
  done
}}
# apache_modules: the modules the config on disk loads, one a line
apache_modules() {{ {apache_command(apache, "-M")} 2>/dev/null | sed -n 's/^ *\\([a-z0-9_]*\\) (.*/\\1/p' || true; }}
# cgid_daemon_missing: Apache runs with mod_cgid, but no cgid daemon listens (its unix socket is
# named <ScriptSock>.<pid of the Apache parent>, wherever ScriptSock puts it)
cgid_daemon_missing() {{
  local pid
  pid=$(apache_pid)
  [ -n "$pid" ] && apache_modules | grep -qx cgid_module || return 1
  ! awk '{{print $NF}}' /proc/net/unix 2>/dev/null | grep -q "\\.$pid\\$"
}}
# restart_reason: why a graceful restart would not do (nothing when it would)
restart_reason() {{
  if [ -n "${{wsgideploy_apache_new_modules:-}}" ]; then
    echo "the site loads$wsgideploy_apache_new_modules, which a graceful restart does not start properly"
  elif cgid_daemon_missing; then
    echo "mod_cgid's daemon was not running (every CGI request answered 503)"
  fi
}}
apache_error_log() {{
  local log
  log=$(apache_run_cfg | sed -n 's/^Main ErrorLog: "\\(.*\\)"$/\\1/p' | head -n 1)
  [ -n "$log" ] && {s}tail -n 15 "$log" >&2 || true
}}
"""


def install_site(apache: Apache, site_name: str, rendered_path: str) -> str:
    """Install ``rendered_path`` as the site, enable it, write its Listen file, test the whole config.

    If ``apachectl -t`` fails, the previous site, link and Listen file are put back, so the
    config on disk is the one that runs, and the script fails with Apache's error. Sets
    ``wsgideploy_apache_unchanged=1`` when nothing changed, which `reload` reads.
    """
    s = "sudo -n " if apache.sudo else ""
    available, enabled, listen = (site_path(apache, site_name), enabled_link(apache, site_name),
                                  listen_file(apache, site_name))
    if uses_a2ensite(apache):
        enable = f'{s}a2ensite -q {q(site_name)} >/dev/null || fail "a2ensite {site_name} failed"'
    else:
        enable = f"{s}ln -sfn {q(available)} {q(enabled)}"
    test = apache_command(apache, "-t")
    return script(functions(apache), f"""
for d in {q(apache.sites_available)} {q(apache.sites_enabled)} {q(apache.listen_dir)}; do
  [ -d "$d" ] || fail "Apache directory $d does not exist on the host (see [apache] in the inventory)"
done
[ -f {q(rendered_path)} ] || {fail(f"the rendered site {rendered_path} is missing")}

# The Listen this site needs, unless another file of the running config already has it.
want=$(sed -n 's/^{LISTEN_MARK} *//p' {q(rendered_path)} | head -n 1 | tr -d '[:space:]')
listen_text="# wsgideploy: Listen for the site {site_name}. Written by wsgideploy; do not edit."
if [ -n "$want" ]; then
  port=${{want##*:}}; addr=""
  case $want in *:*) addr=${{want%:*}};; esac
  covered=""; conflict=""
  while read -r f v; do
    [ -n "$f" ] || continue
    [ "$f" = {q(listen)} ] || [ "$f" = {q(enabled)} ] && continue
    vport=${{v##*:}}; vaddr=""
    case $v in *:*) vaddr=${{v%:*}};; esac
    [ "$vport" = "$port" ] || continue
    case $vaddr in
      ""|0.0.0.0|"[::]"|"*"|"$addr") covered="$f"; break;;
      *) [ -n "$addr" ] || conflict="$f (Listen $v)";;
    esac
  done <<EOF_LISTENS
$(config_listens)
EOF_LISTENS
  if [ -z "$covered" ] && [ -n "$conflict" ]; then
    fail "port $port is already listened on one address by $conflict: Listen $want (every address) would stop Apache at the graceful restart. Set [app] listen_address, or use another port."
  fi
  if [ -n "$covered" ]; then
    listen_text="$listen_text
# $want: $covered already listens there; a second Listen would stop Apache at the graceful restart."
  else
    listen_text="$listen_text
Listen $want"
  fi
fi

modules_before=" $(apache_modules | paste -sd ' ' -) "
had_site=0; had_link=0; had_listen=0; changed=0
if [ -e {q(available)} ]; then {s}cp -p {q(available)} {q(available + '.wsgideploy-previous')}; had_site=1; fi
if [ -L {q(enabled)} ] || [ -e {q(enabled)} ]; then had_link=1; fi
if [ -e {q(listen)} ]; then {s}cp -p {q(listen)} {q(listen + '.wsgideploy-previous')}; had_listen=1; fi
cmp -s {q(rendered_path)} {q(available)} || changed=1
printf '%s\\n' "$listen_text" | cmp -s - {q(listen)} || changed=1
[ $had_link = 1 ] || changed=1

put_back() {{
  if [ $had_site = 1 ]; then {s}mv -f {q(available + '.wsgideploy-previous')} {q(available)}; else {s}rm -f {q(available)}; fi
  [ $had_link = 1 ] || {s}rm -f {q(enabled)}
  if [ $had_listen = 1 ]; then {s}mv -f {q(listen + '.wsgideploy-previous')} {q(listen)}; else {s}rm -f {q(listen)}; fi
}}
{s}install -m 0644 {q(rendered_path)} {q(available + '.tmp')}
{s}mv -f {q(available + '.tmp')} {q(available)}
printf '%s\\n' "$listen_text" | {s}tee {q(listen + '.tmp')} >/dev/null
{s}chmod 0644 {q(listen + '.tmp')}
{s}mv -f {q(listen + '.tmp')} {q(listen)}
{enable}
if ! out=$({test} 2>&1); then
  put_back
  echo "$out" >&2
  fail "apachectl configtest rejected the new site; the previous config was put back and Apache was not reloaded"
fi
{s}rm -f {q(available + '.wsgideploy-previous')} {q(listen + '.wsgideploy-previous')}
[ $changed = 1 ] || wsgideploy_apache_unchanged=1
wsgideploy_apache_new_modules=""
for module in $(apache_modules); do
  case $modules_before in *" $module "*) ;; *) wsgideploy_apache_new_modules="$wsgideploy_apache_new_modules $module";; esac
done
""")


def disable_site(apache: Apache, site_name: str) -> str:
    """Remove the site's link and Listen file, test the config (put both back if it fails).

    Sets ``wsgideploy_apache_disabled=1`` when the site was enabled, so the caller reloads.
    """
    s = "sudo -n " if apache.sudo else ""
    enabled, listen = enabled_link(apache, site_name), listen_file(apache, site_name)
    backup = listen + ".wsgideploy-previous"
    unlink = (f"{s}a2dissite -q {q(site_name)} >/dev/null || {s}rm -f {q(enabled)}"
              if uses_a2ensite(apache) else f"{s}rm -f {q(enabled)}")
    relink = (f"{s}a2ensite -q {q(site_name)} >/dev/null || true" if uses_a2ensite(apache)
              else f"{s}ln -sfn \"$target\" {q(enabled)}")
    return f"""
wsgideploy_apache_disabled=0
if [ -L {q(enabled)} ] || [ -e {q(enabled)} ]; then
  target=$(readlink {q(enabled)} || true)
  had_listen=0
  if [ -e {q(listen)} ]; then {s}mv -f {q(listen)} {q(backup)}; had_listen=1; fi
  {unlink}
  if ! out=$({apache_command(apache, "-t")} 2>&1); then
    {relink}
    [ $had_listen = 0 ] || {s}mv -f {q(backup)} {q(listen)}
    echo "$out" >&2
    fail "apachectl configtest failed without the site {site_name}; it was left enabled"
  fi
  {s}rm -f {q(backup)}
  wsgideploy_apache_disabled=1
fi
"""


def _graceful(apache: Apache) -> str:
    """Start Apache, or restart it gracefully, then make sure its parent is still alive.

    A graceful restart that cannot bind a port stops Apache after ``-k graceful`` returned 0,
    so the parent is watched for a second before the reload counts as done.
    """
    return f"""
pid=$(apache_pid)
if [ -n "$pid" ]; then
  out=$({apache_command(apache, "-k", "graceful")} 2>&1) || {{ echo "$out" >&2; fail "apache -k graceful failed"; }}
  action=reloaded
else
  out=$({apache_command(apache, "-k", "start")} 2>&1) || {{ echo "$out" >&2; apache_error_log; fail "Apache was not running and did not start"; }}
  action=started
fi
end=$((SECONDS + 10))
while [ -z "$(apache_pid)" ]; do
  [ $SECONDS -lt $end ] || {{ apache_error_log; fail "Apache is not running after '$action' (its error log is above)"; }}
  sleep 0.1
done
for _ in 1 2 3 4 5 6 7 8 9 10; do
  sleep 0.1
  [ -n "$(apache_pid)" ] || {{ apache_error_log; fail "Apache stopped right after the graceful restart (its error log is above)"; }}
done
echo "{FACTS_MARK}apache=$action"
"""


def _full_restart(apache: Apache) -> str:
    """Stop Apache gracefully (requests in flight finish), start it again, check that it runs."""
    return f"""
old=$(apache_pid)
out=$({apache_command(apache, "-k", "graceful-stop")} 2>&1) || {{ echo "$out" >&2; fail "apache -k graceful-stop failed"; }}
end=$((SECONDS + 60))
while proc_alive "$old"; do
  [ $SECONDS -lt $end ] || fail "Apache (pid $old) did not stop within 60 s of -k graceful-stop"
  sleep 0.1
done
out=$({apache_command(apache, "-k", "start")} 2>&1) || {{ echo "$out" >&2; apache_error_log; fail "Apache did not start again"; }}
end=$((SECONDS + 10))
while [ -z "$(apache_pid)" ]; do
  [ $SECONDS -lt $end ] || {{ apache_error_log; fail "Apache is not running after its restart (its error log is above)"; }}
  sleep 0.1
done
"""


def _check_cgid_daemon() -> str:
    """After a full restart: mod_cgid's daemon (if loaded) must come up."""
    return """
end=$((SECONDS + 5))
while cgid_daemon_missing; do
  [ $SECONDS -lt $end ] || { apache_error_log; fail "Apache restarted, but mod_cgid's daemon is not running: CGI requests will answer 503"; }
  sleep 0.1
done
"""


def reload(apache: Apache) -> str:
    """Reload Apache gracefully, or start it if it is not running.

    After `install_site` in the same script, a running Apache whose site and Listen file did
    not change is left alone (``apache=unchanged``). A running Apache that must start a module's
    own processes (see the module's docstring) is restarted fully instead (``apache=restarted,
    not reloaded: <why>``). ``control = "auto"`` uses systemctl where
    systemd runs and no custom main config is set, and ``apache2ctl -k`` elsewhere.
    """
    s = "sudo -n " if apache.sudo else ""
    signal_reload = f"""
why=$(restart_reason)
if [ -n "$why" ] && [ -n "$(apache_pid)" ]; then
{_full_restart(apache)}
{_check_cgid_daemon()}
  echo "{FACTS_MARK}apache=restarted, not reloaded: $why"
elif [ "${{wsgideploy_apache_unchanged:-0}}" = 1 ] && [ -n "$(apache_pid)" ]; then
  echo "{FACTS_MARK}apache=unchanged, not restarted"
else
{_graceful(apache)}
fi"""
    systemd_reload = f"""
if {s}systemctl is-active --quiet {SYSTEMD_UNIT}; then
  why=$(restart_reason)
  if [ -n "$why" ]; then
    {s}systemctl restart {SYSTEMD_UNIT} || {{ apache_error_log; fail "systemctl restart {SYSTEMD_UNIT} failed"; }}
{_check_cgid_daemon()}
    echo "{FACTS_MARK}apache=restarted, not reloaded: $why"
  elif [ "${{wsgideploy_apache_unchanged:-0}}" = 1 ]; then
    echo "{FACTS_MARK}apache=unchanged, not restarted"
  else
    {s}systemctl reload {SYSTEMD_UNIT} || fail "systemctl reload {SYSTEMD_UNIT} failed"
    echo "{FACTS_MARK}apache=reloaded"
  fi
else
  {s}systemctl start {SYSTEMD_UNIT} || fail "systemctl start {SYSTEMD_UNIT} failed"
  echo "{FACTS_MARK}apache=started"
fi"""
    if apache.control == "signal":
        body = signal_reload
    elif apache.control == "systemd":
        body = systemd_reload
    elif apache.conf:
        body = signal_reload
    else:
        body = f"if [ -d /run/systemd/system ]; then {systemd_reload}\nelse {signal_reload}\nfi"
    return script(functions(apache), body)


def publish_site(apache: Apache, site_name: str, rendered_path: str) -> str:
    """Install and test the site, then apply it: `install_site` then `reload` (restarted fully where a module needs it, its cgid daemon checked)."""
    return install_site(apache, site_name, rendered_path) + reload(apache)


class ApacheFront(FrontServer):
    """Apache httpd: a site in sites-available with its own Listen file, enabled by a link (a2ensite);
    a graceful restart, or a full one where a module needs it."""

    name = "apache"
    site_template = SITE_TEMPLATE
    site_file = SITE_FILE

    def site_path(self, settings: Apache, site_name: str) -> str:
        return site_path(settings, site_name)

    def install_site(self, settings: Apache, site_name: str, rendered_path: str) -> str:
        return install_site(settings, site_name, rendered_path)

    def publish_site(self, settings: Apache, site_name: str, rendered_path: str) -> str:
        return publish_site(settings, site_name, rendered_path)

    def reload(self, settings: Apache) -> str:
        return reload(settings)
