"""Control gunicorn through its pidfile.

The upgrade recipe (see docs/gunicorn.md): gunicorn is started as
``<root>/current/venv/bin/python <root>/current/venv/bin/gunicorn -c
<root>/current/.wsgideploy/gunicorn.conf.py``. On USR2 the master re-executes
that same command line, which now resolves through the new ``current`` to the
new release's code, config and venv. Its workers touch a ready marker once the
app has loaded; only then is the old master sent TERM (a graceful stop). If the
new master never gets ready, it is stopped and the old one keeps serving.
"""
from __future__ import annotations

from ..layout import Layout
from ..modes import ServerContext
from .release import FACTS_MARK
from .process import PROCESS_FUNCTIONS
from .shell import q, script

PACKAGES = ("gunicorn",)
CONFIG_TEMPLATES = {"gunicorn.conf.py": "gunicorn.conf.py.j2"}
UPSTREAM = "http-unix"  # nginx proxy_pass to the unix socket in shared/run


def _functions(layout: Layout) -> str:
    current = layout.current
    return f"""
pidfile={q(layout.gunicorn_pidfile)}
run={q(layout.run)}
errorlog={q(layout.log + '/gunicorn.error.log')}
{PROCESS_FUNCTIONS}
show_log() {{ [ -f "$errorlog" ] && tail -n 30 "$errorlog" >&2 || true; }}
clean_markers() {{
  for m in "$run"/gunicorn.ready.*; do
    [ -e "$m" ] || continue
    alive "${{m##*.}}" || rm -f "$m"
  done
}}
# wait_ready PID SECONDS: 0 once PID's workers loaded the app, 1 if PID died, 2 on timeout
wait_ready() {{
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    [ -e "$run/gunicorn.ready.$1" ] && return 0
    alive "$1" || return 1
    sleep 0.1
  done
  return 2
}}
start_master() {{
  [ -e {q(current)} ] || fail "no release is live yet: run deploy first"
  rm -f "$pidfile" "$pidfile.2"
  clean_markers
  cd {q(current)}
  setsid {q(current + '/venv/bin/python')} {q(current + '/venv/bin/gunicorn')} \\
    -c {q(layout.live_config_dir + '/gunicorn.conf.py')} \\
    < /dev/null >> {q(layout.log + '/gunicorn.stdout.log')} 2>&1 &
  local launched=$! end=$((SECONDS + START_TIMEOUT))
  while [ ! -s "$pidfile" ]; do
    alive $launched || {{ show_log; fail "gunicorn exited at start (log above: $errorlog)"; }}
    [ $SECONDS -lt $end ] || {{ show_log; fail "gunicorn wrote no pidfile within ${{START_TIMEOUT}}s"; }}
    sleep 0.1
  done
  local pid; pid=$(pid_in "$pidfile")
  case $(wait_ready "$pid" $START_TIMEOUT; echo $?) in
    0) ;;
    1) show_log; fail "gunicorn exited while loading the app (log above: $errorlog)";;
    *) show_log; kill -TERM "$pid" 2>/dev/null || true; fail "gunicorn workers did not load the app within ${{START_TIMEOUT}}s";;
  esac
  echo "{FACTS_MARK}pid=$pid"
}}
"""


