set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
exec 3>&1
export WSGIDEPLOY_T0=$EPOCHREALTIME
echo "wsgideploy-step:0"
(
printf '%s %s\n' - 20261204T100000Z > /srv/hello/.deploy/switching.tmp && mv -f /srv/hello/.deploy/switching.tmp /srv/hello/.deploy/switching
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
[ -d /srv/hello/releases/20261204T100000Z ] || fail "release 20261204T100000Z does not exist on this host"
ln -sfn releases/20261204T100000Z /srv/hello/.current.tmp
mv -T /srv/hello/.current.tmp /srv/hello/current
)
echo "wsgideploy-step:1"
(
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
if [ -d /run/systemd/system ]; then
(
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
name=gunicorn
pidfile=/srv/hello/shared/run/gunicorn.pid
run=/srv/hello/shared/run
marker=gunicorn
logfile=/srv/hello/shared/log/gunicorn.error.log
stdout_log=/srv/hello/shared/log/gunicorn.stdout.log
current=/srv/hello/current
live_config=/srv/hello/current/.wsgideploy
socket=/srv/hello/shared/run/gunicorn.sock
config_dir_name=.wsgideploy
START_TIMEOUT=60
GRACEFUL_TIMEOUT=30
unit_prefix=wsgideploy-hello@
unit_path=/etc/systemd/system/wsgideploy-hello@.service
unit_text='# wsgideploy-hello@.service: hello (gunicorn), written by wsgideploy; the next deploy replaces it.
[Unit]
Description=wsgideploy hello (gunicorn, slot %i)
After=network.target
# A release that keeps crashing stops being restarted after 10 starts in 60 s.
StartLimitIntervalSec=60
StartLimitBurst=10

[Service]
Type=exec
# The app'"'"'s own user ([app] app_user): it reads its release and writes only shared/ (docs/security.md).
# UMask 0002: what it writes there (logs, data) stays writable by its group, which the deploy user is in.
User=hello
UMask=0002
Environment=WSGIDEPLOY_SLOT=%i
Environment="WSGIDEPLOY_CHECK_RELEASE=/srv/hello/slots/%i"
Environment="WSGIDEPLOY_STATIC_REPORT=/srv/hello/shared/run/gunicorn.%i.static"
ExecStart="/srv/hello/slots/%i/venv/bin/python" "/srv/hello/slots/%i/venv/bin/gunicorn" -c "/srv/hello/slots/%i/.wsgideploy/gunicorn.conf.py" --bind "unix:/srv/hello/shared/run/gunicorn.%i.sock" --pid "/srv/hello/shared/run/gunicorn.%i.pid"
Restart=on-failure
RestartSec=1
KillMode=mixed
KillSignal=SIGTERM
TimeoutStartSec=70
TimeoutStopSec=40

[Install]
WantedBy=multi-user.target
'
slots=/srv/hello/slots
sockets=/srv/hello/shared/run/gunicorn
probe='
import json, signal, socket, struct, sys, time
cfg, path = json.loads(sys.argv[1]), sys.argv[2]

STARTING = (502, 503, 504)
_same = [0, 0]
def settled(status):
    if status in STARTING:
        _same[:] = [0, 0]
        return False
    _same[:] = [status, _same[1] + 1 if _same[0] == status else 1]
    return _same[1] >= 3
def verdict(last, status, host):
    head, _, rest = last.partition(": ")
    hint = ""
    if status == 400:
        hint = (" (a 400 is how Django refuses a Host it does not allow: the check sent Host: %s; "
                "add it to ALLOWED_HOSTS)" % host)
    return "%s 3 times in a row: %s%s" % (head, rest, hint)

env = cfg["environ"]

def exchange(payload):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.connect(path)
        sock.sendall(payload)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        sock.close()

def http():
    head = "GET %s HTTP/1.0\r\n" % cfg["path"] + "".join("%s: %s\r\n" % kv for kv in cfg["headers"].items())
    return parse(exchange((head + "\r\n").encode("latin-1")), b"HTTP/")

def uwsgi():
    body = b"".join(struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
                    for k, v in ((k.encode(), v.encode()) for k, v in env.items()))
    return parse(exchange(struct.pack("<BHB", 0, len(body), 0) + body), b"HTTP/")

def fastcgi():
    def record(kind, content):
        return struct.pack("!BBHHBx", 1, kind, 1, len(content), 0) + content
    def length(n):
        return struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)
    params = b"".join(length(len(k)) + length(len(v)) + k + v
                      for k, v in ((k.encode(), v.encode()) for k, v in env.items()))
    data = exchange(record(1, struct.pack("!HB5x", 1, 0)) + record(4, params) + record(4, b"") + record(5, b""))
    out, i = b"", 0
    while i + 8 <= len(data):
        _, kind, _, size, pad = struct.unpack("!BBHHB", data[i:i + 7])
        if kind == 6:
            out += data[i + 8:i + 8 + size]
        i += 8 + size + pad
    return parse(out, b"Status:")

def parse(raw, first):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = 200
    if lines[0].startswith("HTTP/"):
        status = int(lines[0].split()[1])
    for line in lines:
        if line.lower().startswith("status:"):
            status = int(line.split()[1])
    if not raw:
        raise OSError("the connection closed with no response")
    return status, body.decode("utf-8", "replace")

ask = {"http": http, "uwsgi": uwsgi, "fastcgi": fastcgi}[cfg["protocol"]]
# It starts beside the instance (systemd.sh'"'"'s start_slot), so it may wait for the app to load
# (cfg["load_timeout"]) besides its own timeout. Once the instance is ready (SIGWINCH from start_slot: a
# signal ignored by default, so one that comes too early or too late ends nothing) or has answered, its own
# timeout alone counts from then on, as for a check started after the load.
deadline = time.monotonic() + cfg.get("load_timeout", 0) + cfg["timeout"]
def loaded(*_):
    global deadline
    deadline = min(deadline, time.monotonic() + cfg["timeout"])
signal.signal(signal.SIGWINCH, loaded)
# While the socket is not there yet, or no one listens on it, it looks again every 0.01 s for the first
# 2 s (a connection made once the socket is bound waits there until a worker takes it), then every 0.2 s
# like any other retry.
quick = time.monotonic() + 2
last = "no answer"
while True:
    pause = 0.2
    try:
        status, body = ask()
        loaded()
        if status == cfg["status"]:
            print("wsgideploy-fact:own_socket=HTTP %d" % status)
            sys.exit(0)
        last = "HTTP %d (expected %d): %s" % (status, cfg["status"], " ".join(body.split())[:300])
        if settled(status):
            last = verdict(last, status, cfg["headers"]["Host"])
            break
    except (OSError, ValueError, IndexError) as exc:
        last = "%s: %s" % (type(exc).__name__, exc)
        if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)) and time.monotonic() < quick:
            pause = 0.01
    if time.monotonic() > deadline:
        break
    time.sleep(pause)
