# shellcheck shell=bash
# lighttpd: test the config, reload (SIGUSR1 or systemd) or start lighttpd and watch that it stays up;
# put the previous site back when it does not.
#
# Debian's lighttpd starts as root and drops to server.username (www-data) before it opens its logs,
# at start and at every reload: a log it cannot open then stops it, which `lighttpd -tt` cannot see.
# The site's access log is therefore in lighttpd's own /var/log/lighttpd (www-data's), never in the
# deploy's shared/log; and every reload or start is watched.
#
# Nothing here reads as root: lighttpd's error log is read as the deploy user when it may
# (/var/log/lighttpd is www-data's, mode 0750); when it cannot, a reload is watched for its whole
# WATCH_TENTHS instead of until lighttpd logs "server started".
#
# The script defines before this file (per control, see wsgideploy/commands/lighttpd.py):
#   as_root CMD...           CMD, as root when the inventory says so
#   lighttpd_cmd ARGS...     the lighttpd binary with its -f config, as root (-tt, or none: start it)
#   lighttpd_query ARGS...   the same, as the deploy user (-p)
#   lighttpd_pid             the pid of the running lighttpd, or nothing
#   lighttpd_running PID     whether lighttpd runs (PID: what lighttpd_pid said)
#   lighttpd_coming_back     whether lighttpd, not running, is being started again (systemd's Restart=)
#   lighttpd_reload PID      ask the running lighttpd to reload (fails the script when it cannot)
#   lighttpd_start_stopped   start lighttpd, not running, and wait for it (fails the script when it cannot)
#   lighttpd_restart         start lighttpd again after it went down
#   lighttpd_restart_running PORTS   restart the running lighttpd, which must bind PORTS as root
#   lighttpd_journal         what systemd's journal says of lighttpd since lighttpd_since (or nothing)
# fact comes from process.sh; site_test, site_restore and the kept site (kept_site) from site.sh.
: "${WATCH_TENTHS:?}"