def start(ctx: ServerContext) -> str:
    """Start gunicorn unless its pidfile names a live master (a stale pidfile is replaced)."""
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
    """Replace the running master with one started from ``current`` (USR2, ready, TERM old).

    With ``start_if_stopped`` a stopped server is simply started; otherwise that is an error.
    """
    when_stopped = ('start_master; echo "' + FACTS_MARK + 'action=started"; exit 0'
                    if start_if_stopped else 'fail "gunicorn is not running (use start)"')
    return script(f"START_TIMEOUT={int(ctx.timeout)}", _functions(ctx.layout), f"""
old=$(pid_in "$pidfile")
if ! alive "$old"; then
  {when_stopped}
fi
clean_markers
rm -f "$pidfile.2"
kill -USR2 "$old"
end=$((SECONDS + START_TIMEOUT))
while [ ! -s "$pidfile.2" ]; do
  alive "$old" || fail "the running gunicorn (pid $old) exited during the upgrade"
  [ $SECONDS -lt $end ] || fail "gunicorn did not start a new master within ${{START_TIMEOUT}}s; pid $old still serves"
  sleep 0.1
done
new=$(pid_in "$pidfile.2")
case $(wait_ready "$new" $START_TIMEOUT; echo $?) in
  0) ;;
  1) show_log; fail "the new gunicorn master exited while loading the app; pid $old still serves the previous release";;
  *) show_log; kill -TERM "$new" 2>/dev/null || true
     fail "the new gunicorn workers did not get ready within ${{START_TIMEOUT}}s; pid $old still serves the previous release";;
esac
kill -TERM "$old"
wait_gone "$old" {int(ctx.graceful_timeout) + 10} || fail "the old gunicorn master (pid $old) did not stop"
# The new master renames its pidfile once it sees the old one gone, on its next loop (up to 1 s
# away); a SIGCHLD (harmless: it reaps no one) wakes that loop now.
end=$((SECONDS + 15))
while [ "$(pid_in "$pidfile")" != "$new" ] && [ $SECONDS -lt $end ]; do
  kill -CHLD "$new" 2>/dev/null || true
  sleep 0.05
done
[ "$(pid_in "$pidfile")" = "$new" ] || fail "the new gunicorn master (pid $new) did not take over the pidfile"
clean_markers
echo "{FACTS_MARK}old_pid=$old"
echo "{FACTS_MARK}pid=$new"
echo "{FACTS_MARK}action=upgraded"
""")


def stop(ctx: ServerContext) -> str:
    """Stop gunicorn gracefully (TERM) through its pidfile; KILL only past the timeout."""
    graceful_timeout = ctx.graceful_timeout
    return script("START_TIMEOUT=0", _functions(ctx.layout), f"""
pid=$(pid_in "$pidfile")
if ! alive "$pid"; then
  rm -f "$pidfile"
  echo "{FACTS_MARK}action=not running"
  exit 0
fi
kill -TERM "$pid"
if wait_gone "$pid" {int(graceful_timeout) + 5}; then
  echo "{FACTS_MARK}action=stopped"
else
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 5 || fail "gunicorn (pid $pid) would not stop"
  echo "{FACTS_MARK}action=killed after {int(graceful_timeout) + 5}s"
fi
rm -f "$pidfile"
clean_markers
echo "{FACTS_MARK}pid=$pid"
""")


def status(ctx: ServerContext) -> str:
    """Report the master pid (if alive) and the live release as facts."""
    layout = ctx.layout
    return script("START_TIMEOUT=0", _functions(layout), f"""
pid=$(pid_in "$pidfile")
if alive "$pid"; then echo "{FACTS_MARK}pid=$pid"; else echo "{FACTS_MARK}pid="; fi
[ -z "$pid" ] || alive "$pid" || echo "{FACTS_MARK}stale_pid=$pid"
echo "{FACTS_MARK}current=$(readlink {q(layout.current)} 2>/dev/null | sed 's#.*/##' || true)"
""")


def check(ctx: ServerContext, release_id: str) -> str:
    """Load the app with ``gunicorn --check-config`` inside the new release.

    ``WSGIDEPLOY_CHECK_RELEASE`` makes the config's ``chdir`` the new release
    (``current`` still names the live one, or nothing on a first deploy). ``FLASK_RUN_FROM_CLI=true`` turns a
    stray ``app.run()`` into a no-op, and ``timeout`` bounds an import that hangs.
    """
    layout, timeout = ctx.layout, ctx.timeout
    release = layout.release(release_id)
    conf = f"{release}/{layout.config_dir_name}/gunicorn.conf.py"
    return script(f"""
cd {q(release)}
set +e
out=$(WSGIDEPLOY_CHECK_RELEASE={q(release)} FLASK_RUN_FROM_CLI=true timeout {int(timeout)} \\
      {q(release + '/venv/bin/python')} {q(release + '/venv/bin/gunicorn')} --check-config -c {q(conf)} 2>&1)
code=$?
set -e
if [ $code -eq 124 ]; then
  echo "$out" | tail -n 30 >&2
  fail "importing the app took longer than {int(timeout)}s (does it block at import time?)"
elif [ $code -ne 0 ]; then
  echo "$out" | tail -n 40 >&2
  fail "the app does not load in release {release_id} (traceback above)"
fi
""")