print("GET %s on %s: %s" % (cfg["path"], path, last), file=sys.stderr)
sys.exit(1)
'
probe_config='{"protocol": "http", "path": "/", "headers": {"Host": "hello.example.com", "User-Agent": "wsgideploy-health", "X-Forwarded-Proto": "http", "X-Forwarded-For": "127.0.0.1"}, "environ": {"REQUEST_METHOD": "GET", "QUERY_STRING": "", "SERVER_NAME": "hello.example.com", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "http", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "0", "HTTP_HOST": "hello.example.com", "HTTP_USER_AGENT": "wsgideploy-health", "REQUEST_URI": "/", "CONTENT_TYPE": "", "CONTENT_LENGTH": "", "PATH_INFO": "/"}, "status": 200, "timeout": 30.0, "load_timeout": 60.0}'
app_user=hello
app_user_always=0
processes=''
unit_dir=/etc/systemd/system
start_if_stopped=1
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
# shellcheck shell=bash
# The app's own user (docs/security.md): under systemd the app server and [processes] run as
# [app] app_user (default: the app's name), not as the deploy user. `wsgideploy setup` creates that
# user and its group and puts the deploy user in the group; this recipe, run by the deploy user at
# the start of every deploy, gives the group what the app writes and nothing else:
#   shared/, shared/run (sockets), shared/log (the app server's logs): group <app>, setgid, g+w;
#   what the deploy user already made in run/ and log/ (logs of an earlier version): group <app>, g+w.
# Releases, venvs and configs stay the deploy user's, read-only to the app.
# Needs process.sh (fact). Values set by the script before it:
#   app_user          the user the app runs as
#   app_user_always   1: on every host (mod_wsgi, supervisor = "systemd"); 0: where systemd runs
#   shared, run, log  <root>/shared and its run and log folders (app_access only)
: "${app_user:?}" "${app_user_always:?}"

# app_user_applies: whether the app runs as app_user on this host
app_user_applies() { [ "$app_user_always" = 1 ] || [ -d /run/systemd/system ]; }

# require_app_user: fail, naming setup, unless app_user exists
require_app_user() {
  id -u "$app_user" >/dev/null 2>&1 \
    || fail "the app runs as the user $app_user ([app] app_user, default the app's name), which does not exist on this host: run \`wsgideploy setup\` for this host (it creates it), or set [app] app_user to an existing user"
}

# app_user_report: read-only (plan): facts app_user and app_group, or app_user_missing
app_user_report() {
  if id -u "$app_user" >/dev/null 2>&1; then
    fact app_user "$app_user"
    fact app_group "$(id -gn "$app_user")"
  else
    fact app_user_missing "$app_user"
  fi
}

# group_dir DIR GROUP: DIR (owned by the deploy user) in GROUP, setgid and group-writable
group_dir() {
  local now; now=$(stat -c '%G %a' "$1")  # one stat for both
  [ "${now% *}" = "$2" ] || chgrp "$2" "$1"
  [ "${now##* }" = 2775 ] || chmod 2775 "$1"
}

