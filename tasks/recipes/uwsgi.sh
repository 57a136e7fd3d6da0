# shellcheck shell=bash
# uWSGI through its pidfile and master FIFO (see wsgideploy/commands/uwsgi.py and docs/modes/uwsgi.md).
# Needs process.sh and pidfile.sh. Values set by the script before it:
: "${pidfile:?}" "${fifo:?}" "${run:?}" "${root:?}" "${current:?}" "${live_ini:?}" "${logfile:?}"
: "${stdout_log:?}" "${running:?}" "${socket:?}" "${START_TIMEOUT:?}" "${GRACEFUL_TIMEOUT:?}" "${RESEND_AFTER:?}"

# The live children of PID (uWSGI's workers), one per line; read from /proc without forking.
children() {
  local parent=$1 s stat pid
  for s in /proc/[0-9]*/stat; do
    { read -r stat < "$s"; } 2>/dev/null || continue
    pid=${s#/proc/}; pid=${pid%/stat}
    # shellcheck disable=SC2086  # the fields after the name, split on purpose
    set -- ${stat##*) }
    [ "${2:-}" = "$parent" ] && [ "$1" != Z ] && [ "$1" != X ] && echo "$pid"
  done
  true
}
# How many workers the live uwsgi.ini asks for.
configured_workers() {
  local n
  n=$(sed -n 's/^processes[[:space:]]*=[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$live_ini" 2>/dev/null | head -n 1)
  echo "${n:-1}"
}
# The [uwsgi] section of an ini without comments: what a master reads at start.
master_options() { awk '/^\[/ { s = $0 } s == "[uwsgi]" && !/^[[:space:]]*[#;]/ && NF' "$1" 2>/dev/null || true; }
# What a master started now would run: the live [uwsgi] options and the live venv's uWSGI.
live_master() {
  master_options "$live_ini"
  echo "uwsgi $("$current/venv/bin/uwsgi" --version 2>/dev/null || true)"
}
send() {
  [ -p "$fifo" ] || fail "uWSGI's master FIFO $fifo is missing (the master runs without it?): use stop, then start"
  # shellcheck disable=SC2016  # $1 and $2 belong to the inner bash
  timeout 10 bash -c 'printf "$1" > "$2"' _ "$1" "$fifo" || fail "could not write '$1' to uWSGI's master FIFO $fifo"
}
# wait_workers MASTER "OLD PIDS" EXPECTED SECONDS RESEND
# Call it as `wait_workers ... || rc=$?` (not in $(...): it sets failed_pid and may write to the FIFO).
# 0 once no worker of OLD PIDS is left and at least EXPECTED workers, all of them new,
# have loaded the app; 1 if MASTER died; 2 on timeout; 3 if a new worker could not load
# the app (its pid in $failed_pid). RESEND (`c` or `r`, or 0) is written to the FIFO again
# when no old worker went away for RESEND_AFTER s (uWSGI ignores a `c` that comes while an
# earlier chain reload is still finishing). With `c`, done also needs chain_settled.
wait_workers() {
  local master=$1 old=" $2 " expected=$3 end resend=$5
  local kids k left ready total last_left=-1 last_change
  end=$(($(now) + $4))
  last_change=$(now)
  failed_pid=
  while [ "$(now)" -lt "$end" ]; do
    alive "$master" || return 1
    kids=$(children "$master")
    left=0; ready=0; total=0
    for k in $kids; do
      case "$old" in *" $k "*) left=$((left + 1)); continue;; esac
      total=$((total + 1))
      [ -e "$run/uwsgi.failed.$k" ] && { failed_pid=$k; return 3; }
      [ -e "$run/uwsgi.ready.$k" ] && ready=$((ready + 1))
    done
    if [ $left -eq 0 ] && [ $total -ge "$expected" ] && [ $ready -eq $total ]; then
      { [ "$resend" != c ] || chain_settled; } && return 0
    fi
    if [ $left -ne $last_left ]; then
      last_left=$left; last_change=$(now)
    elif [ "$resend" != 0 ] && [ $left -gt 0 ] && [ $(($(now) - last_change)) -ge "$RESEND_AFTER" ]; then
      send "$resend"; last_change=$(now)
    fi
    sleep 0.1
  done
  return 2
}
# Where uwsgi.log ends now: chain_settled reads only what the master logs after it.
mark_log() { log_offset=$(stat -c %s "$logfile" 2>/dev/null || echo 0); }
# Whether the last chain-reload line the master logged since mark_log is "complete":
# no chain reload is running (one that ran before ours, after a failed upgrade, may
# have replaced our old workers; a `c` written again then starts another).
chain_settled() {
  [ -f "$logfile" ] || return 0
  [ "$(stat -c %s "$logfile")" -ge "$log_offset" ] || log_offset=0  # truncated by logrotate
  case "$(tail -c +$((log_offset + 1)) "$logfile" | grep -a -e 'chain reload' -e 'chain next victim' | tail -n 1)" in
    *"chain reloading complete"*) return 0;;
  esac
  return 1
}
# kill_master PID: KILL the master and then its workers, by pid.
kill_master() {
  local kids k
  kids=$(children "$1")
  kill -KILL "$1" 2>/dev/null || true
  for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
  wait_gone "$1" 5 || true
}
start_master() {
  [ -e "$current" ] || fail "no release is live yet: run deploy first"
  [ -f "$live_ini" ] || fail "the live release has no $live_ini (was it deployed for another server?)"
  rm -f "$pidfile"
  # The link to a systemd instance's socket (docs/supervision.md) is not a socket uWSGI can bind.
  if [ -L "$socket" ]; then rm -f "$socket"; fi
  clean_markers
  cd "$root" || fail "cannot enter $root"
  setsid "$current/venv/bin/uwsgi" --ini "$live_ini" < /dev/null >> "$stdout_log" 2>&1 &
  local launched=$! master rc=0
  wait_pidfile "$pidfile" $launched "$START_TIMEOUT" || rc=$?
  case $rc in
    0) ;;
    1) show_log; fail "uWSGI exited at start (log above: $logfile)";;
    *) show_log; kill_master $launched; fail "uWSGI wrote no pidfile within ${START_TIMEOUT}s";;
  esac
  master=$(pid_in "$pidfile")
  wait_workers "$master" "" "$(configured_workers)" "$START_TIMEOUT" 0 || rc=$?
  case $rc in
    0) ;;
    1) show_log; fail "uWSGI exited while its workers loaded the app (log above: $logfile)";;
    3) show_log; kill_master "$master"; rm -f "$pidfile"
       fail "the uWSGI workers could not load the app (log above: $logfile); uWSGI was stopped";;
    *) show_log; kill_master "$master"; rm -f "$pidfile"
       fail "the uWSGI workers did not load the app within ${START_TIMEOUT}s; uWSGI was stopped";;
  esac
  live_master > "$running"
  fact pid "$master"
}

