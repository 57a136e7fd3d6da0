# shellcheck shell=bash
# Apache: install a site with its own Listen file, test the whole config (apachectl -t) and put the
# previous one back when it fails; then reload gracefully, or restart fully where a graceful restart
# would not start a module's own processes (mod_cgid's daemon). See wsgideploy/commands/apache.py.
#
# Root runs only commands with fixed arguments (tasks/commands/privileged.py lists them); what the
# scripts read (the pidfile, the config's Listen lines, the error log) they read as the deploy user.
#
# The script defines before this file (per settings, see wsgideploy/commands/apache.py):
#   as_root CMD...        CMD, as root when the inventory says so
#   root_install DEST     stdin as DEST, root's, mode 0644
#   apache_ctl ARGS...    Apache's control command (apache2ctl, or the binary with -f <conf>), as root:
#                         -t, -k graceful|start|graceful-stop|stop
#   apache_query ARGS...  the same as the deploy user: -M, -t -D DUMP_RUN_CFG, -t -D DUMP_INCLUDES
#   apache_reload         apache_signal_reload or apache_systemd_reload, per control
# and fact comes from process.sh. mod_wsgi.sh and cgi.sh call apache_pid, config_listens, proc_alive.
# Values (set when a script installs, disables or reloads a site; nothing at the top of this file
# reads them, as the app servers that run inside Apache source it with values of their own):
#   APACHE_SITE_NAME       the site's name (a2ensite's argument)
#   APACHE_SITE            the site file, <sites_available>/<name>.conf
#   APACHE_SITE_ENABLED    its link, <sites_enabled>/<name>.conf
#   APACHE_LISTEN_FILE     wsgideploy's file with the site's Listen, <listen_dir>/wsgideploy-<name>.conf
#   APACHE_SITES_AVAILABLE, APACHE_SITES_ENABLED, APACHE_LISTEN_DIR   the three directories
#   APACHE_A2ENSITE        1: Debian's own directories, the link is a2ensite's; 0: a link of our own
#   APACHE_SITE_TEXT       the new site, rendered on the controller and sent in the script (root installs
#                          it from there); APACHE_LISTEN_MARK: its "# wsgideploy-listen:" line's mark
#                          (APACHE_LISTEN_TLS_MARK: "# wsgideploy-listen-tls:", the HTTPS port's)
#   APACHE_UNIT            systemd's unit (apache2)
# Left for the steps after them in the same bash: wsgideploy_apache_unchanged and
# wsgideploy_apache_new_modules (apache_install_site, read by apache_reload), and
# wsgideploy_apache_disabled (apache_disable_site, read by mod_wsgi.sh's mod_wsgi_stop).