# in_session_group GROUP: whether this session may chgrp to GROUP: root, or GROUP among the session's
# groups (id -nG; a group added since the login counts from the next one)
in_session_group() {
  [ "$EUID" = 0 ] && return 0
  case " $(id -nG) " in *" $1 "*) return 0;; esac
  return 1
}

# app_access: check that the app user exists and that the deploy user shares its group, then arrange
# the shared folders; facts app_user and app_group. Fails (changing nothing) with the fix when either is missing.
app_access() {
  local me group
  me=$(id -un)
  [ "$app_user" != "$me" ] || fail "the app would run as the deploy user $me, which can change its code; set [app] app_user to another user (docs/security.md)"
  : "${shared:?}" "${run:?}" "${log:?}"
  require_app_user
  group=$(id -gn "$app_user")
  in_session_group "$group" \
    || fail "$me is not in the group $group of the app user $app_user: run \`wsgideploy setup\` for this host (it adds it), or \`sudo usermod -aG $group $me\`, then deploy again"
  mkdir -p "$run" "$log"
  group_dir "$shared" "$group"
  group_dir "$run" "$group"
  group_dir "$log" "$group"
  find "$run" "$log" -mindepth 1 -maxdepth 1 -user "$me" ! -type l \( ! -group "$group" -o ! -perm -g+w \) \
    -exec chgrp "$group" {} + -exec chmod g+w {} +
  fact app_user "$app_user"
  fact app_group "$group"
}
# shellcheck shell=bash
# The app server under systemd: two instances of one template unit, one per slot (a, b), each on a
# socket of its own; the front server reaches the live one through a link (see docs/supervision.md).
# Needs process.sh, pidfile.sh and the server's own recipe (its unit_ready, and start_master,
# forget_server and its stop for a master that an earlier version started with setsid).
# Values set by the script before it:
#   unit_prefix   wsgideploy-<app>@ (an instance is <unit_prefix><slot>.service)
#   unit_path     /etc/systemd/system/wsgideploy-<app>@.service
#   unit_text     the unit file, rendered by the controller
#   slots         <root>/slots: slots/a and slots/b name the release each instance runs
#   sockets       the socket of a slot is <sockets>.<slot>.sock; <sockets>.sock links to the live one
#   current       the live release's link
#   probe, probe_config  the health check of an instance on its own socket (python3 -c "$probe")
#   pidfile       where a master that an earlier version started with setsid names itself
#   processes     the names of [processes] (worker units wsgideploy-<app>-<name>.service), space-separated;
#                 process_unit_<name> each one's unit file; unit_dir where unit files go
#   START_TIMEOUT how long an instance may take to load the app
#   app_user      the user the units run as (User=; app_user.sh's require_app_user)
# and for systemd_stage and systemd_unstage: release (the new release's folder); for systemd_stage, the
# server's check values and check_run (its check function: it says why an instance did not start).
# The server's recipe defines unit_ready PID SECONDS and unit_prepare (what the release needs before an
# instance runs it: nothing, or the FastCGI runner made executable).
: "${unit_prefix:?}" "${unit_path:?}" "${unit_text:?}" "${slots:?}" "${sockets:?}" "${current:?}"
: "${probe:?}" "${probe_config:?}" "${START_TIMEOUT:?}" "${pidfile:?}" "${processes?}" "${unit_dir:?}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
unit_of() { echo "$unit_prefix$1.service"; }
# The slot whose socket the live link names (a or b), or nothing.
live_slot() {
  local target; target=$(readlink "$sockets.sock" 2>/dev/null) || return 0
  case $target in *.a.sock) echo a;; *.b.sock) echo b;; esac
}
other_slot() { if [ "$1" = a ]; then echo b; else echo a; fi; }
unit_active() { systemctl is-active --quiet "$(unit_of "$1")"; }
# The quick forms first: enable/disable without systemctl's implicit daemon-reload (the links count from
# the next boot), stop without waiting for the instance to finish its requests; the plain forms where a
# sudoers drop-in of an earlier `setup` allows only those.
unit_enable() { as_root systemctl enable --quiet --no-reload "$1" 2>/dev/null || as_root systemctl enable --quiet "$1"; }
unit_disable() { as_root systemctl disable --quiet --no-reload "$1" 2>/dev/null || as_root systemctl disable --quiet "$1"; }
unit_stop_nowait() { as_root systemctl stop --no-block "$1" 2>/dev/null || as_root systemctl stop "$1"; }
# unit_busy UNIT: whether UNIT is running or about to (active, reloading, or activating: also while
# systemd waits to restart it after a crash); inactive, failed and unknown units are not.
unit_busy() {
  case "$(systemctl is-active "$1" 2>/dev/null || true)" in active | activating | deactivating | reloading | refreshing) return 0;; esac
  return 1
}
main_pid() { systemctl show -p MainPID --value "$(unit_of "$1")" 2>/dev/null || echo 0; }
# unit_state UNIT: ActiveState/SubState, and the restart count
unit_state() {
  echo "$(systemctl show -p ActiveState --value "$1" 2>/dev/null)/$(systemctl show -p SubState --value "$1" 2>/dev/null)"
}
restarts() { systemctl show -p NRestarts --value "$1" 2>/dev/null || echo 0; }
journal_tail() { journal_unit "$(unit_of "$1")"; }

