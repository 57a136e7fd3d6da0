# shellcheck shell=bash
# gunicorn through its pidfile (see wsgideploy/commands/gunicorn.py and docs/gunicorn.md).
# Needs process.sh and pidfile.sh. Values set by the script before it:
: "${pidfile:?}" "${logfile:?}" "${stdout_log:?}" "${current:?}" "${live_config:?}"
: "${config_dir_name:?}" "${START_TIMEOUT:?}" "${GRACEFUL_TIMEOUT:?}" "${socket:?}"

start_master() {
  [ -e "$current" ] || fail "no release is live yet: run deploy first"
  rm -f "$pidfile" "$pidfile.2"
  # The link to a systemd instance's socket (docs/supervision.md) is not a socket gunicorn can bind.
  if [ -L "$socket" ]; then rm -f "$socket"; fi
  clean_markers
  cd "$current" || fail "cannot enter $current"
  setsid "$current/venv/bin/python" "$current/venv/bin/gunicorn" -c "$live_config/gunicorn.conf.py" \
    < /dev/null >> "$stdout_log" 2>&1 &
  local launched=$! pid
  case $(wait_pidfile "$pidfile" $launched "$START_TIMEOUT"; echo $?) in
    0) ;;
    1) show_log; fail "gunicorn exited at start (log above: $logfile)";;
    *) show_log; fail "gunicorn wrote no pidfile within ${START_TIMEOUT}s";;
  esac
  pid=$(pid_in "$pidfile")
  case $(wait_ready "$pid" "$START_TIMEOUT"; echo $?) in
    0) ;;
    1) show_log; fail "gunicorn exited while loading the app (log above: $logfile)";;
    *) show_log; kill -TERM "$pid" 2>/dev/null || true; fail "gunicorn workers did not load the app within ${START_TIMEOUT}s";;
  esac
  fact pid "$pid"
}

# gunicorn_upgrade: USR2, wait until the new master's workers are ready,
# then TERM the old master. If the new master never gets ready, it is stopped and the old one serves on.
# A stopped server is started when start_if_stopped is 1, an error otherwise.
gunicorn_upgrade() {
  local old new end
  old=$(pid_in "$pidfile")
  if ! alive "$old"; then
    start_stopped; return 0
  fi
  clean_markers
  rm -f "$pidfile.2"
  kill -USR2 "$old"
  end=$(($(now) + START_TIMEOUT))
  while [ ! -s "$pidfile.2" ]; do
    alive "$old" || fail "the running gunicorn (pid $old) exited during the upgrade"
    [ "$(now)" -lt "$end" ] || fail "gunicorn did not start a new master within ${START_TIMEOUT}s; pid $old still serves"
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
  end=$(($(now) + 15))
  while [ "$(pid_in "$pidfile")" != "$new" ] && [ "$(now)" -lt "$end" ]; do
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
gunicorn_stop() { pidfile_stop $((GRACEFUL_TIMEOUT + 5)); }
forget_server() {
  rm -f "$pidfile"
  clean_markers
}

# gunicorn_check: load the app (of release_id, in the folder release, within check_timeout s) with
# `gunicorn --check-config` inside the new release. WSGIDEPLOY_CHECK_RELEASE makes the config's chdir
# that release (current still names the live one, or nothing on a first deploy). Needs app_check.sh.
gunicorn_check() {
  : "${release:?}" "${release_id:?}" "${check_timeout:?}"
  cd "$release" || fail "cannot enter $release"
  WSGIDEPLOY_CHECK_RELEASE="$release" app_loads "the app does not load in release $release_id (traceback above)" \
    "$check_timeout" "$release/venv/bin/python" "$release/venv/bin/gunicorn" --check-config \
    -c "$release/$config_dir_name/gunicorn.conf.py"
}

# Under systemd (systemd.sh): unit_ready PID SECONDS, as wait_ready (the master's workers loaded the
# app); stop_setsid_master: stop a master that an earlier version started with setsid, once the live
# link names the unit's socket. Not with TERM: a master told to stop unlinks its socket's path, which
# is now that link. KILL the master (it does nothing more), then TERM its workers: each finishes the
# request it has and exits, and no new master replaces them.
unit_ready() { wait_ready "$1" "$2"; }
unit_prepare() { :; }
stop_setsid_master() {
  local master workers w
  master=$(pid_in "$pidfile")
  alive "$master" || { forget_server; return 0; }
  workers=$(pgrep -P "$master" || true)
  kill -KILL "$master" 2>/dev/null || true
  wait_gone "$master" 5 || fail "the gunicorn master (pid $master) would not stop"
  for w in $workers; do kill -TERM "$w" 2>/dev/null || true; done
  for w in $workers; do
    wait_gone "$w" $((GRACEFUL_TIMEOUT + 5)) || kill -KILL "$w" 2>/dev/null || true
  done
  forget_server
}