# A process is alive if /proc has it and it is no zombie (kill -0 fails on another user's process).
proc_alive() { [ -n "${1:-}" ] && [ -e "/proc/$1" ] && ! grep -qs '^State:[[:space:]]*[ZX]' "/proc/$1/status"; }
apache_run_cfg() { apache_query -t -D DUMP_RUN_CFG 2>/dev/null || true; }
# apache_pid: the pid of the running Apache parent (from its PidFile), or nothing
apache_pid() {
  local pidfile pid
  pidfile=$(apache_run_cfg | sed -n 's/^PidFile: "\(.*\)"$/\1/p' | head -n 1)
  [ -n "$pidfile" ] || return 0
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if proc_alive "$pid"; then echo "$pid"; fi
}
# config_listens: "<file> <address:port>" for each Listen directive of the config on disk that Apache
# reads: the files in the order Apache includes them, a Listen inside <IfModule X> counted only when a
# LoadModule before it (in an earlier file, or above it) loaded X. Debian's ports file says
# "<IfModule ssl_module> Listen 443", false unless mods-enabled loads mod_ssl: a site that loads it
# itself comes after that file, so it needs a Listen of its own.
config_listens() {
  local files
  files=$(apache_query -t -D DUMP_INCLUDES 2>/dev/null | sed -n 's/^ *([^)]*) //p' || true)
  [ -n "$files" ] || return 0
  # shellcheck disable=SC2016,SC2086  # an awk program ($1 is awk's); the files are split on purpose
  awk '
    FNR == 1 { depth = 0; off = 0 }
    { sub(/^[ \t]+/, "") }
    tolower($1) == "loadmodule" && off == 0 {
      loaded[$2] = 1; so = $3; sub(/.*\//, "", so); sub(/\.so$/, ".c", so); loaded[so] = 1
    }
    tolower($1) ~ /^<ifmodule/ {
      name = $2; sub(/>.*$/, "", name); negated = substr(name, 1, 1) == "!"
      if (negated) name = substr(name, 2)
      truth = (name in loaded) ? !negated : negated
      stack[++depth] = truth; if (!truth) off++
    }
    tolower($1) ~ /^<\/ifmodule/ { if (depth > 0) { if (!stack[depth]) off--; depth-- } }
    tolower($1) == "listen" && off == 0 { print FILENAME, $2 }
  ' $files 2>/dev/null || true
}
# apache_modules: the modules the config on disk loads, one a line
apache_modules() { apache_query -M 2>/dev/null | sed -n 's/^ *\([a-z0-9_]*\) (.*/\1/p' || true; }
# cgid_daemon_missing: Apache runs with mod_cgid, but no cgid daemon listens (its unix socket is
# named <ScriptSock>.<pid of the Apache parent>, wherever ScriptSock puts it)
cgid_daemon_missing() {
  local pid
  pid=$(apache_pid)
  [ -n "$pid" ] && apache_modules | grep -qx cgid_module || return 1
  ! awk '{print $NF}' /proc/net/unix 2>/dev/null | grep -q "\.$pid\$"
}
# restart_reason: why a graceful restart would not do (nothing when it would)
restart_reason() {
  if [ -n "${wsgideploy_apache_new_modules:-}" ]; then
    echo "the site loads$wsgideploy_apache_new_modules anew (a graceful restart does not start a new module's own processes)"
  elif cgid_daemon_missing; then
    echo "mod_cgid's daemon was not running (every CGI request answered 503)"
  fi
}
apache_error_log() {
  local log
  log=$(apache_run_cfg | sed -n 's/^Main ErrorLog: "\(.*\)"$/\1/p' | head -n 1)
  if [ -n "$log" ] && [ -r "$log" ]; then tail -n 15 "$log" >&2 || true
  elif [ -n "$log" ]; then echo "($log is not readable by $(id -un): the group adm reads Apache's logs)" >&2; fi
}

# apache_listen_text: set listen_text (the caller's) to the text of the site's Listen file: a Listen for
# each address:port that APACHE_SITE_TEXT names on its APACHE_LISTEN_MARK line (and, over HTTPS, on
# its APACHE_LISTEN_TLS_MARK line), unless another file of the config already listens there (a second
# Listen on the same port passes apachectl -t, then stops Apache at the graceful restart). Fails when
# the site would listen on every address of a port the config listens on one address only.
apache_listen_text() {
  local mark listens
  listen_text="# wsgideploy: Listen for the site $APACHE_SITE_NAME. Written by wsgideploy; do not edit."
  listens=$(config_listens)
  for mark in "$APACHE_LISTEN_MARK" "${APACHE_LISTEN_TLS_MARK:-}"; do
    [ -n "$mark" ] || continue
    apache_listen_line "$(printf '%s' "$APACHE_SITE_TEXT" | sed -n "s/^$mark *//p" | head -n 1 | tr -d '[:space:]')"
  done
}
# apache_listen_line ADDRESS:PORT: add its Listen to listen_text, or why there is none (uses listens).
apache_listen_line() {
  local want=$1 port addr covered conflict f v vport vaddr
  [ -n "$want" ] || return 0
  port=${want##*:}; addr=""
  case $want in *:*) addr=${want%:*};; esac
  covered=""; conflict=""
  while read -r f v; do
    [ -n "$f" ] || continue
    [ "$f" = "$APACHE_LISTEN_FILE" ] || [ "$f" = "$APACHE_SITE_ENABLED" ] && continue
    vport=${v##*:}; vaddr=""
    case $v in *:*) vaddr=${v%:*};; esac
    [ "$vport" = "$port" ] || continue
    case $vaddr in
      ""|0.0.0.0|"[::]"|"*"|"$addr") covered="$f"; break;;
      *) [ -n "$addr" ] || conflict="$f (Listen $v)";;
    esac
  done <<EOF_LISTENS
$listens
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
}

# apache_enable_site: link the site into sites-enabled (a2ensite in Debian's own directories)
apache_enable_site() {
  if [ "$APACHE_A2ENSITE" = 1 ]; then
    as_root a2ensite -q "$APACHE_SITE_NAME" >/dev/null || fail "a2ensite $APACHE_SITE_NAME failed"
  else
    as_root ln -sfn "$APACHE_SITE" "$APACHE_SITE_ENABLED"
  fi
}