process_unit() { echo "${unit_prefix%@}-$1.service"; }
journal_unit() {
  echo "the last lines of $1's journal:" >&2
  as_root journalctl -u "$1" -n 20 --no-pager -o cat 2>/dev/null | sed 's/^/  /' >&2 || true
}
# install_unit FILE TEXT: install TEXT as FILE, owned by root, unless FILE already says that;
# 0 when it was installed, 1 when it was already so.
install_unit() {
  if [ -f "$1" ] && printf '%s' "$2" | cmp -s - "$1"; then return 1; fi
  printf '%s' "$2" | as_root install -o root -g root -m 0644 /dev/stdin "$1" \
    || fail "cannot install $1 as root (sudo -n refused; see docs/security.md)"
}
# Install the app's unit files that differ (then daemon-reload); fact unit=installed|unchanged.
unit_install() {
  local changed=0 p var
  require_app_user
  install_unit "$unit_path" "$unit_text" && changed=1
  for p in $processes; do
    var="process_unit_$p"
    install_unit "$unit_dir/$(process_unit "$p")" "${!var}" && changed=1
  done
  if [ $changed = 0 ]; then fact unit unchanged; return 0; fi
  as_root systemctl daemon-reload || fail "systemctl daemon-reload failed"
  fact unit installed
}
# processes_restart: every [processes] unit enabled and (re)started onto the live release.
processes_restart() {
  local p unit
  for p in $processes; do
    unit=$(process_unit "$p")
    unit_enable "$unit" || fail "systemctl enable $unit failed"
    as_root systemctl restart "$unit" || { journal_unit "$unit"; fail "systemctl restart $unit failed"; }
  done
  if [ -n "$processes" ]; then fact processes "$processes"; fi
}

# wait_queue_empty SOCKET SECONDS: until no connection waits to be accepted on the listening SOCKET
# (after the live link moved away from it, none arrives: a stop then drops nothing).
wait_queue_empty() {
  local end queued
  end=$(($(now) + $2))
  while [ "$(now)" -lt "$end" ]; do
    queued=$(ss -xlnH src "$1" 2>/dev/null | awk '{ n += $3 } END { print n + 0 }')
    [ "$queued" = 0 ] && return 0
    sleep 0.05
  done
  return 1
}

# start_slot SLOT TARGET: run TARGET (a release folder) in SLOT's instance, ready and answering its
# health check on its own socket; on failure the instance is stopped and its journal shown.
start_slot() {
  local slot=$1 target=$2 unit pid probing rc=0
  unit=$(unit_of "$slot")
  # an instance an earlier deploy retired may still finish its requests: this stop waits for it
  retired_wait "$slot"
  if unit_busy "$unit"; then as_root systemctl stop "$unit" || fail "systemctl stop $unit failed"; fi
  ln -sfn "$target" "$slots/.$slot.tmp"
  mv -T "$slots/.$slot.tmp" "$slots/$slot"
  rm -f "$sockets.$slot.sock"
  as_root systemctl reset-failed "$unit" 2>/dev/null || true
  as_root systemctl start "$unit" || { journal_tail "$slot"; fail "systemctl start $unit failed"; }
  # The health check starts now, beside the instance's start (its Python's own start is off the wait): it
  # asks once the socket is there, and the answer comes once a worker has loaded the app.
  python3 -c "$probe" "$probe_config" "$sockets.$slot.sock" & probing=$!
  pid=$(main_pid "$slot")
  # shellcheck disable=SC2034  # read by the server's unit_ready
  slot_dir="$slots/$slot"
  unit_ready "$pid" "$START_TIMEOUT" || rc=$?
  if [ "$rc" != 0 ]; then
    kill -TERM "$probing" 2>/dev/null || true
    wait "$probing" 2>/dev/null || true
    journal_tail "$slot"; show_log; as_root systemctl stop "$unit" || true
    case $rc in
      1) fail "$unit exited while loading the app (journal above); nothing was switched";;
      *) fail "$unit did not get ready within ${START_TIMEOUT}s (journal above); nothing was switched";;
    esac
  fi
  # loaded: from now on its own timeout alone counts. WINCH, whose default action is to be ignored: one
  # that comes before the probe's handler is in place, or while it exits (Python puts the default back
  # then), ends nothing.
  kill -WINCH "$probing" 2>/dev/null || true
  if ! wait "$probing"; then
    journal_tail "$slot"; as_root systemctl stop "$unit" || true
    fail "$unit failed its health check on its own socket (above); nothing was switched"
  fi
  fact pid "$pid"
}

