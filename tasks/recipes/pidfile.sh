# shellcheck shell=bash
# An app server that wsgideploy controls through its pidfile: what gunicorn, uWSGI, the FastCGI runner
# and the standalone runners share (see docs/modes/). Needs process.sh. Values set by the script before it:
#   name     the server as messages name it ("gunicorn", "the FastCGI runner")
#   pidfile  the pidfile that names the process that serves
#   run      shared/run, where a process that loaded the app touches <marker>.ready.<pid>
#   marker   the prefix of those markers (<marker>.failed.<pid> when loading raised)
#   logfile  the log shown after a failure (also_log, when set: a second one, its last 10 lines)
#   current  the live release's link
# The server's own recipe defines start_master: start it from current, `fact pid`, or fail.
: "${name:?}" "${pidfile:?}" "${run:?}" "${marker:?}" "${logfile:?}" "${current:?}"

show_log() {
  if [ -f "$logfile" ]; then tail -n 30 "$logfile" >&2 || true; fi
  if [ -s "${also_log:-}" ]; then tail -n 10 "$also_log" >&2 || true; fi
}
# The ready and failed markers of processes that are gone.
clean_markers() {
  local m
  for m in "$run/$marker".ready.* "$run/$marker".failed.*; do
    [ -e "$m" ] || continue
    alive "${m##*.}" || rm -f "$m"
  done
}
# wait_ready PID SECONDS: 0 once PID loaded the app (its ready marker), 1 if PID died, 2 on timeout.
# It looks every 0.01 s for the first second (most apps load within it: a deploy waits for the new
# instance here, and looks every 0.05 s lost 25 ms on average), then every 0.05 s; a look starts no
# process but the sleep.
wait_ready() {
  local end up looks=0
  end=$(($(now) + $2))
  while read -r up _ < /proc/uptime && [ "${up%.*}" -lt "$end" ]; do
    [ -e "$run/$marker.ready.$1" ] && return 0
    alive "$1" || return 1
    if [ "$looks" -lt 100 ]; then sleep 0.01; looks=$((looks + 1)); else sleep 0.05; fi
  done
  return 2
}
# wait_pidfile FILE PID SECONDS: 0 once FILE names a process, 1 if PID (the one launched) died
# without writing it, 2 on timeout
wait_pidfile() {
  local end
  end=$(($(now) + $3))
  until [ -s "$1" ]; do
    if ! alive "$2"; then [ -s "$1" ] && return 0; return 1; fi
    [ "$(now)" -lt "$end" ] || return 2
    sleep 0.05
  done
}
# term_pid PID SECONDS: TERM (requests in flight finish), KILL only past SECONDS; prints how it ended
term_pid() {
  kill -TERM "$1" 2>/dev/null || true
  if wait_gone "$1" "$2"; then echo stopped; return 0; fi
  kill -KILL "$1" 2>/dev/null || true
  wait_gone "$1" 5 || fail "$name (pid $1) would not stop"
  echo "killed after $2s"
}

# Start the server unless its pidfile names a live process (a stale pidfile is replaced).
pidfile_start() {
  local pid; pid=$(pid_in "$pidfile")
  if alive "$pid"; then
    fact pid "$pid"
    fact action "already running"
    return 0
  fi
  [ -z "$pid" ] || fact stale_pid "$pid"
  start_master
  fact action started
}
# The part of an upgrade that found the server stopped: start it when start_if_stopped is 1, else fail.
start_stopped() {
  : "${start_if_stopped:?}"
  [ "$start_if_stopped" = 1 ] || fail "$name is not running (use start)"
  start_master
  fact action started
}
# pidfile_stop SECONDS: TERM what the pidfile names, KILL only past SECONDS; then forget_server
# (the server's recipe: remove its pidfile, markers and sockets), also when nothing ran.
pidfile_stop() {
  local pid how; pid=$(pid_in "$pidfile")
  if ! alive "$pid"; then
    forget_server
    fact action "not running"
    return 0
  fi
  how=$(term_pid "$pid" "$1")
  forget_server
  fact pid "$pid"
  fact action "$how"
}
# Report the pid (if alive), a stale pidfile and the live release; changes nothing.
pidfile_status() {
  local pid; pid=$(pid_in "$pidfile")
  if alive "$pid"; then fact pid "$pid"; else fact pid ""; fi
  [ -z "$pid" ] || alive "$pid" || fact stale_pid "$pid"
  fact current "$(live_release)"
}
