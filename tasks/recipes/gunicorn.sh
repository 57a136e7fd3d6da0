# shellcheck shell=bash
# gunicorn through its pidfile (see wsgideploy/commands/gunicorn.py and docs/gunicorn.md).
# Needs process.sh. Values set by the script before it:
: "${pidfile:?}" "${run:?}" "${errorlog:?}" "${stdout_log:?}" "${current:?}" "${live_config:?}"
: "${config_dir_name:?}" "${START_TIMEOUT:?}" "${GRACEFUL_TIMEOUT:?}"

show_log() { if [ -f "$errorlog" ]; then tail -n 30 "$errorlog" >&2 || true; fi; }
clean_markers() {
  local m
  for m in "$run"/gunicorn.ready.*; do
    [ -e "$m" ] || continue
    alive "${m##*.}" || rm -f "$m"
  done
}
# wait_ready PID SECONDS: 0 once PID's workers loaded the app, 1 if PID died, 2 on timeout
wait_ready() {
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    [ -e "$run/gunicorn.ready.$1" ] && return 0
    alive "$1" || return 1
    sleep 0.1
  done
  return 2
}
start_master() {
  [ -e "$current" ] || fail "no release is live yet: run deploy first"
  rm -f "$pidfile" "$pidfile.2"
  clean_markers
  cd "$current" || fail "cannot enter $current"
  setsid "$current/venv/bin/python" "$current/venv/bin/gunicorn" -c "$live_config/gunicorn.conf.py" \
    < /dev/null >> "$stdout_log" 2>&1 &
  local launched=$! end=$((SECONDS + START_TIMEOUT))
  while [ ! -s "$pidfile" ]; do
    alive $launched || { show_log; fail "gunicorn exited at start (log above: $errorlog)"; }
    [ $SECONDS -lt $end ] || { show_log; fail "gunicorn wrote no pidfile within ${START_TIMEOUT}s"; }
    sleep 0.1
  done
  local pid; pid=$(pid_in "$pidfile")
  case $(wait_ready "$pid" "$START_TIMEOUT"; echo $?) in
    0) ;;
    1) show_log; fail "gunicorn exited while loading the app (log above: $errorlog)";;
    *) show_log; kill -TERM "$pid" 2>/dev/null || true; fail "gunicorn workers did not load the app within ${START_TIMEOUT}s";;
  esac
  fact pid "$pid"
}

# Start gunicorn unless its pidfile names a live master (a stale pidfile is replaced).
gunicorn_start() {
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

# gunicorn_upgrade: USR2, wait until the new master's workers are ready,
# then TERM the old master. If the new master never gets ready, it is stopped and the old one serves on.
# A stopped server is started when start_if_stopped is 1, an error otherwise.
gunicorn_upgrade() {
  : "${start_if_stopped:?}"
  local old new end
  old=$(pid_in "$pidfile")
  if ! alive "$old"; then
    [ "$start_if_stopped" = 1 ] || fail "gunicorn is not running (use start)"
    start_master; fact action started; return 0
  fi
  clean_markers
  rm -f "$pidfile.2"
  kill -USR2 "$old"
  end=$((SECONDS + START_TIMEOUT))
  while [ ! -s "$pidfile.2" ]; do
    alive "$old" || fail "the running gunicorn (pid $old) exited during the upgrade"
    [ $SECONDS -lt $end ] || fail "gunicorn did not start a new master within ${START_TIMEOUT}s; pid $old still serves"
    sleep 0.1
  done
  new=$(pid_in "$pidfile.2")
  case $(wait_ready "$new" "$START_TIMEOUT"; echo $?) in
    0) ;;
    1) show_log; fail "the new gunicorn master exited while loading the app; pid $old still serves the previous release";;
    *) show_log; kill -TERM "$new" 2>/dev/null || true
       fail "the new gunicorn workers did not get ready within ${START_TIMEOUT}s; pid $old still serves the previous release";;
  esac
  kill -TERM "$old"
  wait_gone "$old" $((GRACEFUL_TIMEOUT + 10)) || fail "the old gunicorn master (pid $old) did not stop"
  # The new master renames its pidfile once it sees the old one gone, on its next loop (up to 1 s
  # away); a SIGCHLD (harmless: it reaps no one) wakes that loop now.
  end=$((SECONDS + 15))
  while [ "$(pid_in "$pidfile")" != "$new" ] && [ $SECONDS -lt $end ]; do
    kill -CHLD "$new" 2>/dev/null || true
    sleep 0.05
  done
  [ "$(pid_in "$pidfile")" = "$new" ] || fail "the new gunicorn master (pid $new) did not take over the pidfile"
  clean_markers
  fact old_pid "$old"
  fact pid "$new"
  fact action upgraded
}

# Stop gunicorn gracefully (TERM); KILL only past GRACEFUL_TIMEOUT + 5 s.
gunicorn_stop() {
  local pid; pid=$(pid_in "$pidfile")
  if ! alive "$pid"; then
    rm -f "$pidfile"
    fact action "not running"
    return 0
  fi
  kill -TERM "$pid"
  if wait_gone "$pid" $((GRACEFUL_TIMEOUT + 5)); then
    fact action stopped
  else
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 5 || fail "gunicorn (pid $pid) would not stop"
    fact action "killed after $((GRACEFUL_TIMEOUT + 5))s"
  fi
  rm -f "$pidfile"
  clean_markers
  fact pid "$pid"
}

# Report the master pid (if alive) and the live release; changes nothing.
gunicorn_status() {
  local pid; pid=$(pid_in "$pidfile")
  if alive "$pid"; then fact pid "$pid"; else fact pid ""; fi
  [ -z "$pid" ] || alive "$pid" || fact stale_pid "$pid"
  fact current "$(readlink "$current" 2>/dev/null | sed 's#.*/##' || true)"
}

# gunicorn_check: load the app (of release_id, in the folder release, within check_timeout s) with `gunicorn --check-config` inside
# the new release. WSGIDEPLOY_CHECK_RELEASE makes the config's chdir that release (current still
# names the live one, or nothing on a first deploy); FLASK_RUN_FROM_CLI=true turns a stray
# app.run() into a no-op, and timeout bounds an import that hangs.
gunicorn_check() {
  : "${release:?}" "${release_id:?}" "${check_timeout:?}"
  local out code
  cd "$release" || fail "cannot enter $release"
  set +e
  out=$(WSGIDEPLOY_CHECK_RELEASE="$release" FLASK_RUN_FROM_CLI=true timeout "$check_timeout" \
        "$release/venv/bin/python" "$release/venv/bin/gunicorn" --check-config \
        -c "$release/$config_dir_name/gunicorn.conf.py" 2>&1)
  code=$?
  set -e
  if [ $code -eq 124 ]; then
    echo "$out" | tail -n 30 >&2
    fail "importing the app took longer than ${check_timeout}s (does it block at import time?)"
  elif [ $code -ne 0 ]; then
    echo "$out" | tail -n 40 >&2
    fail "the app does not load in release $release_id (traceback above)"
  fi
}