# retire SLOT [ACTIVE]: stop SLOT's instance without waiting for it: it finishes the requests it has (up to its
# graceful timeout) after the deploy returns. The stop is sent by a job of its own (retire_job), once no
# connection waits on SLOT's socket any more: a stop closes the socket, and drops what waits there. That
# may take as long as a request, so the deploy does not wait for the job either. The job holds a lock on
# $slots/.retiring.SLOT, taken before it starts: the next start of that slot, `stop` and `uninstall` wait
# for it (retired_wait), then for the unit's stop. An instance that is not active is stopped all the same:
# systemd may be about to restart it after a crash (activating, auto-restart), and a stop cancels that.
# ACTIVE 1: the caller saw it active during this script, and it is not asked again (one systemctl less).
retire() {
  if [ "${2:-}" != 1 ] && ! unit_active "$1"; then
    if unit_busy "$(unit_of "$1")"; then as_root systemctl stop "$(unit_of "$1")" || fail "systemctl stop $(unit_of "$1") failed"; fi
    return 0
  fi
  exec 9> "$slots/.retiring.$1"
  flock -n 9 || true  # nothing holds it: this slot's start waited for the job before
  # the job keeps fd 9 (the lock); nothing of it may hold the session's output open (fd 3: the facts)
  retire_job "$1" </dev/null >/dev/null 2>&1 3>&- 4>&- &
  exec 9>&-
  fact retired "$(unit_of "$1")"
}

# retire_job SLOT: (in the background) the stop of retire, once SLOT's socket has no connection waiting
# (at most 10 s). A failed stop goes to the journal (the instance then stops at the slot's next start).
retire_job() {
  wait_queue_empty "$sockets.$1.sock" 10 || true
  unit_stop_nowait "$(unit_of "$1")" \
    || logger -t wsgideploy "systemctl stop $(unit_of "$1") failed: it stops at the slot's next start"
}

# retired_wait SLOT: until the job retiring SLOT's instance (retire_job) has sent its stop, at most 20 s.
retired_wait() {
  [ -e "$slots/.retiring.$1" ] || return 0
  flock -w 20 "$slots/.retiring.$1" true 2>/dev/null || true
}

# retire_setsid: a master that an earlier version started with setsid (its pidfile): moved under the
# unit by stopping it once the live link names the new instance.
retire_setsid() {
  local pid; pid=$(pid_in "$pidfile")
  alive "$pid" || return 0
  wait_queue_empty "$sockets.sock" 10 || true
  stop_setsid_master
  fact migrated "pid $pid (started with setsid) stopped; the unit serves"
}

# staged_for SLOT TARGET: the main pid of SLOT's instance if it is the one systemd_stage started for TARGET
# (a release folder, its real path) and still runs; else nothing.
staged_for() {
  local staged=""
  read -r staged 2>/dev/null < "$slots/.staged" || true
  [ "$staged" = "$1 $2" ] && [ "$(readlink -f "$slots/$1")" = "$2" ] || return 0
  active_main_pid "$(unit_of "$1")"
}

# systemd_stage: the build's check under systemd. The idle slot's instance starts with the new release,
# ready and answering its health check on its own socket, before anything switches; the go-live then
# only moves the live link to it (systemd_upgrade): the app loads once per deploy. When the instance
# does not start, the server's own check ($check_run) loads the app to say why, as it does without
# systemd; if the app loads there, the instance starts once more (fact started_after_check), and if
# that fails too, its journal and log are shown. A Flask app's static report, written by the instance
# (WSGIDEPLOY_STATIC_REPORT in the unit), is copied for the check's facts.
systemd_stage() {
  : "${release:?}" "${check_run:?}" "${app_user:?}"
  # (not "code": the check's load_app sets that one)
  local live new real err="" start_code=0
  real=$(readlink -f "$release") || fail "no release at $release"
  mkdir -p "$slots"
  unit_install
  unit_prepare
  live=$(live_slot)
  new=$(other_slot "$live")
  rm -f "$sockets.$new.static"
  clean_markers
  # named before the start, so that systemd_unstage finds it even when this script is cut short
  printf '%s %s\n' "$new" "$real" > "$slots/.staged"
  exec 4>&1  # the facts of start_slot go on to stdout, its errors into err
  err=$( (start_slot "$new" "$real") 2>&1 1>&4 ) || start_code=$?
  if [ "$start_code" != 0 ]; then
    "$check_run"  # the app does not load: the mode's own words, and the step fails here
    # It loads as the deploy user. An app that writes into its release when it loads (Flask's
    # os.makedirs(app.instance_path)) cannot as its own user, and finds what that check made: once more.
    start_code=0
    err=$( (start_slot "$new" "$real") 2>&1 1>&4 ) || start_code=$?
    if [ "$start_code" != 0 ]; then printf '%s\n' "$err" >&2; exit "$start_code"; fi
    fact started_after_check "$app_user"
  fi
  exec 4>&-
  if [ -n "${WSGIDEPLOY_STATIC_REPORT:-}" ] && [ -f "$sockets.$new.static" ]; then
    cp "$sockets.$new.static" "$WSGIDEPLOY_STATIC_REPORT"
  fi
  fact staged "$new"
}

