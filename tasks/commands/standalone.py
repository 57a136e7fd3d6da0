"""Standalone WSGI containers (gevent, tornado, twisted) behind nginx: a generated runner.

Each container has no master process of its own, so wsgideploy renders a small runner per
release (``templates/standalone/<server>.py.j2`` into ``releases/<id>/.wsgideploy/<server>_runner.py``)
and controls it through its pidfile ``shared/run/<server>.pid``:

- ``start``: ``setsid <release>/venv/bin/python <release>/.wsgideploy/<server>_runner.py``, where
  ``<release>`` is what ``current`` names at that moment (resolved, so that the process keeps
  serving that release's code and venv even after ``current`` moves). The runner imports the app,
  binds the socket ``shared/run/<server>.sock`` under a temporary name, renames it over the real
  name once it listens, and touches ``shared/run/<server>.ready.<pid>``.
- ``upgrade``: start a second runner from the new ``current`` (pidfile ``<server>.pid.2``). Its
  ``rename()`` swaps, atomically, which process new connections reach; once it is ready the
  pidfile names it and the old runner gets TERM: it serves what was already queued on its socket
  and in flight, then exits. If the new runner fails before it is ready, the old one never stopped.
- ``stop``: TERM (graceful), KILL only past ``graceful_timeout`` + 5 s.

See docs/modes/standalone.md.
"""
from __future__ import annotations

from ..layout import Layout
from ..modes import ServerContext
from ..protocol import FACTS_MARK
from .process import PROCESS_FUNCTIONS
from .shell import q, script

SERVERS = ("gevent", "tornado", "twisted")
# PyPI requirements put into the app's venv (the minimums for the APIs the runners use).
PACKAGES: dict[str, tuple[str, ...]] = {
    "gevent": ("gevent>=23.9",),
    "tornado": ("tornado>=6.3",),        # WSGIContainer(executor=...)
    "twisted": ("twisted>=22.10",),
}
UPSTREAM = "http-unix"  # nginx proxy_pass to the unix socket shared/run/<server>.sock (as gunicorn)


def runner_file(server: str) -> str:
    """The runner's file name in ``releases/<id>/.wsgideploy/``."""
    return f"{server}_runner.py"


def config_templates(server: str) -> dict[str, str]:
    return {runner_file(server): f"standalone/{server}.py.j2"}


def pidfile(layout: Layout, server: str) -> str:
    return f"{layout.run}/{server}.pid"


def socket_path(layout: Layout, server: str) -> str:
    """The unix socket nginx proxies to (``socket`` in the templates' context)."""
    return f"{layout.run}/{server}.sock"


def _functions(layout: Layout, server: str) -> str:
    runner = runner_file(server)
    return f"""
server={q(server)}
pidfile={q(pidfile(layout, server))}
run={q(layout.run)}
sock={q(socket_path(layout, server))}
errorlog={q(f"{layout.log}/{server}.error.log")}
{PROCESS_FUNCTIONS}
show_log() {{ [ -f "$errorlog" ] && tail -n 30 "$errorlog" >&2 || true; }}
# ready markers and temporary sockets of runners that are gone
clean_markers() {{
  local m p
  for m in "$run/$server".ready.* "$run"/[0-9]*.new; do
    [ -e "$m" ] || continue
    p=${{m#"$run/$server".ready.}}; p=${{p#"$run"/}}; p=${{p%.new}}
    alive "$p" || rm -f "$m"
  done
}}
# wait_ready PID SECONDS: 0 once PID listens on the socket, 1 if PID died, 2 on timeout
wait_ready() {{
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    [ -e "$run/$server.ready.$1" ] && return 0
    alive "$1" || return 1
    sleep 0.05
  done
  return 2
}}
# launch PIDFILE: start a runner of the live release; sets $launched_pid once it serves.
# On failure it says why and returns 1, with that runner stopped.
launch() {{
  local target=$1 release
  [ -e {q(layout.current)} ] || fail "no release is live yet: run deploy first"
  release=$(cd {q(layout.current)} && pwd -P)
  rm -f "$target"
  clean_markers
  (cd "$release" && exec setsid "$release/venv/bin/python" "$release/.wsgideploy/{runner}" --pidfile "$target" \\
    < /dev/null >> {q(f"{layout.log}/{server}.stdout.log")} 2>&1) &
  local launched=$! end=$((SECONDS + START_TIMEOUT)) pid
  while [ ! -s "$target" ]; do
    if ! alive $launched && [ ! -s "$target" ]; then
      show_log; echo "$server exited at start (log above: $errorlog)" >&2; return 1
    fi
    if [ $SECONDS -ge $end ]; then
      stop_pid $launched > /dev/null
      show_log; echo "$server wrote no pidfile within ${{START_TIMEOUT}}s" >&2; return 1
    fi
    sleep 0.05
  done
  pid=$(pid_in "$target")
  case $(wait_ready "$pid" $START_TIMEOUT; echo $?) in
    0) launched_pid=$pid; return 0;;
    1) show_log; echo "$server exited while loading the app (log above: $errorlog)" >&2;;
    *) stop_pid "$pid" > /dev/null; show_log
       echo "$server did not get ready within ${{START_TIMEOUT}}s" >&2;;
  esac
  rm -f "$target"
  return 1
}}
# stop_pid PID: TERM, then KILL past the graceful timeout; prints how it ended
stop_pid() {{
  kill -TERM "$1" 2>/dev/null || true
  if wait_gone "$1" $((GRACEFUL_TIMEOUT + 5)); then
    echo "stopped"
  else
    kill -KILL "$1" 2>/dev/null || true
    wait_gone "$1" 5 || fail "$server (pid $1) would not stop"
    echo "killed after $((GRACEFUL_TIMEOUT + 5))s"
  fi
}}
"""


