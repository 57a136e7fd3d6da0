# shellcheck shell=bash
# nginx: apply the config on disk and check that it took; put the previous site back when it did not.
#
# A reload is a signal: nginx accepts it at once and loads the config afterwards, so a config that
# `nginx -t` passes can still fail to load (a port that another program holds: `nginx -t` never
# binds, the reloading master does). The master then logs [emerg] and keeps serving the old config,
# with its old workers. So a reload counts only once the master has a new child (a new worker
# generation); an [emerg]/[alert]/[crit] line in its error log since the signal, the master's exit,
# or RELOAD_TIMEOUT seconds without new workers make it a failure that says why.
#
# Nothing here reads as root: the error log and the pidfile are found in the main config file, which
# anyone may read, and read as the deploy user (Debian's are www-data:adm 0640: the group adm reads
# them). A log it cannot read only makes the reload's failure message shorter.
#
# The script defines before this file (per control, see wsgideploy/commands/nginx.py):
#   as_root CMD...       CMD, as root when the inventory says so
#   nginx_cmd ARGS...    the nginx binary with the configured -c, as root (with fixed arguments only:
#                        tasks/commands/privileged.py lists them)
#   nginx_query ARGS...  the same binary as the deploy user (-V)
#   nginx_master         the master's pid, or nothing when nginx is not running
#   nginx_signal_reload  ask the running nginx to reload; nginx_start: start it
# and `pid_in` comes from process.sh, site_install, site_restore and site_drop_kept from site.sh.
# Value: NGINX_CONF, the -c config (empty: nginx's built-in --conf-path).
: "${RELOAD_TIMEOUT:?}"
NGINX_CONF=${NGINX_CONF:-}

# running PID: whether PID is a live process. Not `kill -0`: the master is root's, the deploy user's
# signal to it is refused (EPERM) even while it runs. A zombie is not running.
running() { [ -n "${1:-}" ] && [ -e "/proc/$1" ] && ! grep -qs '^State:[[:space:]]*[ZX]' "/proc/$1/status"; }

# children PID: the pids whose parent is PID, one line
children() {
  local stat_file stat pid ppid
  for stat_file in /proc/[0-9]*/stat; do
    # a builtin: no process per entry; braces, so that a process gone since the glob prints nothing
    { read -r stat < "$stat_file"; } 2>/dev/null || continue
    # the fields after the name's last ')' are: state ppid ...
    read -r _ ppid _ <<< "${stat##*) }"
    [ "$ppid" = "$1" ] || continue
    pid=${stat_file#/proc/}
    printf '%s ' "${pid%/stat}"
  done
}

# has_new_child MASTER BEFORE: whether MASTER has a child that is not in the list BEFORE
has_new_child() {
  local pid
  for pid in $(children "$1"); do
    case " $2 " in *" $pid "*) ;; *) return 0 ;; esac
  done
  return 1
}

# built_in NAME: the value of nginx's --NAME= build option (nginx -V), e.g. conf-path
built_in() { nginx_query -V 2>&1 | tr ' ' '\n' | sed -n "s/^--$1=//p" | head -n 1; }

# main_directive NAME: the first NAME directive of nginx's main config file (error_log, pid)
main_directive() {
  local conf=${NGINX_CONF:-$(built_in conf-path)}
  [ -r "$conf" ] || return 0
  sed -n "s/^[[:space:]]*$1[[:space:]]\{1,\}\([^[:space:];]\{1,\}\).*/\1/p" "$conf" | head -n 1
}