# systemd_unstage: stop the instance systemd_stage started (or was starting) for release, a build that
# will not go live, unless the live link names it.
systemd_unstage() {
  : "${release:?}"
  local staged slot
  staged=$(cat "$slots/.staged" 2>/dev/null || true)
  slot=${staged%% *}
  [ -n "$staged" ] && [ "${staged#* }" = "$(readlink -f "$release" 2>/dev/null || true)" ] || return 0
  [ "$slot" != "$(live_slot)" ] || return 0
  rm -f "$slots/.staged"
  unit_busy "$(unit_of "$slot")" || return 0
  as_root systemctl stop "$(unit_of "$slot")" || true
  fact unstaged "$(unit_of "$slot")"
}

# systemd_upgrade: serve the release current names from the idle slot, checked on its own
# socket before the live link moves to it (or already started there by systemd_stage); then the
# other instance stops. A failure before the link moves leaves the live instance serving, untouched.
systemd_upgrade() {
  : "${start_if_stopped:?}"
  local target live new live_active enabling staged_pid
  target=$(readlink -f "$current" 2>/dev/null || true)
  if [ -z "$target" ] || [ ! -d "$target" ]; then fail "no release is live yet: run deploy first"; fi
  mkdir -p "$slots"
  unit_install
  live=$(live_slot)
  live_active=0
  if [ -n "$live" ] && unit_active "$live"; then live_active=1; fi
  if [ "$live_active" = 0 ] && ! alive "$(pid_in "$pidfile")"; then
    [ "$start_if_stopped" = 1 ] || fail "the app server is not running (use start)"
  fi
  new=$(other_slot "$live")
  clean_markers
  staged_pid=$(staged_for "$new" "$target")
  if [ -n "$staged_pid" ]; then
    fact pid "$staged_pid"
  else
    start_slot "$new" "$target"
  fi
  rm -f "$slots/.staged"
  ln -sfn "${sockets##*/}.$new.sock" "$sockets.sock.tmp"
  mv -T "$sockets.sock.tmp" "$sockets.sock"
  # the new instance enabled and the old one disabled side by side (each is a sudo and a systemctl)
  unit_enable "$(unit_of "$new")" & enabling=$!
  if [ -n "$live" ]; then
    unit_disable "$(unit_of "$live")" || true
    retire "$live" "$live_active"
  fi
  wait "$enabling" || fail "systemctl enable $(unit_of "$new") failed"
  retire_setsid
  clean_markers
  processes_restart
  fact slot "$new"
  fact action "$([ -n "$live" ] && echo upgraded || echo started)"
}

# systemd_start: start the live slot's instance unless it runs (an upgrade from nothing otherwise).
systemd_start() {
  local live p; live=$(live_slot)
  if [ -n "$live" ] && unit_active "$live" && [ "$(readlink -f "$slots/$live")" = "$(readlink -f "$current")" ]; then
    fact pid "$(main_pid "$live")"
    fact action "already running"
    for p in $processes; do as_root systemctl start "$(process_unit "$p")" || fail "systemctl start $(process_unit "$p") failed"; done
    return 0
  fi
  start_if_stopped=1 systemd_upgrade
}

# systemd_stop: stop both instances (each finishes its requests) and keep them from starting at boot.
# A unit is stopped when it is busy (unit_busy), not only when active: one that systemd is about to
# restart after a crash is "activating", and would come back after this stop if it were skipped.
systemd_stop() {
  local slot was="" p unit
  for p in $processes; do
    unit=$(process_unit "$p")
    unit_disable "$unit" 2>/dev/null || true
    if unit_busy "$unit"; then as_root systemctl stop "$unit" || fail "systemctl stop $unit failed"; fi
  done
  for slot in a b; do
    retired_wait "$slot"
    if unit_active "$slot"; then was="$was $(main_pid "$slot")"; fi
    unit_disable "$(unit_of "$slot")" 2>/dev/null || true
    if unit_busy "$(unit_of "$slot")"; then as_root systemctl stop "$(unit_of "$slot")" || fail "systemctl stop $(unit_of "$slot") failed"; fi
  done
  if alive "$(pid_in "$pidfile")"; then stop_setsid_master; was="$was setsid"; fi
  fact pid "${was# }"
  fact action "$([ -n "$was" ] && echo stopped || echo "not running")"
}

