set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && echo "wsgideploy-session:$wsgideploy_sid" || true
exec 3>&1
echo "wsgideploy-step:0"
(
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && echo "wsgideploy-session:$wsgideploy_sid" || true
[ -d /srv/hello/releases/20261204T100000Z ] || fail "release 20261204T100000Z does not exist on this host"
ln -sfn releases/20261204T100000Z /srv/hello/.current.tmp
mv -T /srv/hello/.current.tmp /srv/hello/current
)
echo "wsgideploy-step:1"
(
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && echo "wsgideploy-session:$wsgideploy_sid" || true
name=gunicorn
pidfile=/srv/hello/shared/run/gunicorn.pid
run=/srv/hello/shared/run
marker=gunicorn
logfile=/srv/hello/shared/log/gunicorn.error.log
stdout_log=/srv/hello/shared/log/gunicorn.stdout.log
current=/srv/hello/current
live_config=/srv/hello/current/.wsgideploy
config_dir_name=.wsgideploy
START_TIMEOUT=60
GRACEFUL_TIMEOUT=30
start_if_stopped=1
# shellcheck shell=bash
# Shared by every app server's control script: facts, processes through pidfiles, the live release.

# fact KEY VALUE: one wsgideploy-fact line for the controller (see wsgideploy/protocol.py).
fact() { printf 'wsgideploy-fact:%s=%s\n' "$1" "$2"; }
# A zombie (exited, never reaped: some init processes do not reap) is not alive.
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*[ZX]' "/proc/$1/status"; }
# pid_in FILE: the pid a pidfile names, or nothing
pid_in() { if [ -s "$1" ]; then tr -dc '0-9' < "$1" 2>/dev/null || true; fi; }
# now: whole seconds since the host booted (/proc/uptime). Every wait counts on it, not on bash's
# SECONDS, which follows the wall clock: a clock set during a wait (NTP stepping it after a boot, a
# virtual machine resumed) would end that wait at once.
now() { local up; read -r up _ < /proc/uptime; echo "${up%.*}"; }
# wait_gone PID SECONDS: whether PID is gone within SECONDS
wait_gone() {
  local end
  end=$(($(now) + $2))
  while alive "$1" && [ "$(now)" -lt "$end" ]; do sleep 0.05; done
  ! alive "$1"
}
# live_release: the name of the release current names, or nothing
live_release() { : "${current:?}"; readlink "$current" 2>/dev/null | sed 's#.*/##' || true; }
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
# wait_ready PID SECONDS: 0 once PID loaded the app (its ready marker), 1 if PID died, 2 on timeout
wait_ready() {
  local end
  end=$(($(now) + $2))
  while [ "$(now)" -lt "$end" ]; do
    [ -e "$run/$marker.ready.$1" ] && return 0
    alive "$1" || return 1
    sleep 0.05
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
# shellcheck shell=bash
# gunicorn through its pidfile (see wsgideploy/commands/gunicorn.py and docs/gunicorn.md).
# Needs process.sh and pidfile.sh. Values set by the script before it:
: "${pidfile:?}" "${logfile:?}" "${stdout_log:?}" "${current:?}" "${live_config:?}"
: "${config_dir_name:?}" "${START_TIMEOUT:?}" "${GRACEFUL_TIMEOUT:?}"

start_master() {
  [ -e "$current" ] || fail "no release is live yet: run deploy first"
  rm -f "$pidfile" "$pidfile.2"
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
gunicorn_upgrade
)
echo "wsgideploy-step:2"
(
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && echo "wsgideploy-session:$wsgideploy_sid" || true
python3 -c '
import http.client, json, sys, time
cfg = json.loads(sys.argv[1])
deadline = time.monotonic() + cfg["timeout"]
last = "no answer"
while True:
    try:
        conn = http.client.HTTPConnection(cfg["address"], cfg["port"], timeout=5)
        conn.request("GET", cfg["path"], headers={"Host": cfg["host"], "User-Agent": "wsgideploy-health"})
        resp = conn.getresponse()
        body = resp.read(4096).decode("utf-8", "replace")
        if resp.status == cfg["status"]:
            print("wsgideploy-fact:status=%d" % resp.status)
            print("wsgideploy-fact:body=" + " ".join(body.split())[:200])
            sys.exit(0)
        last = "HTTP %d (expected %d): %s" % (resp.status, cfg["status"], " ".join(body.split())[:300])
    except OSError as exc:
        last = "%s: %s" % (type(exc).__name__, exc)
    if time.monotonic() > deadline:
        print(last, file=sys.stderr)
        sys.exit(1)
    time.sleep(0.3)
' '{"address": "127.0.0.1", "port": 80, "path": "/", "host": "hello.example.com", "status": 200, "timeout": 30.0}' || fail 'health check of http://127.0.0.1:80/ (Host: hello.example.com) failed'
)
echo "wsgideploy-step:3"
if ! wsgideploy_err=$(bash -c 'set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && echo "wsgideploy-session:$wsgideploy_sid" || true
cd /srv/hello/releases
current=$(readlink /srv/hello/current 2>/dev/null | sed '"'"'s#.*/##'"'"' || true)
releases=$(ls -1 | sort)
# the newest good release before the live one: what a rollback would go back to
previous=""
for r in $releases; do
  [ "$r" = "$current" ] && break
  [ -e "$r/.wsgideploy-bad" ] || previous=$r
done
# releases that some process still runs in
# (one find for every process'"'"'s cwd: a readlink per process costs a fork each)
in_use=" "
while IFS= read -r cwd; do
  case "$cwd" in /srv/hello/releases/*) r=${cwd#/srv/hello/releases/}; in_use="$in_use${r%%/*} ";; esac
done <<WSGIDEPLOY_CWDS
$(find /proc/[0-9]*/cwd -maxdepth 0 -printf '"'"'%l
'"'"' 2>/dev/null || true)
WSGIDEPLOY_CWDS
total=$(echo "$releases" | grep -c . || true)
removed=""
n=0
for r in $releases; do
  n=$((n + 1))
  [ $((total - n)) -lt 5 ] && continue
  if [ "$r" = "$current" ] || [ "$r" = "$previous" ]; then continue; fi
  case "$in_use" in *" $r "*) continue;; esac
  rm -rf "$r" && removed="$removed $r"
done
# venvs that no remaining release links to
cd /srv/hello/venvs
for v in *; do
  [ -d "$v" ] || continue
  used=no
  for link in /srv/hello/releases/*/venv; do
    [ "$(readlink "$link" 2>/dev/null | sed '"'"'s#.*/##'"'"')" = "$v" ] && { used=yes; break; }
  done
  [ $used = yes ] || { rm -rf "$v"; removed="$removed venv:$v"; }
done
echo "wsgideploy-fact:removed=${removed# }"

if cmp -s /srv/hello/current/.wsgideploy/logrotate.conf /etc/logrotate.d/wsgideploy-hello && [ "$(stat -c %u /etc/logrotate.d/wsgideploy-hello)" = 0 ]; then
  echo "wsgideploy-fact:logrotate=unchanged"
elif ( if [ "$(id -u)" = 0 ]; then install -o root -g root -m 0644 /srv/hello/current/.wsgideploy/logrotate.conf /etc/logrotate.d/wsgideploy-hello; else sudo -n install -o root -g root -m 0644 /srv/hello/current/.wsgideploy/logrotate.conf /etc/logrotate.d/wsgideploy-hello; fi ) 2>/dev/null; then
  echo "wsgideploy-fact:logrotate=installed /etc/logrotate.d/wsgideploy-hello"
else
  echo "wsgideploy-fact:logrotate=not installed: /etc/logrotate.d/wsgideploy-hello needs root (logrotate reads only root-owned files) and sudo -n was refused"
fi
' 2>&1 1>&3); then
  printf "%s\n" "${wsgideploy_err:-exit code $?}" | sed "s/^/wsgideploy-soft-error:/"
fi