def _prelude(ctx: ServerContext, server: str) -> str:
    return script(f"START_TIMEOUT={int(ctx.timeout)}\nGRACEFUL_TIMEOUT={int(ctx.graceful_timeout)}",
                  _functions(ctx.layout, server))


def start(ctx: ServerContext, server: str) -> str:
    """Start the runner unless its pidfile names a live one (a stale pidfile is replaced)."""
    return _prelude(ctx, server) + f"""
pid=$(pid_in "$pidfile")
if alive "$pid"; then
  echo "{FACTS_MARK}pid=$pid"
  echo "{FACTS_MARK}action=already running"
  exit 0
fi
[ -z "$pid" ] || echo "{FACTS_MARK}stale_pid=$pid"
launch "$pidfile" || fail "$server did not start"
echo "{FACTS_MARK}pid=$launched_pid"
echo "{FACTS_MARK}action=started"
"""


def upgrade(ctx: ServerContext, server: str, start_if_stopped: bool = True) -> str:
    """Start a runner of ``current`` beside the running one; once its socket is renamed over the
    live one and it is ready, TERM the old runner (which finishes what it had). Zero downtime.

    With ``start_if_stopped`` a stopped server is simply started; otherwise that is an error.
    """
    when_stopped = (f'launch "$pidfile" || fail "$server did not start"\n'
                    f'  echo "{FACTS_MARK}pid=$launched_pid"; echo "{FACTS_MARK}action=started"; exit 0'
                    if start_if_stopped else 'fail "$server is not running (use start)"')
    return _prelude(ctx, server) + f"""
old=$(pid_in "$pidfile")
if ! alive "$old"; then
  [ -z "$old" ] || echo "{FACTS_MARK}stale_pid=$old"
  {when_stopped}
fi
launch "$pidfile.2" || fail "the new $server runner did not take over; pid $old still serves the previous release"
new=$launched_pid
# The new runner serves every new connection now. Name it in the pidfile, then stop the old one.
echo "$old" > "$run/$server.old.pid"
mv -f "$pidfile.2" "$pidfile"
how=$(stop_pid "$old")
rm -f "$run/$server.old.pid"
clean_markers
echo "{FACTS_MARK}old_pid=$old"
echo "{FACTS_MARK}old_stop=$how"
echo "{FACTS_MARK}pid=$new"
echo "{FACTS_MARK}action=upgraded"
"""


def stop(ctx: ServerContext, server: str) -> str:
    """Stop the runner gracefully (TERM) through its pidfile; KILL only past the timeout.

    Runners named by a pidfile an interrupted upgrade left (``.pid.2``, ``.old.pid``) are stopped too.
    """
    return _prelude(ctx, server) + f"""
pid=$(pid_in "$pidfile")
for extra in "$pidfile.2" "$run/$server.old.pid"; do
  p=$(pid_in "$extra")
  if alive "$p" && [ "$p" != "$pid" ]; then stop_pid "$p" > /dev/null; fi
  rm -f "$extra"
done
if ! alive "$pid"; then
  rm -f "$pidfile"
  clean_markers
  [ -z "$pid" ] || echo "{FACTS_MARK}stale_pid=$pid"
  echo "{FACTS_MARK}action=not running"
  exit 0
fi
how=$(stop_pid "$pid")
rm -f "$pidfile"
clean_markers
echo "{FACTS_MARK}pid=$pid"
echo "{FACTS_MARK}action=$how"
"""


def status(ctx: ServerContext, server: str) -> str:
    """Report the runner's pid (if alive) and the live release as facts."""
    layout = ctx.layout
    return _prelude(ctx, server) + f"""
pid=$(pid_in "$pidfile")
if alive "$pid"; then echo "{FACTS_MARK}pid=$pid"; else echo "{FACTS_MARK}pid="; fi
[ -z "$pid" ] || alive "$pid" || echo "{FACTS_MARK}stale_pid=$pid"
echo "{FACTS_MARK}current=$(readlink {q(layout.current)} 2>/dev/null | sed 's#.*/##' || true)"
"""


def check(ctx: ServerContext, server: str, release_id: str) -> str:
    """Load the app and the server package with the new release's runner, in its own venv.

    ``FLASK_RUN_FROM_CLI=true`` turns a stray ``app.run()`` into a no-op, and ``timeout`` bounds
    an import that hangs. Nothing is bound and no pidfile is written.
    """
    layout, timeout = ctx.layout, int(ctx.timeout)
    release = layout.release(release_id)
    runner = f"{release}/{layout.config_dir_name}/{runner_file(server)}"
    return script(f"""
cd {q(release)}
set +e
out=$(FLASK_RUN_FROM_CLI=true timeout {timeout} {q(release + '/venv/bin/python')} {q(runner)} --check 2>&1 < /dev/null)
code=$?
set -e
if [ $code -eq 124 ]; then
  echo "$out" | tail -n 30 >&2
  fail "importing the app took longer than {timeout}s (does it block at import time?)"
elif [ $code -ne 0 ]; then
  echo "$out" | tail -n 40 >&2
  fail "the app does not load with {server} in release {release_id} (traceback above)"
fi
""")