# systemd_status: the live instance's unit, state, main pid and restart count; the live release.
systemd_status() {
  local live unit p
  live=$(live_slot)
  fact current "$(live_release)"
  for p in $processes; do
    unit=$(process_unit "$p")
    fact "process_$p" "$(unit_state "$unit"), $(restarts "$unit") restarts"
  done
  if [ -z "$live" ]; then
    fact unit ""; fact state "not installed"; fact pid ""
    return 0
  fi
  unit=$(unit_of "$live")
  fact unit "$unit"
  fact state "$(unit_state "$unit")"
  fact restarts "$(restarts "$unit")"
  fact user "$(systemctl show -p User --value "$unit" 2>/dev/null || true)"
  fact enabled "$(systemctl is-enabled "$unit" 2>/dev/null || true)"
  if unit_active "$live"; then fact pid "$(main_pid "$live")"; else fact pid ""; fi
}
systemd_upgrade

)
else
(
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
name=gunicorn
pidfile=/srv/hello/shared/run/gunicorn.pid
run=/srv/hello/shared/run
marker=gunicorn
logfile=/srv/hello/shared/log/gunicorn.error.log
stdout_log=/srv/hello/shared/log/gunicorn.stdout.log
current=/srv/hello/current
live_config=/srv/hello/current/.wsgideploy
socket=/srv/hello/shared/run/gunicorn.sock
config_dir_name=.wsgideploy
START_TIMEOUT=60
GRACEFUL_TIMEOUT=30
start_if_stopped=1
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
gunicorn_upgrade

)
fi
)
echo "wsgideploy-step:2"
(
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
python3 -c '
import json, socket, sys, time
cfg = json.loads(sys.argv[1])

STARTING = (502, 503, 504)
_same = [0, 0]
def settled(status):
    if status in STARTING:
        _same[:] = [0, 0]
        return False
    _same[:] = [status, _same[1] + 1 if _same[0] == status else 1]
    return _same[1] >= 3
def verdict(last, status, host):
    head, _, rest = last.partition(": ")
    hint = ""
    if status == 400:
        hint = (" (a 400 is how Django refuses a Host it does not allow: the check sent Host: %s; "
                "add it to ALLOWED_HOSTS)" % host)
    return "%s 3 times in a row: %s%s" % (head, rest, hint)

class Refused(Exception):
    pass
if cfg.get("tls"):
    import http.client, ssl
    Refused = ssl.SSLCertVerificationError
    context = ssl.create_default_context(cadata=cfg["cadata"]) if cfg["cadata"] else ssl.create_default_context()
    class SiteConnection(http.client.HTTPSConnection):
        def connect(self):
            raw = socket.create_connection((cfg["address"], cfg["port"]), timeout=5)
            self.sock = context.wrap_socket(raw, server_hostname=cfg["host"])
    def ask():
        conn = SiteConnection(cfg["host"], cfg["port"], timeout=5)
        conn.request("GET", cfg["path"], headers={"Host": cfg["host"], "User-Agent": "wsgideploy-health"})
        # before the answer closes the connection
        expires = ssl.cert_time_to_seconds(conn.sock.getpeercert()["notAfter"])
        resp = conn.getresponse()
        return resp.status, resp.read(4096), expires
else:
    # Plain HTTP/1.0 on a socket (no chunked answer; it ends at its Content-Length or when the server closes):
    # http.client, with the ssl and email modules it imports, was half of this check'"'"'s time on a host.
    def ask():
        request = "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: wsgideploy-health\r\nConnection: close\r\n\r\n"
        with socket.create_connection((cfg["address"], cfg["port"]), timeout=5) as sock:
            sock.sendall((request % (cfg["path"], cfg["host"])).encode("latin-1"))
            data, want = b"", 4096
            while True:
                head, found, body = data.partition(b"\r\n\r\n")
                if found:
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length" and value.strip().isdigit():
                            want = min(4096, int(value))
                    if len(body) >= want:
                        break
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        status = head.split(b"\r\n", 1)[0].split(b" ")
        if not found or len(status) < 2 or not status[0].startswith(b"HTTP/") or not status[1].isdigit():
            raise OSError("not an HTTP answer: %r" % data[:100])
        return int(status[1]), body[:4096], None
deadline = time.monotonic() + cfg["timeout"]
last = "no answer"
while True:
    try:
        status, raw, expires = ask()
        body = raw.decode("utf-8", "replace")
        if status == cfg["status"]:
            print("wsgideploy-fact:status=%d" % status)
            if expires is not None:
                print("wsgideploy-fact:tls_days_left=%d" % ((expires - time.time()) // 86400))
            print("wsgideploy-fact:body=" + " ".join(body.split())[:200])
            sys.exit(0)
        last = "HTTP %d (expected %d): %s" % (status, cfg["status"], " ".join(body.split())[:300])
        if settled(status):
            print(verdict(last, status, cfg["host"]), file=sys.stderr)
            sys.exit(1)
    except Refused as exc:
        print("TLS: %s" % exc.verify_message, file=sys.stderr)
        sys.exit(1)
    except OSError as exc:  # ssl.SSLError too
        last = "%s: %s" % (type(exc).__name__, exc)
    if time.monotonic() > deadline:
        print(last, file=sys.stderr)
        sys.exit(1)
    time.sleep(0.3)
' '{"address": "127.0.0.1", "port": 80, "path": "/", "host": "hello.example.com", "status": 200, "timeout": 30.0}' || fail 'health check of http://127.0.0.1:80/ (Host: hello.example.com) failed'
rm -f /srv/hello/.deploy/switching
)
echo "wsgideploy-step:3"
if ! wsgideploy_err=$(bash -s 2>&1 1>&3 <<'WSGIDEPLOY_SOFT_STEP_END'
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
shopt -s nullglob
cd /srv/hello/releases
current=$(readlink /srv/hello/current 2>/dev/null || true)
current=${current##*/}
releases=(*)
# the newest good release before the live one: what a rollback would go back to
previous=""
for r in "${releases[@]}"; do
  [ "$r" = "$current" ] && break
  [ -e "$r/.wsgideploy-bad" ] || previous=$r
done
# releases that some process still runs in
# (one find for every process's cwd: a readlink per process costs a fork each)
in_use=" "
while IFS= read -r cwd; do
  case "$cwd" in /srv/hello/releases/*) r=${cwd#/srv/hello/releases/}; in_use="$in_use${r%%/*} ";; esac
done <<WSGIDEPLOY_CWDS
$(find /proc/[0-9]*/cwd -maxdepth 0 -printf '%l
' 2>/dev/null || true)
WSGIDEPLOY_CWDS
total=${#releases[@]}
removed=""
n=0
for r in "${releases[@]}"; do
  n=$((n + 1))
  [ $((total - n)) -lt 5 ] && continue
  if [ "$r" = "$current" ] || [ "$r" = "$previous" ]; then continue; fi
  case "$in_use" in *" $r "*) continue;; esac
  rm -rf "$r" && removed="$removed $r"
done
# venvs that no remaining release links to (one find reads every release's venv link)
linked=" "
while IFS= read -r target; do linked="$linked${target##*/} "; done <<WSGIDEPLOY_VENV_LINKS
$(find /srv/hello/releases -mindepth 2 -maxdepth 2 -name venv -type l -printf '%l
' 2>/dev/null || true)
WSGIDEPLOY_VENV_LINKS
cd /srv/hello/venvs
for v in *; do
  [ -d "$v" ] || continue
  case "$linked" in *" $v "*) continue;; esac
  rm -rf "$v"; removed="$removed venv:$v"
done
# unpacked pips that no remaining venv puts on its path (no such file at all: grep is not run, nor reads stdin)
pths=(/srv/hello/venvs/*/lib/python*/site-packages/wsgideploy-pip.pth)
for p in /srv/hello/.deploy/pip/pip-*; do
  [ -d "$p" ] || continue
  [ ${#pths[@]} -gt 0 ] && grep -qsFx -- "$p" "${pths[@]}" && continue
  rm -rf "$p"; removed="$removed pip:${p##*/}"
done
echo "wsgideploy-fact:removed=${removed# }"

logrotate_text='# logrotate for hello: every log under /srv/hello/shared/log, as the user that owns them.
# Rendered by wsgideploy on the controller from templates/logrotate.conf.j2, installed by root from
# the deploy'"'"'s script (never copied from the host). copytruncate: the app server and the app keep
# writing to the same file, so no server needs a signal. The front server'"'"'s logs are in its own
# folder, rotated by the distribution'"'"'s snippet.
/srv/hello/shared/log/*.log {
    su hello hello
    daily
    rotate 14
    maxsize 100M
    compress
    delaycompress
    missingok
    notifempty
    copytruncate
}
'
if [ -f /etc/logrotate.d/wsgideploy-hello ] && [ "$(stat -c %u /etc/logrotate.d/wsgideploy-hello)" = 0 ] && printf '%s' "$logrotate_text" | cmp -s - /etc/logrotate.d/wsgideploy-hello; then
  echo "wsgideploy-fact:logrotate=unchanged"
elif printf '%s' "$logrotate_text" | if [ "$(id -u)" = 0 ]; then install -o root -g root -m 0644 /dev/stdin /etc/logrotate.d/wsgideploy-hello; else sudo -n install -o root -g root -m 0644 /dev/stdin /etc/logrotate.d/wsgideploy-hello; fi 2>/dev/null; then
  echo "wsgideploy-fact:logrotate=installed /etc/logrotate.d/wsgideploy-hello"
else
  echo "wsgideploy-fact:logrotate=not installed: /etc/logrotate.d/wsgideploy-hello needs root (logrotate reads only root-owned files) and sudo -n was refused (see docs/security.md)"
fi
WSGIDEPLOY_SOFT_STEP_END
); then
  printf "%s\n" "${wsgideploy_err:-exit code $?}" | sed "s/^/wsgideploy-soft-error:/"
fi
echo "wsgideploy-step:4"
if ! wsgideploy_err=$(bash -s 2>&1 1>&3 <<'WSGIDEPLOY_SOFT_STEP_END'
wsgideploy_took=$(awk -v t0="${WSGIDEPLOY_T0/,/.}" -v now="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.2f", 1.250 + now - t0 }')
printf '%s"duration": %s%s\n' '{' "$wsgideploy_took" ', "release": "20261204T100000Z"}' >> /srv/hello/.deploy/log.jsonl

if grep -qsF -- wsgideploy-lock-token /srv/hello/.deploy/lock/owner.json; then rm -rf /srv/hello/.deploy/lock; echo "wsgideploy-fact:unlocked=yes"; fi
WSGIDEPLOY_SOFT_STEP_END
); then
  printf "%s\n" "${wsgideploy_err:-exit code $?}" | sed "s/^/wsgideploy-soft-error:/"
fi
