# shellcheck shell=bash
# Shared by every app server's control script: facts, processes through pidfiles, the live release.

# fact KEY VALUE: one wsgideploy-fact line for the controller (see wsgideploy/protocol.py).
fact() { printf 'wsgideploy-fact:%s=%s\n' "$1" "$2"; }
# alive PID: whether PID runs. Read from /proc, not `kill -0`, which fails on another user's process:
# under systemd the app runs as its own user (docs/security.md). A zombie (exited, never reaped: some
# init processes do not reap) is not alive.
# Read with bash's own read, not grep: the waits look every few hundredths of a second.
alive() {
  case ${1:-} in '' | *[!0-9]*) return 1;; esac
  local key state
  { while read -r key state _; do
      if [ "$key" = State: ]; then case $state in Z | X) return 1;; esac; return 0; fi
    done < "/proc/$1/status"; } 2>/dev/null
  return 1
}
# pid_in FILE: the pid a pidfile names, or nothing. Only a positive integer above 1 on its first line
# counts ("-1" would signal every process, "0" the group, 1 is init): nothing is ever cut out of other text.
pid_in() {
  local p=""
  if [ -s "$1" ]; then { read -r p < "$1"; } 2>/dev/null || true; fi
  case $p in '' | *[!0-9]* | 0*) return 0;; esac
  if [ "${#p}" -le 9 ] && [ "$p" -gt 1 ]; then echo "$p"; fi
}
# active_main_pid UNIT: the main pid of systemd's UNIT while it is active (or reloading), else nothing. One
# systemctl for both values (it prints them in its own order).
active_main_pid() {
  local key value state="" pid=""
  while IFS="=" read -r key value; do
    case $key in ActiveState) state=$value;; MainPID) pid=$value;; esac
  done <<WSGIDEPLOY_UNIT_SHOW
$(systemctl show -p ActiveState -p MainPID "$1" 2>/dev/null || true)
WSGIDEPLOY_UNIT_SHOW
  case $state in active | reloading) if [ "${pid:-0}" != 0 ]; then echo "$pid"; fi;; esac
}
# now: whole seconds since the host booted (/proc/uptime). Every wait counts on it, not on bash's
# SECONDS, which follows the wall clock: a clock set during a wait (NTP stepping it after a boot, a
# virtual machine resumed) would end that wait at once.
now() { local up; read -r up _ < /proc/uptime; echo "${up%.*}"; }
# wait_gone PID SECONDS: whether PID is gone within SECONDS. Its callers send KILL when it says no, so
# nothing may cut it short: it says no only once it has counted SECONDS in sleeps of 0.05 s AND the time
# since boot (/proc/uptime, which no clock setting moves) has passed SECONDS. Either alone was seen to
# end a 15 s wait after 0.2 s on CI (first the uptime, then the sleeps), then a KILL of a draining runner.
wait_gone() {
  local left=$(($2 * 20)) end t
  end=$(($(uptime_cs) + $2 * 100))
  while alive "$1"; do
    if [ "$left" -le 0 ]; then
      t=$(uptime_cs)
      case $t in '' | *[!0-9]*) return 1;; esac  # no uptime to read: the count alone
      [ "$t" -lt "$end" ] || return 1
    fi
    sleep 0.05
    left=$((left - 1))
  done
}
# uptime_cs: hundredths of a second since boot (/proc/uptime), or nothing
uptime_cs() { local up; { read -r up _ < /proc/uptime; } 2>/dev/null || return 0; echo "${up/./}"; }
# live_release: the name of the release current names, or nothing
live_release() { : "${current:?}"; readlink "$current" 2>/dev/null | sed 's#.*/##' || true; }