# uwsgi_upgrade: a chain reload (`c` on the FIFO), or a full graceful reload (`r`) when the
# master itself must change (its [uwsgi] options or the live venv's uWSGI). A stopped server is
# started when start_if_stopped is 1, an error otherwise.
uwsgi_upgrade() {
  local master old command what expected rc=0
  master=$(pid_in "$pidfile")
  if ! alive "$master"; then
    start_stopped; return 0
  fi
  clean_markers
  old=$(children "$master" | tr '\n' ' ')
  if [ -f "$running" ] && [ "$(live_master)" != "$(cat "$running")" ]; then
    command=r; what="full reload (uwsgi.ini or uWSGI changed)"; expected=$(configured_workers)
  else
    command=c; what="chain reload"; expected=$(wc -w <<< "$old")
    [ "$expected" -gt 0 ] || expected=$(configured_workers)
  fi
  mark_log
  send $command
  # The master reads the ini again on `r`, whatever happens next.
  [ $command = c ] || live_master > "$running"
  wait_workers "$master" "$old" "$expected" "$START_TIMEOUT" $command || rc=$?
  case $rc in
    0) ;;
    1) show_log; fail "the uWSGI master (pid $master) exited during the $what (log above: $logfile)";;
    3) show_log
       fail "a new uWSGI worker (pid $failed_pid) could not load the app of the live release (log above: $logfile)";;
    *) show_log; fail "the $what did not finish within ${START_TIMEOUT}s (log above: $logfile)";;
  esac
  clean_markers
  fact old_workers "${old% }"
  fact workers "$(children "$master" | tr '\n' ' ' | sed 's/ $//')"
  fact pid "$master"
  if [ $command = c ]; then
    fact action chain-reloaded
  else
    fact action "reloaded (uwsgi.ini or uWSGI changed)"
  fi
}

