"""Control uWSGI through its pidfile and master FIFO (see docs/modes/uwsgi.md).

uWSGI runs as ``<root>/current/venv/bin/uwsgi --ini <root>/current/.wsgideploy/uwsgi.ini``
(cwd ``<root>``), with ``lazy-apps``: the master never imports the app, each worker
loads it after the fork from ``.wsgideploy/uwsgi_app.py`` through ``current``. Every
worker that loaded the app creates ``<run>/uwsgi.ready.<pid>`` (``uwsgi.failed.<pid>``
when loading raised), so "ready" means "the app is loaded", not "a process exists".

- ``start``: start the master, wait until as many workers as ``processes`` are ready.
- ``upgrade``: a chain reload: write ``c`` to the FIFO. The master replaces its workers
  one at a time; each new one loads the code and venv ``current`` names now. Done when
  every worker that ran before is gone, every worker has loaded the app and uWSGI has
  logged the end of the chain. A worker that fails to load fails the step at once
  (there is no guard inside uWSGI: a broken release would replace the workers one by
  one, which is why ``check`` runs before the switch and the deploy rolls back a failed
  upgrade). When the master itself must change (other ``[uwsgi]`` options, another
  uWSGI version in the live venv), a graceful full reload (``r``) instead.
- ``stop``: ``q`` on the FIFO (graceful: requests in flight finish), KILL only past the timeout.
- ``check``: run the new release's uwsgi with the ``[check]`` section of its own
  ``uwsgi.ini`` (same app options, the release's own paths, ``need-app``), which loads
  the app once and exits.
"""
from __future__ import annotations

from ..layout import Layout
from ..modes import ServerContext
from ..protocol import FACTS_MARK
from .process import PROCESS_FUNCTIONS
from .shell import q, script

# uWSGI compiles (16-57 s measured on 2 cores). Every venv build runs pip with
# PIP_USE_PEP517=1 (commands/venv.py), so pip builds a wheel and keeps it in the deploy user's
# wheel cache: every later venv installs it in under a second. Without it, Debian 12's pip 23.0
# uses the legacy `setup.py install`, which caches nothing and compiles uWSGI every time.
PACKAGES = ("uwsgi",)
CONFIG_TEMPLATES = {"uwsgi.ini": "uwsgi.ini.j2", "uwsgi_app.py": "uwsgi_app.py.j2"}
UPSTREAM = "uwsgi-unix"  # nginx uwsgi_pass to the unix socket in shared/run

# Files in shared/run (the templates name the same ones).
PIDFILE = "uwsgi.pid"
FIFO = "uwsgi.fifo"
SOCKET = "uwsgi.sock"
CHECK_SOCKET = "uwsgi.check.sock"
# What the running master started with: the [uwsgi] options of its ini and its uWSGI version.
RUNNING = "uwsgi.running"
# Seconds without progress after which ``c`` (or ``r``) is written again: uWSGI ignores
# a ``c`` that arrives while an earlier chain reload is still being finished.
RESEND_AFTER = 3


def pidfile(layout: Layout) -> str:
    return f"{layout.run}/{PIDFILE}"