# config_values KEY [NOT_FIRST]: the value of every `KEY = "<value>"` line of the config on stdin
# (NOT_FIRST: characters the value may not start with, e.g. | for a piped log)
config_values() {
  local key=${1//./\\.} start=""
  if [ -n "${2:-}" ]; then start="[^\"$2]"; fi
  sed -n "s/^[[:space:]]*${key}[[:space:]]*=[[:space:]]*\"\\(${start}[^\"]*\\)\".*/\\1/p"
}

# lighttpd_setting KEY: the value of KEY in lighttpd's parsed config (lighttpd -p), or nothing. From /:
# lighttpd goes back to the folder it started in after an include_shell, and fails where it may not.
lighttpd_setting() { { (cd / && lighttpd_query -p 2>/dev/null) | config_values "$1" | tail -n 1; } || true; }

# site_test: lighttpd has no per-site check: `lighttpd -tt` tests the whole config, modules included
site_test() { lighttpd_cmd -tt; }

# lighttpd_test: the config lighttpd would read at a reload passes lighttpd -tt, or the script fails
lighttpd_test() {
  local out
  if ! out=$(lighttpd_cmd -tt 2>&1); then
    echo "$out" >&2
    fail "lighttpd -tt rejects the config: lighttpd was not reloaded"
  fi
}

# lighttpd_alive PID: whether PID is a live process (not `kill -0`: lighttpd is root's or www-data's)
lighttpd_alive() {
  [ -n "${1:-}" ] && [ -e "/proc/$1" ] && ! grep -qs '^State:[[:space:]]*[ZX]' "/proc/$1/status"
}

# lighttpd_starts: how many times its error log says "server started" (at every start, and at every
# reload once it has read its config again: right before it opens its logs)
lighttpd_starts() {
  local log
  log=$(lighttpd_setting server.errorlog)
  { [ -n "$log" ] && grep -c 'server started' "$log" 2>/dev/null; } || echo 0
}

# lighttpd_stays PID STARTS: that lighttpd still runs 0.3 s after its error log counts more than STARTS
# "server started" lines, or WATCH_TENTHS tenths of a second later. A reload re-reads the config in the
# same process once the requests in flight are done; a config it cannot run (a log it cannot open) ends
# it right after.
lighttpd_stays() {
  for _ in $(seq "$WATCH_TENTHS"); do
    sleep 0.1
    lighttpd_alive "$1" || return 1
    if [ "$(lighttpd_starts)" -gt "${2:-999999999}" ]; then
      sleep 0.3
      lighttpd_alive "$1"
      return
    fi
  done
}

# lighttpd_errors: the last lines of lighttpd's error log (and of the journal under systemd), indented
lighttpd_errors() {
  local log
  log=$(lighttpd_setting server.errorlog)
  { lighttpd_journal
    if [ -n "$log" ] && [ -r "$log" ]; then tail -n 4 "$log"
    elif [ -n "$log" ]; then echo "($log is not readable by $(id -un): the group www-data reads it)"; fi
  } | sed 's/^/  /' || true
}

# lighttpd_daemon: start lighttpd from its binary; its output on stderr when it fails.
# A file, not $(...): the daemon may keep the standard error it inherited open.
lighttpd_daemon() {
  local out
  out=$(mktemp)
  if ! lighttpd_cmd < /dev/null > "$out" 2>&1; then cat "$out" >&2; rm -f "$out"; return 1; fi
  rm -f "$out"
}

# lighttpd_live_pid: wait up to 10 s for a live lighttpd and print its pid; 1 when there is none
lighttpd_live_pid() {
  local end pid=""
  end=$(($(now) + 10))
  until pid=$(lighttpd_pid) && lighttpd_alive "$pid"; do
    [ "$(now)" -lt "$end" ] || return 1
    sleep 0.1
  done
  echo "$pid"
}

# lighttpd_wait_pidfile: after a start from the binary, wait up to 10 s for a live pid in PIDFILE
lighttpd_wait_pidfile() {
  : "${PIDFILE:?}"
  local end pid=""
  end=$(($(now) + 10))
  until pid=$(lighttpd_pid) && lighttpd_alive "$pid"; do
    [ "$(now)" -lt "$end" ] || fail "lighttpd started but wrote no live pid to $PIDFILE (server.pid-file in its config?)"
    sleep 0.1
  done
}

# lighttpd_start: start lighttpd again and check that it stays up
lighttpd_start() {
  local starts pid
  starts=$(lighttpd_starts)
  lighttpd_restart || return 1
  pid=$(lighttpd_live_pid) || return 1
  lighttpd_stays "$pid" "$starts"
}

# lighttpd_went_down WHAT: put the site lighttpd ran before back, start lighttpd with it, fail the script.
lighttpd_went_down() {
  local errors back
  errors=$(lighttpd_errors)
  if [ -n "${kept_site:-}" ]; then
    site_restore
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
}

# new_low_ports: the ports below 1024 that SITE_TEXT (when set) listens on and nothing listens on yet.
# lighttpd reloads after dropping root, so it cannot bind them then (measured: "can't bind to socket:
# 0.0.0.0:443: Permission denied", and it stops): the first HTTPS site on 443 needs a restart.
new_low_ports() {
  local port
  [ -n "${SITE_TEXT:-}" ] || return 0
  # shellcheck disable=SC2016  # a sed program: $SERVER is lighttpd's, not the shell's
  for port in $(printf '%s\n' "$SITE_TEXT" | sed -n 's/^ *\$SERVER\["socket"\] == "[^"]*:\([0-9]*\)".*/\1/p' | sort -un); do
    [ "$port" -lt 1024 ] || continue
    listening "$port" || printf '%s ' "$port"
  done
}
# listening PORT: whether something listens on TCP PORT, asked up to three times 0.2 s apart before it
# says no. (Port 80 of a running lighttpd was once seen free on CI, when the ports were still asked after
# the install: most likely the late reload described at lighttpd_apply_or_fail had ended lighttpd, and
# systemd had not yet started it again; that run's journal was not kept.)
listening() {
  local try
  for try in 1 2 3; do
    [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ] || return 0
    [ "$try" = 3 ] || sleep 0.2
  done
  return 1
}

# lighttpd_apply_or_fail PORTS: reload the running lighttpd gracefully, or restart it when the site adds
# a port below 1024, or start it; then watch it (lighttpd_stays): if it went down, the previous site goes
# back, lighttpd is started again and the script fails.
# PORTS: those new ports (new_low_ports), asked before the new site went in ("" when no site goes in).
# Asked after the install, a reload by someone else could hide them: certbot's deploy hook reloads
# lighttpd when it gets a certificate and returns before lighttpd has read its config again. Seen on CI:
# that late reload read the new HTTPS site, could not bind 443 and ended; systemd started lighttpd again,
# as root, bound to 443; the step then saw 443 bound, reloaded, and watched a pid that was gone. Asked
# before, the port is new, and the step restarts lighttpd, whatever that reload did (also while systemd is
# still starting it again: lighttpd_coming_back).
lighttpd_apply_or_fail() {
  local pid starts ports
  # shellcheck disable=SC2034  # read by lighttpd_journal (systemd's)
  lighttpd_since=$(date +%s)
  ports=$1
  pid=$(lighttpd_pid)
  starts=$(lighttpd_starts)
  if [ -n "$ports" ] && { lighttpd_running "$pid" || lighttpd_coming_back; }; then
    lighttpd_restart_running "${ports% }"
    pid=$(lighttpd_live_pid) || lighttpd_went_down restart
    lighttpd_stays "$pid" "$starts" || lighttpd_went_down restart
    fact lighttpd "restarted: it binds the new port ${ports% } as root only"
  elif lighttpd_running "$pid"; then
    lighttpd_reload "$pid"
    lighttpd_stays "$pid" "$starts" || lighttpd_went_down reload
    fact lighttpd reloaded
  else
    lighttpd_start_stopped
    pid=$(lighttpd_pid)
    lighttpd_stays "$pid" "$starts" || lighttpd_went_down start
    fact lighttpd started
  fi
}