# Stop uWSGI gracefully (`q` on the master FIFO); KILL only past GRACEFUL_TIMEOUT + 5 s.
uwsgi_stop() {
  local pid wait=$((GRACEFUL_TIMEOUT + 5))
  pid=$(pid_in "$pidfile")
  if ! alive "$pid"; then
    rm -f "$pidfile"
    clean_markers
    fact action "not running"
    return 0
  fi
  if [ -p "$fifo" ]; then
    send q
  else
    kill -INT "$pid" 2>/dev/null || true
    fact note "no master FIFO: sent INT (not graceful)"
  fi
  if wait_gone "$pid" $wait; then
    fact action stopped
  else
    kill_master "$pid"
    ! alive "$pid" || fail "uWSGI (pid $pid) would not stop"
    fact action "killed after ${wait}s"
  fi
  # vacuum leaves the FIFO (and, after a full reload, the socket): the master is gone now.
  rm -f "$pidfile" "$fifo" "$socket" "$running"
  clean_markers
  fact pid "$pid"
}

# Report the master pid (if alive), its workers, the ready ones and the live release; changes nothing.
uwsgi_status() {
  local pid workers w ready=0
  pidfile_status
  pid=$(pid_in "$pidfile")
  alive "$pid" || return 0
  workers=$(children "$pid" | tr '\n' ' ' | sed 's/ $//')
  for w in $workers; do [ -e "$run/uwsgi.ready.$w" ] && ready=$((ready + 1)); done
  fact workers "$workers"
  fact ready_workers "$ready"
}

# uwsgi_check: load the app once with the new release's uwsgi (in the folder release) and the
# [check] section of its ini, within check_timeout s. Needs app_check.sh.
uwsgi_check() {
  : "${release:?}" "${release_id:?}" "${check_timeout:?}" "${check_socket:?}" "${config_dir_name:?}"
  local uwsgi="$release/venv/bin/uwsgi" ini="$release/$config_dir_name/uwsgi.ini" out code
  [ -x "$uwsgi" ] || fail "uwsgi is not installed in the venv of release $release_id ($uwsgi)"
  cd "$release" || fail "cannot enter $release"
  # The master's section: every directive known to this uwsgi (strict); --version exits
  # right after parsing, before anything is bound or started. vacuum=false: on exit,
  # vacuum would remove the pidfile that the section names, the live master's.
  out=$("$uwsgi" --ini "$ini:uwsgi" --set vacuum=false --version < /dev/null 2>&1) || {
    echo "$out" | tail -n 20 >&2
    fail "uWSGI rejects the [uwsgi] section of $ini (output above)"
  }
  WSGIDEPLOY_CHECK_RELEASE="$release" load_app "$check_timeout" "$uwsgi" --ini "$ini:check"
  rm -f "$check_socket"
  if [ "$code" -eq 22 ]; then  # need-app: the app did not load
    out=$(echo "$out" | grep -v -e '^\*\*\* WARNING' -e 'running as root' || true)
    check_loaded "the app does not load in release $release_id (traceback above)"
  else
    check_loaded "uWSGI could not run the [check] section of $ini (exit $code; output above)"
  fi
}

# Under systemd (systemd.sh): unit_ready MASTER SECONDS: as many workers as the slot's uwsgi.ini asks
# for have loaded the app (0), the master died or a worker could not load it (1), timeout (2).
unit_ready() {
  local rc=0
  # shellcheck disable=SC2154  # slot_dir: set by systemd.sh before it calls unit_ready
  live_ini="$slot_dir/${live_ini#"$current"/}"
  wait_workers "$1" "" "$(configured_workers)" "$2" 0 || rc=$?
  [ "$rc" != 3 ] || rc=1
  return "$rc"
}
unit_prepare() { :; }
# stop_setsid_master: stop a master that an earlier version started with setsid, once the live link
# names the unit's socket. Not with `q`: at exit its vacuum unlinks its socket's path, which is now
# that link. KILL the master (no vacuum), then HUP its workers: each finishes its request and exits.
stop_setsid_master() {
  local master kids k
  master=$(pid_in "$pidfile")
  if alive "$master"; then
    kids=$(children "$master")
    kill -KILL "$master" 2>/dev/null || true
    wait_gone "$master" 5 || fail "the uWSGI master (pid $master) would not stop"
    for k in $kids; do kill -HUP "$k" 2>/dev/null || true; done
    for k in $kids; do wait_gone "$k" $((GRACEFUL_TIMEOUT + 5)) || kill -KILL "$k" 2>/dev/null || true; done
  fi
  rm -f "$pidfile" "$fifo" "$running"
  clean_markers
}
