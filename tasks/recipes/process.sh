# shellcheck shell=bash
# Shared by every app server's control script: facts, processes through pidfiles, the live release.

# fact KEY VALUE: one wsgideploy-fact line for the controller (see wsgideploy/protocol.py).
fact() { printf 'wsgideploy-fact:%s=%s\n' "$1" "$2"; }
# alive PID: whether PID runs. Read from /proc, not `kill -0`, which fails on another user's process:
# under systemd the app runs as its own user (docs/security.md). A zombie (exited, never reaped: some
# init processes do not reap) is not alive.
alive() {
  case ${1:-} in '' | *[!0-9]*) return 1;; esac
  [ -r "/proc/$1/status" ] && ! grep -qs '^State:[[:space:]]*[ZX]' "/proc/$1/status"
}
# pid_in FILE: the pid a pidfile names, or nothing. Only a positive integer above 1 on its first line
# counts ("-1" would signal every process, "0" the group, 1 is init): nothing is ever cut out of other text.
pid_in() {
  local p=""
  if [ -s "$1" ]; then { read -r p < "$1"; } 2>/dev/null || true; fi
  case $p in '' | *[!0-9]* | 0*) return 0;; esac
  if [ "${#p}" -le 9 ] && [ "$p" -gt 1 ]; then echo "$p"; fi
}
# now: whole seconds since the host booted (/proc/uptime). Every wait counts on it, not on bash's
# SECONDS, which follows the wall clock: a clock set during a wait (NTP stepping it after a boot, a
# virtual machine resumed) would end that wait at once.
now() { local up; read -r up _ < /proc/uptime; echo "${up%.*}"; }
# wait_gone PID SECONDS: whether PID is gone within SECONDS. Counted in sleeps of 0.05 s, not read
# from a clock: its callers send KILL when it says no, so nothing may cut it short (CI once saw a
# 15 s wait end after 0.2 s, then a KILL that dropped a draining runner); load only makes it longer.
wait_gone() {
  local left=$(($2 * 20))
  while alive "$1" && [ "$left" -gt 0 ]; do sleep 0.05; left=$((left - 1)); done
  ! alive "$1"
}
# live_release: the name of the release current names, or nothing
live_release() { : "${current:?}"; readlink "$current" 2>/dev/null | sed 's#.*/##' || true; }