# apache_install_site: install APACHE_SITE_TEXT as the site, enable it, write its Listen file and
# test the whole config. If apachectl -t fails, the previous site, link and Listen file are put back,
# so the config on disk is the one that runs, and the script fails with Apache's error. Sets
# wsgideploy_apache_unchanged=1 when nothing changed, and wsgideploy_apache_new_modules to the modules
# the config loads now and did not before (apache_reload reads both).
apache_install_site() {
  : "${APACHE_SITE_NAME:?}" "${APACHE_SITE:?}" "${APACHE_SITE_ENABLED:?}" "${APACHE_LISTEN_FILE:?}"
  : "${APACHE_SITES_AVAILABLE:?}" "${APACHE_SITES_ENABLED:?}" "${APACHE_LISTEN_DIR:?}" "${APACHE_A2ENSITE:?}"
  : "${APACHE_SITE_TEXT:?}" "${APACHE_LISTEN_MARK:?}"
  local d listen_text modules_before had_site had_link had_listen changed out module
  local site_previous="$APACHE_SITE.wsgideploy-previous" listen_previous="$APACHE_LISTEN_FILE.wsgideploy-previous"
  for d in "$APACHE_SITES_AVAILABLE" "$APACHE_SITES_ENABLED" "$APACHE_LISTEN_DIR"; do
    [ -d "$d" ] || fail "Apache directory $d does not exist on the host (see [apache] in the inventory)"
  done

  # The Listen this site needs, unless another file of the running config already has it.
  apache_listen_text

  modules_before=" $(apache_modules | paste -sd ' ' -) "
  had_site=0; had_link=0; had_listen=0; changed=0
  if [ -e "$APACHE_SITE" ]; then as_root cp -p "$APACHE_SITE" "$site_previous"; had_site=1; fi
  if [ -L "$APACHE_SITE_ENABLED" ] || [ -e "$APACHE_SITE_ENABLED" ]; then had_link=1; fi
  if [ -e "$APACHE_LISTEN_FILE" ]; then as_root cp -p "$APACHE_LISTEN_FILE" "$listen_previous"; had_listen=1; fi
  printf '%s' "$APACHE_SITE_TEXT" | cmp -s - "$APACHE_SITE" || changed=1
  printf '%s\n' "$listen_text" | cmp -s - "$APACHE_LISTEN_FILE" || changed=1
  [ $had_link = 1 ] || changed=1

  printf '%s' "$APACHE_SITE_TEXT" | root_install "$APACHE_SITE" || fail "could not install $APACHE_SITE"
  printf '%s\n' "$listen_text" | root_install "$APACHE_LISTEN_FILE" || fail "could not install $APACHE_LISTEN_FILE"
  apache_enable_site
  if ! out=$(apache_ctl -t 2>&1); then
    # put the previous site, link and Listen file back (or none, where there was none)
    if [ $had_site = 1 ]; then as_root mv -f "$site_previous" "$APACHE_SITE"; else as_root rm -f "$APACHE_SITE"; fi
    [ $had_link = 1 ] || as_root rm -f "$APACHE_SITE_ENABLED"
    if [ $had_listen = 1 ]; then as_root mv -f "$listen_previous" "$APACHE_LISTEN_FILE"; else as_root rm -f "$APACHE_LISTEN_FILE"; fi
    echo "$out" >&2
    fail "apachectl configtest rejected the new site; the previous config was put back and Apache was not reloaded"
  fi
  as_root rm -f "$site_previous"
  as_root rm -f "$listen_previous"
  [ $changed = 1 ] || wsgideploy_apache_unchanged=1
  wsgideploy_apache_new_modules=""
  for module in $(apache_modules); do
    case $modules_before in *" $module "*) ;; *) wsgideploy_apache_new_modules="$wsgideploy_apache_new_modules $module";; esac
  done
}

# apache_disable_site: remove the site's link and Listen file and test the config (both go back, and
# the script fails, when it does not pass). Sets wsgideploy_apache_disabled=1 when the site was enabled.
apache_disable_site() {
  : "${APACHE_SITE_NAME:?}" "${APACHE_SITE_ENABLED:?}" "${APACHE_LISTEN_FILE:?}" "${APACHE_A2ENSITE:?}"
  local had_listen out backup="$APACHE_LISTEN_FILE.wsgideploy-previous"
  wsgideploy_apache_disabled=0
  if [ -L "$APACHE_SITE_ENABLED" ] || [ -e "$APACHE_SITE_ENABLED" ]; then
    had_listen=0
    if [ -e "$APACHE_LISTEN_FILE" ]; then as_root mv -f "$APACHE_LISTEN_FILE" "$backup"; had_listen=1; fi
    if [ "$APACHE_A2ENSITE" = 1 ]; then
      as_root a2dissite -q "$APACHE_SITE_NAME" >/dev/null || as_root rm -f "$APACHE_SITE_ENABLED"
    else
      as_root rm -f "$APACHE_SITE_ENABLED"
    fi
    if ! out=$(apache_ctl -t 2>&1); then
      if [ "$APACHE_A2ENSITE" = 1 ]; then
        as_root a2ensite -q "$APACHE_SITE_NAME" >/dev/null || true
      else
        as_root ln -sfn "$APACHE_SITE" "$APACHE_SITE_ENABLED"
      fi
      [ $had_listen = 0 ] || as_root mv -f "$backup" "$APACHE_LISTEN_FILE"
      echo "$out" >&2
      fail "apachectl configtest failed without the site $APACHE_SITE_NAME; it was left enabled"
    fi
    as_root rm -f "$backup"
    # shellcheck disable=SC2034  # read by mod_wsgi.sh (mod_wsgi_stop), after this in the same script
    wsgideploy_apache_disabled=1
  fi
}

