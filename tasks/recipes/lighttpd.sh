# shellcheck shell=bash
# lighttpd: hand the site's access logs to lighttpd's user, test the config, reload (SIGUSR1 or
# systemd) or start lighttpd and watch that it stays up; put the previous site back when it does not.
#
# Debian's lighttpd starts as root and drops to server.username (www-data) before it opens its logs,
# at start and at every reload: a log it cannot open then stops it, which `lighttpd -tt` cannot see.
# So the logs are given to that user before the site goes in, and every reload or start is watched.
#
# The script defines before this file (per control, see wsgideploy/commands/lighttpd.py):
#   as_root CMD...           CMD, as root when the inventory says so
#   lighttpd_cmd ARGS...     the lighttpd binary with its -f config
#   lighttpd_pid             the pid of the running lighttpd, or nothing
#   lighttpd_running PID     whether lighttpd runs (PID: what lighttpd_pid said)
#   lighttpd_reload PID      ask the running lighttpd to reload (fails the script when it cannot)
#   lighttpd_start_stopped   start lighttpd, not running, and wait for it (fails the script when it cannot)
#   lighttpd_restart         start lighttpd again after it went down
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

# lighttpd_setting KEY: the value of KEY in lighttpd's parsed config (lighttpd -p), or nothing
lighttpd_setting() { { lighttpd_cmd -p 2>/dev/null | config_values "$1" | tail -n 1; } || true; }

# site_test: lighttpd has no per-site check: `lighttpd -tt` tests the whole config, modules included
site_test() { lighttpd_cmd -tt; }

# lighttpd_logs_for_user: make every accesslog.filename of RENDERED_SITE writable by the user lighttpd
# drops to (server.username), as <that user>:<deploy group> mode 0660. Nothing to do when lighttpd keeps
# the user that starts it. A file it cannot hand over fails the script before the site goes in: lighttpd
# would stop at its next reload.
lighttpd_logs_for_user() {
  : "${RENDERED_SITE:?}"
  local user log given
  user=$(lighttpd_setting server.username)
  if [ -z "$user" ] || [ "$user" = "$(id -un)" ]; then return 0; fi
  while IFS= read -r log; do
    [ -n "$log" ] || continue
    if [ -e "$log" ]; then
      given=$(as_root chown "$user:$(id -gn)" "$log" 2>&1 && as_root chmod 0660 "$log" 2>&1) || given="failed: $given"
    else
      given=$(as_root install -m 0660 -o "$user" -g "$(id -gn)" /dev/null "$log" 2>&1) || given="failed: $given"
    fi
    case $given in failed:*)
      fail "lighttpd runs as $user (server.username) and opens $log at every reload, but it could not be made that user's ($given): lighttpd would stop at the reload. Give $user that file, or set [lighttpd] sudo = true.";;
    esac
    fact lighttpd_log "$log ($user:$(id -gn))"
  done <<EOF_LIGHTTPD_LOGS
$(config_values accesslog.filename '|' < "$RENDERED_SITE" | sort -u)
EOF_LIGHTTPD_LOGS
}

# lighttpd_test: the config lighttpd would read at a reload passes lighttpd -tt, or the script fails
lighttpd_test() {
  local out
  if ! out=$(lighttpd_cmd -tt 2>&1); then
    echo "$out" >&2
    fail "lighttpd -tt rejects the config: lighttpd was not reloaded"
  fi
}

lighttpd_alive() {
  [ -n "${1:-}" ] && as_root kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*[ZX]' "/proc/$1/status"
}

# lighttpd_starts: how many times its error log says "server started" (at every start, and at every
# reload once it has read its config again: right before it opens its logs)
lighttpd_starts() {
  local log
  log=$(lighttpd_setting server.errorlog)
  { [ -n "$log" ] && as_root grep -c 'server started' "$log" 2>/dev/null; } || echo 0
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
    [ -z "$log" ] || as_root tail -n 4 "$log" 2>/dev/null; } | sed 's/^/  /' || true
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
  until pid=$(lighttpd_pid) && [ -n "$pid" ] && as_root kill -0 "$pid" 2>/dev/null; do
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

# lighttpd_apply_or_fail: reload the running lighttpd gracefully, or start it; then watch it
# (lighttpd_stays): if it went down, the previous site goes back, lighttpd is started again and the
# script fails.
lighttpd_apply_or_fail() {
  local pid starts
  # shellcheck disable=SC2034  # read by lighttpd_journal (systemd's)
  lighttpd_since=$(date +%s)
  pid=$(lighttpd_pid)
  starts=$(lighttpd_starts)
  if lighttpd_running "$pid"; then
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