def _functions(layout: Layout) -> str:
    current, run = layout.current, layout.run
    ini = f"{layout.live_config_dir}/uwsgi.ini"
    return f"""
pidfile={q(pidfile(layout))}
fifo={q(run + '/' + FIFO)}
run={q(run)}
live_ini={q(ini)}
uwsgi_log={q(layout.log + '/uwsgi.log')}
stdout_log={q(layout.log + '/uwsgi.stdout.log')}
{PROCESS_FUNCTIONS}
show_log() {{
  [ -f "$uwsgi_log" ] && tail -n 30 "$uwsgi_log" >&2
  [ -s "$stdout_log" ] && tail -n 10 "$stdout_log" >&2
  true
}}
# The live children of PID (uWSGI's workers), one per line; read from /proc without forking.
children() {{
  local parent=$1 s stat pid
  for s in /proc/[0-9]*/stat; do
    {{ read -r stat < "$s"; }} 2>/dev/null || continue
    pid=${{s#/proc/}}; pid=${{pid%/stat}}
    set -- ${{stat##*) }}
    [ "${{2:-}}" = "$parent" ] && [ "$1" != Z ] && [ "$1" != X ] && echo "$pid"
  done
  true
}}
# Ready and failed markers of workers that are gone.
clean_markers() {{
  local m
  for m in "$run"/uwsgi.ready.* "$run"/uwsgi.failed.*; do
    [ -e "$m" ] || continue
    alive "${{m##*.}}" || rm -f "$m"
  done
}}
# How many workers the live uwsgi.ini asks for.
configured_workers() {{
  local n
  n=$(sed -n 's/^processes[[:space:]]*=[[:space:]]*\\([0-9][0-9]*\\).*/\\1/p' "$live_ini" 2>/dev/null | head -n 1)
  echo "${{n:-1}}"
}}
# The [uwsgi] section of an ini without comments: what a master reads at start.
master_options() {{ awk '/^\\[/ {{ s = $0 }} s == "[uwsgi]" && !/^[[:space:]]*[#;]/ && NF' "$1" 2>/dev/null || true; }}
# What a master started now would run: the live [uwsgi] options and the live venv's uWSGI.
live_master() {{
  master_options "$live_ini"
  echo "uwsgi $({q(current + '/venv/bin/uwsgi')} --version 2>/dev/null || true)"
}}
send() {{
  [ -p "$fifo" ] || fail "uWSGI's master FIFO $fifo is missing (the master runs without it?): use stop, then start"
  timeout 10 bash -c 'printf "$1" > "$2"' _ "$1" "$fifo" || fail "could not write '$1' to uWSGI's master FIFO $fifo"
}}
# wait_workers MASTER "OLD PIDS" EXPECTED SECONDS RESEND
# Call it as `wait_workers ... || rc=$?` (not in $(...): it sets failed_pid and may write to the FIFO).
# 0 once no worker of OLD PIDS is left and at least EXPECTED workers, all of them new,
# have loaded the app; 1 if MASTER died; 2 on timeout; 3 if a new worker could not load
# the app (its pid in $failed_pid). RESEND (`c` or `r`, or 0) is written to the FIFO again
# when no old worker went away for {RESEND_AFTER}s (uWSGI ignores a `c` that comes while an
# earlier chain reload is still finishing). With `c`, done also needs chain_settled.
wait_workers() {{
  local master=$1 old=" $2 " expected=$3 end=$((SECONDS + $4)) resend=$5
  local kids k left ready total last_left=-1 last_change=$SECONDS
  failed_pid=
  while [ $SECONDS -lt $end ]; do
    alive "$master" || return 1
    kids=$(children "$master")
    left=0; ready=0; total=0
    for k in $kids; do
      case "$old" in *" $k "*) left=$((left + 1)); continue;; esac
      total=$((total + 1))
      [ -e "$run/uwsgi.failed.$k" ] && {{ failed_pid=$k; return 3; }}
      [ -e "$run/uwsgi.ready.$k" ] && ready=$((ready + 1))
    done
    if [ $left -eq 0 ] && [ $total -ge "$expected" ] && [ $ready -eq $total ]; then
      {{ [ "$resend" != c ] || chain_settled; }} && return 0
    fi
    if [ $left -ne $last_left ]; then
      last_left=$left; last_change=$SECONDS
    elif [ "$resend" != 0 ] && [ $left -gt 0 ] && [ $((SECONDS - last_change)) -ge {RESEND_AFTER} ]; then
      send "$resend"; last_change=$SECONDS
    fi
    sleep 0.1
  done
  return 2
}}
# Where uwsgi.log ends now: chain_settled reads only what the master logs after it.
mark_log() {{ log_offset=$(stat -c %s "$uwsgi_log" 2>/dev/null || echo 0); }}
# Whether the last chain-reload line the master logged since mark_log is "complete":
# no chain reload is running (one that ran before ours, after a failed upgrade, may
# have replaced our old workers; a `c` written again then starts another).
chain_settled() {{
  [ -f "$uwsgi_log" ] || return 0
  [ "$(stat -c %s "$uwsgi_log")" -ge "$log_offset" ] || log_offset=0  # truncated by logrotate
  case "$(tail -c +$((log_offset + 1)) "$uwsgi_log" | grep -a -e 'chain reload' -e 'chain next victim' | tail -n 1)" in
    *"chain reloading complete"*) return 0;;
  esac
  return 1
}}
# kill_master PID: KILL the master and then its workers, by pid.
kill_master() {{
  local kids k
  kids=$(children "$1")
  kill -KILL "$1" 2>/dev/null || true
  for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
  wait_gone "$1" 5 || true
}}
start_master() {{
  [ -e {q(current)} ] || fail "no release is live yet: run deploy first"
  [ -f "$live_ini" ] || fail "the live release has no $live_ini (was it deployed for another server?)"
  rm -f "$pidfile"
  clean_markers
  cd {q(layout.root)}
  setsid {q(current + '/venv/bin/uwsgi')} --ini "$live_ini" < /dev/null >> "$stdout_log" 2>&1 &
  local launched=$! end=$((SECONDS + START_TIMEOUT)) master
  while [ ! -s "$pidfile" ]; do
    alive $launched || {{ show_log; fail "uWSGI exited at start (log above: $uwsgi_log)"; }}
    [ $SECONDS -lt $end ] || {{ show_log; kill_master $launched; fail "uWSGI wrote no pidfile within ${{START_TIMEOUT}}s"; }}
    sleep 0.1
  done
  master=$(pid_in "$pidfile")
  local rc=0
  wait_workers "$master" "" "$(configured_workers)" $START_TIMEOUT 0 || rc=$?
  case $rc in
    0) ;;
    1) show_log; fail "uWSGI exited while its workers loaded the app (log above: $uwsgi_log)";;
    3) show_log; kill_master "$master"; rm -f "$pidfile"
       fail "the uWSGI workers could not load the app (log above: $uwsgi_log); uWSGI was stopped";;
    *) show_log; kill_master "$master"; rm -f "$pidfile"
       fail "the uWSGI workers did not load the app within ${{START_TIMEOUT}}s; uWSGI was stopped";;
  esac
  live_master > "$run/{RUNNING}"
  echo "{FACTS_MARK}pid=$master"
}}
"""