# apache_remove_site: disable the site (apache_disable_site), remove its file, and apply the config
# (apache_reload); fact site.
apache_remove_site() {
  : "${APACHE_SITE:?}"
  apache_disable_site
  if [ "$wsgideploy_apache_disabled" = 0 ] && [ ! -e "$APACHE_SITE" ]; then fact site "none installed"; return 0; fi
  as_root rm -f "$APACHE_SITE"
  apache_reload
  fact site removed
}

# apache_graceful: start Apache, or restart it gracefully, then make sure its parent is still alive. A
# graceful restart that cannot bind a port stops Apache after -k graceful returned 0, so the parent is
# watched for a second before the reload counts as done.
apache_graceful() {
  local pid out action end
  pid=$(apache_pid)
  if [ -n "$pid" ]; then
    out=$(apache_ctl -k graceful 2>&1) || { echo "$out" >&2; fail "apache -k graceful failed"; }
    action=reloaded
  else
    out=$(apache_ctl -k start 2>&1) || { echo "$out" >&2; apache_error_log; fail "Apache was not running and did not start"; }
    action=started
  fi
  end=$(($(now) + 10))
  while [ -z "$(apache_pid)" ]; do
    [ "$(now)" -lt "$end" ] || { apache_error_log; fail "Apache is not running after '$action' (its error log is above)"; }
    sleep 0.1
  done
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    sleep 0.1
    [ -n "$(apache_pid)" ] || { apache_error_log; fail "Apache stopped right after the graceful restart (its error log is above)"; }
  done
  fact apache "$action"
}

# apache_full_restart: stop Apache gracefully (requests in flight finish), start it again, check that it runs
apache_full_restart() {
  local old out end
  old=$(apache_pid)
  out=$(apache_ctl -k graceful-stop 2>&1) || { echo "$out" >&2; fail "apache -k graceful-stop failed"; }
  end=$(($(now) + 60))
  while proc_alive "$old"; do
    [ "$(now)" -lt "$end" ] || fail "Apache (pid $old) did not stop within 60 s of -k graceful-stop"
    sleep 0.1
  done
  out=$(apache_ctl -k start 2>&1) || { echo "$out" >&2; apache_error_log; fail "Apache did not start again"; }
  end=$(($(now) + 10))
  while [ -z "$(apache_pid)" ]; do
    [ "$(now)" -lt "$end" ] || { apache_error_log; fail "Apache is not running after its restart (its error log is above)"; }
    sleep 0.1
  done
}

# apache_check_cgid_daemon: after a full restart, mod_cgid's daemon (if loaded) must come up
apache_check_cgid_daemon() {
  local end
  end=$(($(now) + 5))
  while cgid_daemon_missing; do
    [ "$(now)" -lt "$end" ] || { apache_error_log; fail "Apache restarted, but mod_cgid's daemon is not running: CGI requests will answer 503"; }
    sleep 0.1
  done
}

# apache_signal_reload: through apache_ctl -k. A running Apache that must start a module's own
# processes is restarted fully; one whose site did not change (apache_install_site) is left alone;
# else Apache is restarted gracefully, or started.
apache_signal_reload() {
  local why
  why=$(restart_reason)
  if [ -n "$why" ] && [ -n "$(apache_pid)" ]; then
    apache_full_restart
    apache_check_cgid_daemon
    fact apache "restarted, not reloaded: $why"
  elif [ "${wsgideploy_apache_unchanged:-0}" = 1 ] && [ -n "$(apache_pid)" ]; then
    fact apache "unchanged, not restarted"
  else
    apache_graceful
  fi
}

# apache_systemd_reload: the same through systemd's unit APACHE_UNIT
apache_systemd_reload() {
  : "${APACHE_UNIT:?}"
  local why
  if systemctl is-active --quiet "$APACHE_UNIT"; then
    why=$(restart_reason)
    if [ -n "$why" ]; then
      as_root systemctl restart "$APACHE_UNIT" || { apache_error_log; fail "systemctl restart $APACHE_UNIT failed"; }
      apache_check_cgid_daemon
      fact apache "restarted, not reloaded: $why"
    elif [ "${wsgideploy_apache_unchanged:-0}" = 1 ]; then
      fact apache "unchanged, not restarted"
    else
      as_root systemctl reload "$APACHE_UNIT" || fail "systemctl reload $APACHE_UNIT failed"
      fact apache reloaded
    fi
  else
    as_root systemctl start "$APACHE_UNIT" || fail "systemctl start $APACHE_UNIT failed"
    fact apache started
  fi
}
