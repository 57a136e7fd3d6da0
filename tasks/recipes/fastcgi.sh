# shellcheck shell=bash
# The FastCGI runner (flup) through its pidfile (see wsgideploy/commands/fastcgi.py and docs/modes/fastcgi.md).
# Needs process.sh and pidfile.sh. Values set by the script before it:
: "${pidfile:?}" "${run:?}" "${sock:?}" "${newsock:?}" "${logfile:?}" "${current:?}" "${runner:?}"
: "${START_TIMEOUT:?}" "${STOP_TIMEOUT:?}"

# stop_runner PID: TERM (the runner answers the requests it has), KILL only past STOP_TIMEOUT; prints how
stop_runner() { term_pid "$1" "$STOP_TIMEOUT"; }
# launch SOCKET WHY: start a runner from current on SOCKET; sets $launched once it has loaded the app.
# Its pid goes to $pidfile.2 (the caller renames it). A runner that fails is stopped, its log shown,
# and the script fails with WHY first (what still holds).
launch() {
  [ -e "$current" ] || fail "no release is live yet: run deploy first"
  [ -x "$current/venv/bin/python" ] || fail "the live release has no venv/bin/python ($current/venv)"
  [ -f "$runner" ] || fail "the live release has no FastCGI runner ($runner): was it deployed with server = \"fastcgi\"?"
  local leftover end
  leftover=$(pid_in "$pidfile.2")
  if alive "$leftover" && [ "$leftover" != "$(pid_in "$pidfile")" ]; then stop_runner "$leftover" >/dev/null; fi
  rm -f "$pidfile.2" "$1"
  clean_markers
  cd "$current" || fail "cannot enter $current"
  setsid "$current/venv/bin/python" "$runner" --socket "$1" --pidfile "$pidfile.2" \
    < /dev/null >> "$logfile" 2>&1 &
  launched=$!
  end=$(($(now) + START_TIMEOUT))
  until [ -e "$run/fastcgi.ready.$launched" ] && [ "$(pid_in "$pidfile.2")" = "$launched" ]; do
    alive "$launched" || { show_log; rm -f "$pidfile.2"; fail "$2: the FastCGI runner exited while loading the app (log above: $logfile)"; }
    if [ "$(now)" -ge "$end" ]; then
      show_log; stop_runner "$launched" >/dev/null; rm -f "$pidfile.2" "$1"
      fail "$2: the FastCGI runner did not load the app within ${START_TIMEOUT}s (log above: $logfile)"
    fi
    sleep 0.05
  done
}
# go_live: the launched runner's socket becomes the live one (atomic rename), its pid the pidfile's.
go_live() {
  mv -f "$newsock" "$sock"
  mv -f "$pidfile.2" "$pidfile"
}
start_master() {
  launch "$newsock" "nothing was started"
  go_live
  fact pid "$launched"
}
forget_server() {
  rm -f "$pidfile" "$sock"
  clean_markers
}

# fastcgi_upgrade: start a runner of current on a new socket, rename it over the live one, then TERM
# the old runner. A stopped runner is started when start_if_stopped is 1, an error otherwise.
fastcgi_upgrade() {
  local old how
  old=$(pid_in "$pidfile")
  if ! alive "$old"; then
    start_stopped; return 0
  fi
  launch "$newsock" "pid $old still serves the previous release"
  go_live
  how=$(stop_runner "$old")
  clean_markers
  fact old_pid "$old"
  [ "$how" = stopped ] || fact old_runner "$how"
  fact pid "$launched"
  fact action upgraded
}

# Behind Apache, mod_fcgid starts, reuses and stops the runners itself: nothing to do.
fastcgi_under_mod_fcgid() {
  fact action "managed by Apache's mod_fcgid (nothing to do)"
  fact current "$(live_release)"
}

# fastcgi_check: make the new release's runner executable (a server that spawns FastCGI apps, like
# mod_fcgid, executes it) and run it with --check in its own venv within check_timeout s: it checks
# its interpreter is the release's venv, that flup imports, and imports the app. Needs app_check.sh.
fastcgi_check() {
  : "${release:?}" "${release_id:?}" "${check_timeout:?}" "${release_runner:?}"
  [ -x "$release/venv/bin/python" ] || fail "the release has no venv/bin/python ($release/venv/bin/python)"
  chmod 0755 "$release_runner"
  cd "$release" || fail "cannot enter $release"
  app_loads "the app does not load in release $release_id with its FastCGI runner (error above)" "$check_timeout" \
    "$release/venv/bin/python" "$release_runner" --check --release "$release"
}

# Under systemd (systemd.sh): unit_ready PID SECONDS, as wait_ready (the runner loaded the app and
# listens); stop_setsid_master: TERM a runner an earlier version started with setsid (it answers what it
# has), without forget_server, which would remove the live socket's path: now the link.
unit_ready() { wait_ready "$1" "$2"; }
unit_prepare() { chmod 0755 "${release_runner:?}"; }
stop_setsid_master() {
  local pid; pid=$(pid_in "$pidfile")
  if alive "$pid"; then stop_runner "$pid" > /dev/null; fi
  rm -f "$pidfile" "$pidfile.2"
  clean_markers
}