def start(ctx: ServerContext) -> str:
    """Start uWSGI unless its pidfile names a live master (a stale pidfile is replaced)."""
    return script(f"START_TIMEOUT={int(ctx.timeout)}", _functions(ctx.layout), f"""
pid=$(pid_in "$pidfile")
if alive "$pid"; then
  echo "{FACTS_MARK}pid=$pid"
  echo "{FACTS_MARK}action=already running"
  exit 0
fi
[ -z "$pid" ] || echo "{FACTS_MARK}stale_pid=$pid"
start_master
echo "{FACTS_MARK}action=started"
""")


def upgrade(ctx: ServerContext, start_if_stopped: bool = True) -> str:
    """Make the running master serve ``current`` (code and venv) without dropping requests.

    A chain reload (``c``): new workers one at a time, the master stays. When the
    ``[uwsgi]`` options of the live ``uwsgi.ini`` differ from those the master started
    with (other workers, timeouts, a template change), or the live venv has another
    uWSGI version than the master runs, a full graceful reload (``r``) instead: the master re-executes the live release's uwsgi with the new ini, keeping
    its socket, while requests wait in the socket's backlog. With ``start_if_stopped``
    a stopped server is simply started; otherwise that is an error.
    """
    when_stopped = ('start_master; echo "' + FACTS_MARK + 'action=started"; exit 0'
                    if start_if_stopped else 'fail "uWSGI is not running (use start)"')
    return script(f"START_TIMEOUT={int(ctx.timeout)}", _functions(ctx.layout), f"""
master=$(pid_in "$pidfile")
if ! alive "$master"; then
  {when_stopped}
fi
clean_markers
old=$(children "$master" | tr '\\n' ' ')
if [ -f "$run/{RUNNING}" ] && [ "$(live_master)" != "$(cat "$run/{RUNNING}")" ]; then
  command=r; what="full reload (uwsgi.ini or uWSGI changed)"; expected=$(configured_workers)
else
  command=c; what="chain reload"; expected=$(echo $old | wc -w)
  [ "$expected" -gt 0 ] || expected=$(configured_workers)
fi
mark_log
send $command
# The master reads the ini again on `r`, whatever happens next.
[ $command = c ] || live_master > "$run/{RUNNING}"
rc=0
wait_workers "$master" "$old" "$expected" $START_TIMEOUT $command || rc=$?
case $rc in
  0) ;;
  1) show_log; fail "the uWSGI master (pid $master) exited during the $what (log above: $uwsgi_log)";;
  3) show_log
     fail "a new uWSGI worker (pid $failed_pid) could not load the app of the live release (log above: $uwsgi_log)";;
  *) show_log; fail "the $what did not finish within ${{START_TIMEOUT}}s (log above: $uwsgi_log)";;
esac
clean_markers
echo "{FACTS_MARK}old_workers=$(echo $old)"
echo "{FACTS_MARK}workers=$(children "$master" | tr '\\n' ' ' | sed 's/ $//')"
echo "{FACTS_MARK}pid=$master"
if [ $command = c ]; then
  echo "{FACTS_MARK}action=chain-reloaded"
else
  echo "{FACTS_MARK}action=reloaded (uwsgi.ini or uWSGI changed)"
fi
""")