# configured_error_log: the main error_log of the config on disk, else the built-in one (where the
# master writes its [emerg] lines)
configured_error_log() {
  local log
  log=$(main_directive error_log)
  [ -n "$log" ] || log=$(built_in error-log-path)
  case "$log" in /*) echo "$log" ;; *) ;; esac
}

# log_size FILE: its size in bytes, 0 when there is none: the mark to read new lines from
log_size() {
  if [ -n "$1" ]; then stat -c %s "$1" 2>/dev/null || echo 0; else echo 0; fi
}

# errors_since FILE MARK: the last three [emerg], [alert] or [crit] lines written after MARK
errors_since() {
  [ -n "$1" ] || return 0
  tail -c "+$(($2 + 1))" "$1" 2>/dev/null | grep -E '\[(emerg|alert|crit)\]' | tail -n 3 || true
}

# unreadable_hint FILE: why nginx's own lines are missing from a failure, when FILE cannot be read
unreadable_hint() {
  if [ -n "$1" ] && [ ! -r "$1" ]; then
    echo "($1 is not readable by $(id -un): nginx's own error lines are there; the group adm reads them)"
  fi
}

# wait_log_quiet FILE END: wait until FILE has not grown for a second (or now reaches END). A
# failed reload goes on after its first [emerg]: nginx tries a busy port five times, half a second
# apart, then logs "still could not bind()"; a second reload sent before it is done is lost in it.
wait_log_quiet() {
  local size last
  last=$(log_size "$1")
  while [ "$(now)" -lt "$2" ]; do
    sleep 1
    size=$(log_size "$1")
    [ "$size" != "$last" ] || return 0
    last=$size
  done
}

# nginx_running: whether an nginx master runs
nginx_running() {
  local master
  master=$(nginx_master)
  [ -n "$master" ] && running "$master"
}

# nginx_reload_verified MASTER: reload and wait for new workers; on failure print why and return 1
nginx_reload_verified() {
  local master=$1 log mark before end errors
  log=$(configured_error_log)
  mark=$(log_size "$log")
  before=$(children "$master")
  nginx_signal_reload || return 1
  end=$(($(now) + RELOAD_TIMEOUT))
  while :; do
    if has_new_child "$master" "$before"; then return 0; fi
    errors=$(errors_since "$log" "$mark")
    if [ -n "$errors" ]; then
      wait_log_quiet "$log" "$end"
      printf 'nginx did not load the new config (%s):\n%s\n' "$log" "$(errors_since "$log" "$mark")"
      return 1
    fi
    if ! running "$master"; then echo "the nginx master (pid $master) exited during the reload"; return 1; fi
    if [ "$(now)" -ge "$end" ]; then
      echo "nginx started no new workers within ${RELOAD_TIMEOUT}s of the reload signal"
      unreadable_hint "$log"
      return 1
    fi
    sleep 0.1
  done
}

# nginx_start_verified: start nginx and check that it runs; on failure print why and return 1
nginx_start_verified() {
  local log mark out
  log=$(configured_error_log)
  mark=$(log_size "$log")
  if ! out=$(nginx_start 2>&1); then
    printf '%s\n' "$out"
    errors_since "$log" "$mark"
    return 1
  fi
  if ! nginx_running; then echo "nginx started, then was not running"; errors_since "$log" "$mark"; return 1; fi
}

# nginx_apply: make nginx run the config on disk (reload the running master, or start one).
# Sets nginx_action (reloaded, started) and, on failure, nginx_error; returns 1 on failure.
nginx_apply() {
  local master
  master=$(nginx_master)
  nginx_error=""
  if [ -n "$master" ] && running "$master"; then
    nginx_action=reloaded
    nginx_error=$(nginx_reload_verified "$master") || return 1
  else
    nginx_action=started
    nginx_error=$(nginx_start_verified) || return 1
  fi
  if ! nginx_running; then nginx_error="nginx is not running after it was $nginx_action"; return 1; fi
}

# nginx_report: the fact the step's line shows
nginx_report() {
  if [ "$nginx_action" = started ]; then fact nginx started
  else fact nginx reloaded; fi
}

# nginx_apply_or_fail: nginx_apply, and on failure end the script with nginx's error
nginx_apply_or_fail() {
  if ! nginx_apply; then printf '%s\n' "$nginx_error" >&2; fail "nginx could not be $nginx_action"; fi
  nginx_report
}

# site_test: nginx's test of the whole config, for site_install (site.sh)
site_test() { nginx_cmd -t; }

# nginx_publish: apply the site just installed (and tested with nginx -t). When nginx does not take
# it, or is not running after, put the kept site back, reload or start nginx with it, and fail with
# nginx's own error: a deploy never leaves nginx stopped, nor a site on disk that nginx does not run.
nginx_publish() {
  local first_error back
  if nginx_apply; then
    site_drop_kept
    nginx_report
    return 0
  fi
  first_error=$nginx_error
  site_restore
  if nginx_apply; then
    back="the previous site was put back and nginx $nginx_action with it"
  else
    back="the previous site was put back, and nginx could not be $nginx_action with it either: $nginx_error"
  fi
  printf '%s\n' "$first_error" >&2
  fail "nginx did not apply the new site; $back"
}

# nginx_pidfile: the pidfile of the config on disk (its pid directive, else the built-in path)
nginx_pidfile() {
  local file prefix
  file=$(main_directive pid)
  [ -n "$file" ] || file=$(built_in pid-path)
  case "$file" in
    /*) echo "$file" ;;
    ?*) prefix=$(built_in prefix)
        echo "${prefix%/}/$file" ;;
    *) ;;
  esac
}
