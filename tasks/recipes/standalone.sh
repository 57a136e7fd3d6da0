# shellcheck shell=bash
# A standalone WSGI container (gevent, tornado, twisted) run by the runner wsgideploy renders per release,
# through its pidfile (see wsgideploy/commands/standalone.py and docs/modes/standalone.md).
# Needs process.sh and pidfile.sh. Values set by the script before it:
: "${server:?}" "${pidfile:?}" "${run:?}" "${current:?}" "${runner:?}" "${config_dir_name:?}"
: "${logfile:?}" "${stdout_log:?}" "${START_TIMEOUT:?}" "${GRACEFUL_TIMEOUT:?}"

# Temporary sockets (<pid>.new, renamed over the live one once the runner listens) of runners that are gone.
clean_new_sockets() {
  local m p
  for m in "$run"/[0-9]*.new; do
    [ -e "$m" ] || continue
    p=${m#"$run"/}; p=${p%.new}
    alive "$p" || rm -f "$m"
  done
}
# stop_runner PID: TERM, KILL only past GRACEFUL_TIMEOUT + 5 s; prints how it ended
stop_runner() { term_pid "$1" $((GRACEFUL_TIMEOUT + 5)); }
# launch PIDFILE: start a runner of the live release (resolved: it keeps serving that release's code and
# venv after current moves); sets $launched_pid once it serves. On failure it says why and returns 1,
# with that runner stopped.
launch() {
  local target=$1 release launched pid rc=0
  [ -e "$current" ] || fail "no release is live yet: run deploy first"
  release=$(cd "$current" && pwd -P)
  rm -f "$target"
  clean_markers
  clean_new_sockets
  (cd "$release" && exec setsid "$release/venv/bin/python" "$release/$config_dir_name/$runner" --pidfile "$target" \
    < /dev/null >> "$stdout_log" 2>&1) &
  launched=$!
  wait_pidfile "$target" $launched "$START_TIMEOUT" || rc=$?
  case $rc in
    0) ;;
    1) show_log; echo "$server exited at start (log above: $logfile)" >&2; return 1;;
    *) stop_runner $launched > /dev/null
       show_log; echo "$server wrote no pidfile within ${START_TIMEOUT}s" >&2; return 1;;
  esac
  pid=$(pid_in "$target")
  case $(wait_ready "$pid" "$START_TIMEOUT"; echo $?) in
    0) launched_pid=$pid; return 0;;
    1) show_log; echo "$server exited while loading the app (log above: $logfile)" >&2;;
    *) stop_runner "$pid" > /dev/null; show_log
       echo "$server did not get ready within ${START_TIMEOUT}s" >&2;;
  esac
  rm -f "$target"
  return 1
}
start_master() {
  launch "$pidfile" || fail "$server did not start"
  fact pid "$launched_pid"
}
forget_server() {
  rm -f "$pidfile"
  clean_markers
  clean_new_sockets
}

# standalone_upgrade: start a runner of current beside the running one; once its socket is renamed
# over the live one and it is ready, the pidfile names it and the old runner gets TERM (it finishes
# what it had). A stopped server is started when start_if_stopped is 1, an error otherwise.
standalone_upgrade() {
  local old new how
  old=$(pid_in "$pidfile")
  if ! alive "$old"; then
    [ -z "$old" ] || fact stale_pid "$old"
    start_stopped; return 0
  fi
  launch "$pidfile.2" || fail "the new $server runner did not take over; pid $old still serves the previous release"
  new=$launched_pid
  # The new runner serves every new connection now. Name it in the pidfile, then stop the old one.
  echo "$old" > "$run/$server.old.pid"
  mv -f "$pidfile.2" "$pidfile"
  how=$(stop_runner "$old")
  rm -f "$run/$server.old.pid"
  clean_markers
  clean_new_sockets
  fact old_pid "$old"
  fact old_stop "$how"
  fact pid "$new"
  fact action upgraded
}

# Stop the runner gracefully; runners named by a pidfile an interrupted upgrade left (.pid.2, .old.pid) too.
standalone_stop() {
  local pid extra p
  pid=$(pid_in "$pidfile")
  for extra in "$pidfile.2" "$run/$server.old.pid"; do
    p=$(pid_in "$extra")
    if alive "$p" && [ "$p" != "$pid" ]; then stop_runner "$p" > /dev/null; fi
    rm -f "$extra"
  done
  if [ -n "$pid" ] && ! alive "$pid"; then fact stale_pid "$pid"; fi
  pidfile_stop $((GRACEFUL_TIMEOUT + 5))
}

# standalone_check: load the app and the server package with the new release's runner (--check), in
# its own venv, within check_timeout s. Nothing is bound and no pidfile is written. Needs app_check.sh.
standalone_check() {
  : "${release:?}" "${release_id:?}" "${check_timeout:?}"
  cd "$release" || fail "cannot enter $release"
  app_loads "the app does not load with $server in release $release_id (traceback above)" "$check_timeout" \
    "$release/venv/bin/python" "$release/$config_dir_name/$runner" --check
}

# Under systemd (systemd.sh): unit_ready PID SECONDS, as wait_ready (the runner listens on its socket
# and loaded the app); stop_setsid_master: TERM a runner an earlier version started with setsid (it
# serves what is queued on its socket, which the live link no longer names, and never unlinks a path).
unit_ready() { wait_ready "$1" "$2"; }
unit_prepare() { :; }
stop_setsid_master() { standalone_stop > /dev/null; }