def stop(ctx: ServerContext) -> str:
    """Stop uWSGI gracefully (``q`` on the master FIFO); KILL only past the timeout."""
    wait = int(ctx.graceful_timeout) + 5
    return script("START_TIMEOUT=0", _functions(ctx.layout), f"""
pid=$(pid_in "$pidfile")
if ! alive "$pid"; then
  rm -f "$pidfile"
  clean_markers
  echo "{FACTS_MARK}action=not running"
  exit 0
fi
if [ -p "$fifo" ]; then
  send q
else
  kill -INT "$pid" 2>/dev/null || true
  echo "{FACTS_MARK}note=no master FIFO: sent INT (not graceful)"
fi
if wait_gone "$pid" {wait}; then
  echo "{FACTS_MARK}action=stopped"
else
  kill_master "$pid"
  alive "$pid" && fail "uWSGI (pid $pid) would not stop"
  echo "{FACTS_MARK}action=killed after {wait}s"
fi
# vacuum leaves the FIFO (and, after a full reload, the socket): the master is gone now.
rm -f "$pidfile" "$fifo" "$run/{SOCKET}" "$run/{RUNNING}"
clean_markers
echo "{FACTS_MARK}pid=$pid"
""")


def status(ctx: ServerContext) -> str:
    """Report the master pid (if alive), its workers and the live release as facts."""
    layout = ctx.layout
    return script("START_TIMEOUT=0", _functions(layout), f"""
pid=$(pid_in "$pidfile")
if alive "$pid"; then
  echo "{FACTS_MARK}pid=$pid"
  workers=$(children "$pid" | tr '\\n' ' ' | sed 's/ $//')
  ready=0
  for w in $workers; do [ -e "$run/uwsgi.ready.$w" ] && ready=$((ready + 1)); done
  echo "{FACTS_MARK}workers=$workers"
  echo "{FACTS_MARK}ready_workers=$ready"
else
  echo "{FACTS_MARK}pid="
fi
[ -z "$pid" ] || alive "$pid" || echo "{FACTS_MARK}stale_pid=$pid"
echo "{FACTS_MARK}current=$(readlink {q(layout.current)} 2>/dev/null | sed 's#.*/##' || true)"
""")


def check(ctx: ServerContext, release_id: str) -> str:
    """Load the app once with the new release's uwsgi and the ``[check]`` section of its ini.

    First the ``[uwsgi]`` section is parsed with ``strict`` (an unknown directive fails;
    nothing starts). Then the ``[check]`` section, which names the release's own venv and
    code (``current`` still names the live one, or nothing on a first deploy), loads the
    app with ``need-app`` (exit 22 when it does not load) and exits 0 once it has. ``FLASK_RUN_FROM_CLI=true`` turns a
    stray ``app.run()`` into a no-op, and ``timeout`` bounds an import that hangs.
    """
    layout, timeout = ctx.layout, int(ctx.timeout)
    release = layout.release(release_id)
    ini = f"{release}/{layout.config_dir_name}/uwsgi.ini"
    uwsgi = f"{release}/venv/bin/uwsgi"
    check_socket = f"{layout.run}/{CHECK_SOCKET}"
    return script(f"""
[ -x {q(uwsgi)} ] || fail "uwsgi is not installed in the venv of release {release_id} ({uwsgi})"
cd {q(release)}
# The master's section: every directive known to this uwsgi (strict); --version exits
# right after parsing, before anything is bound or started. vacuum=false: on exit,
# vacuum would remove the pidfile that the section names, the live master's.
out=$({q(uwsgi)} --ini {q(ini + ':uwsgi')} --set vacuum=false --version < /dev/null 2>&1) || {{
  echo "$out" | tail -n 20 >&2
  fail "uWSGI rejects the [uwsgi] section of {ini} (output above)"
}}
set +e
out=$(WSGIDEPLOY_CHECK_RELEASE={q(release)} FLASK_RUN_FROM_CLI=true timeout -k 5 {timeout} \\
      {q(uwsgi)} --ini {q(ini + ':check')} < /dev/null 2>&1)
code=$?
set -e
rm -f {q(check_socket)}
if [ $code -eq 124 ] || [ $code -eq 137 ]; then
  echo "$out" | tail -n 30 >&2
  fail "importing the app took longer than {timeout}s (does it block at import time?)"
elif [ $code -eq 22 ]; then
  echo "$out" | grep -v -e '^\\*\\*\\* WARNING' -e 'running as root' | tail -n 40 >&2
  fail "the app does not load in release {release_id} (traceback above)"
elif [ $code -ne 0 ]; then
  echo "$out" | tail -n 40 >&2
  fail "uWSGI could not run the [check] section of {ini} (exit $code; output above)"
fi
""")
