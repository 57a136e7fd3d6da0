# shellcheck shell=bash
# Does the app load? Every app server's check imports the app in the new release before the switch.

# load_app SECONDS COMMAND...: run COMMAND (it imports the app) with no input, FLASK_RUN_FROM_CLI=true
# (a stray app.run() is a no-op) and under timeout (KILL 5 s after its TERM: an import that hangs).
# Sets out (its output), code (its exit status) and seconds for check_loaded.
load_app() {
  seconds=$1
  shift
  set +e
  out=$(FLASK_RUN_FROM_CLI=true timeout -k 5 "$seconds" "$@" < /dev/null 2>&1)
  code=$?
  set -e
}
# check_loaded FAILURE: after load_app, fail when the import timed out, or with FAILURE when COMMAND
# failed (the end of its output first, on stderr).
check_loaded() {
  if [ "$code" -eq 124 ] || [ "$code" -eq 137 ]; then
    echo "$out" | tail -n 30 >&2
    fail "importing the app took longer than ${seconds}s (does it block at import time?)"
  elif [ "$code" -ne 0 ]; then
    echo "$out" | tail -n 40 >&2
    fail "$1"
  fi
}
# app_loads FAILURE SECONDS COMMAND...: load_app, then check_loaded.
app_loads() {
  local failure=$1
  shift
  load_app "$@"
  check_loaded "$failure"
}
