"""Run the app as a FastCGI process with flup, and control it through its pidfile.

flup has no daemon mode and no pidfile, so wsgideploy runs it itself (see docs/modes/fastcgi.md).
Each release gets a generated runner, ``.wsgideploy/app.fcgi``: it imports the app from the
release ``current`` names, binds a unix socket and serves FastCGI there. It is started as
``<root>/current/venv/bin/python <root>/current/.wsgideploy/app.fcgi --socket ... --pidfile ...``
in a session of its own (``setsid``), so the SSH session ending never stops it.

An upgrade never stops the old process first: the new runner binds a temporary socket
(``fastcgi.new.sock``), and once it has imported the app it is renamed over the live socket
path (``rename(2)`` is atomic: a front server connecting finds one or the other, never none).
Only then is the old runner sent TERM: it serves what it had already accepted or queued, and
exits. If the new runner fails to load, it is stopped and the old one keeps serving.
"""
from __future__ import annotations

from ..layout import Layout
from ..modes import ServerContext
from ..protocol import FACTS_MARK
from .process import PROCESS_FUNCTIONS
from .shell import fail, q, script

PACKAGES = ("flup>=1.0.3",)
RUNNER = "app.fcgi"
CONFIG_TEMPLATES = {RUNNER: "fastcgi/app.fcgi.j2"}
UPSTREAM = "fastcgi-unix"  # nginx fastcgi_pass / lighttpd mod_fastcgi to the unix socket in shared/run


def pidfile(layout: Layout) -> str:
    """``shared/run/fastcgi.pid``: the pid of the runner that serves."""
    return f"{layout.run}/fastcgi.pid"


def socket_path(layout: Layout) -> str:
    """``shared/run/fastcgi.sock``: the socket the front server connects to."""
    return f"{layout.run}/fastcgi.sock"


def log_file(layout: Layout) -> str:
    """``shared/log/fastcgi.log``: the runners' standard output and error."""
    return f"{layout.log}/fastcgi.log"


def _functions(layout: Layout, timeout: float, graceful_timeout: float) -> str:
    current = layout.current
    runner = f"{layout.live_config_dir}/{RUNNER}"
    return f"""
START_TIMEOUT={int(timeout)}
STOP_TIMEOUT={int(graceful_timeout) + 10}
pidfile={q(pidfile(layout))}
run={q(layout.run)}
sock={q(socket_path(layout))}
newsock={q(layout.run + '/fastcgi.new.sock')}
logfile={q(log_file(layout))}
{PROCESS_FUNCTIONS}
show_log() {{ [ -f "$logfile" ] && tail -n 30 "$logfile" >&2 || true; }}
clean_markers() {{
  for m in "$run"/fastcgi.ready.*; do
    [ -e "$m" ] || continue
    alive "${{m##*.}}" || rm -f "$m"
  done
}}
# stop_pid PID: TERM (the runner answers the requests it has), KILL past STOP_TIMEOUT; prints how
stop_pid() {{
  kill -TERM "$1" 2>/dev/null || true
  if wait_gone "$1" $STOP_TIMEOUT; then echo stopped; return; fi
  kill -KILL "$1" 2>/dev/null || true
  wait_gone "$1" 5 || fail "the FastCGI runner (pid $1) would not stop"
  echo "killed after ${{STOP_TIMEOUT}}s"
}}
# launch SOCKET: start a runner from current on SOCKET; sets $launched once it has loaded the app.
# Its pid goes to $pidfile.2 (the caller renames it). A runner that fails is stopped, its log shown.
launch() {{
  [ -e {q(current)} ] || fail "no release is live yet: run deploy first"
  [ -x {q(current + '/venv/bin/python')} ] || {fail(f"the live release has no venv/bin/python ({current}/venv)")}
  [ -f {q(runner)} ] || {fail(f'the live release has no FastCGI runner ({runner}): was it deployed with server = "fastcgi"?')}
  local leftover; leftover=$(pid_in "$pidfile.2")
  if alive "$leftover" && [ "$leftover" != "$(pid_in "$pidfile")" ]; then stop_pid "$leftover" >/dev/null; fi
  rm -f "$pidfile.2" "$1"
  clean_markers
  cd {q(current)}
  setsid {q(current + '/venv/bin/python')} {q(runner)} --socket "$1" --pidfile "$pidfile.2" \\
    < /dev/null >> "$logfile" 2>&1 &
  launched=$!
  local end=$((SECONDS + START_TIMEOUT))
  until [ -e "$run/fastcgi.ready.$launched" ] && [ "$(pid_in "$pidfile.2")" = "$launched" ]; do
    alive "$launched" || {{ show_log; rm -f "$pidfile.2"; fail "$2: the FastCGI runner exited while loading the app (log above: $logfile)"; }}
    if [ $SECONDS -ge $end ]; then
      show_log; stop_pid "$launched" >/dev/null; rm -f "$pidfile.2" "$1"
      fail "$2: the FastCGI runner did not load the app within ${{START_TIMEOUT}}s (log above: $logfile)"
    fi
    sleep 0.05
  done
}}
# go_live: the launched runner's socket becomes the live one (atomic rename), its pid the pidfile's.
go_live() {{
  mv -f "$newsock" "$sock"
  mv -f "$pidfile.2" "$pidfile"
}}
start_runner() {{
  launch "$newsock" "nothing was started"
  go_live
  echo "{FACTS_MARK}pid=$launched"
}}
"""


def _under_mod_fcgid(ctx: ServerContext) -> bool:
    """Behind Apache, mod_fcgid starts, reuses and stops the runners itself."""
    return ctx.app is not None and ctx.app.proxy == "apache"


def _managed_by_mod_fcgid(ctx: ServerContext) -> str:
    """Report that there is nothing to do: after a switch, mod_fcgid starts runners of the new
    release (the script's path resolves to a new file) and lets the old ones idle out."""
    return script(f"""
echo "{FACTS_MARK}action=managed by Apache's mod_fcgid (nothing to do)"
echo "{FACTS_MARK}current=$(readlink {q(ctx.layout.current)} 2>/dev/null | sed 's#.*/##' || true)"
""")


def start(ctx: ServerContext) -> str:
    """Start the runner unless the pidfile names a live one (a stale pidfile is replaced)."""
    if _under_mod_fcgid(ctx):
        return _managed_by_mod_fcgid(ctx)
    return script(_functions(ctx.layout, ctx.timeout, ctx.graceful_timeout), f"""
pid=$(pid_in "$pidfile")
if alive "$pid"; then
  echo "{FACTS_MARK}pid=$pid"
  echo "{FACTS_MARK}action=already running"
  exit 0
fi
[ -z "$pid" ] || echo "{FACTS_MARK}stale_pid=$pid"
start_runner
echo "{FACTS_MARK}action=started"
""")


def upgrade(ctx: ServerContext, start_if_stopped: bool = True) -> str:
    """Replace the running runner with one started from ``current``: new socket, rename, TERM the old.

    With ``start_if_stopped`` a stopped runner is simply started; otherwise that is an error.
    """
    if _under_mod_fcgid(ctx):
        return _managed_by_mod_fcgid(ctx)
    when_stopped = ('start_runner; echo "' + FACTS_MARK + 'action=started"; exit 0'
                    if start_if_stopped else 'fail "the FastCGI runner is not running (use start)"')
    return script(_functions(ctx.layout, ctx.timeout, ctx.graceful_timeout), f"""
old=$(pid_in "$pidfile")
if ! alive "$old"; then
  {when_stopped}
fi
launch "$newsock" "pid $old still serves the previous release"
go_live
how=$(stop_pid "$old")
clean_markers
echo "{FACTS_MARK}old_pid=$old"
[ "$how" = stopped ] || echo "{FACTS_MARK}old_runner=$how"
echo "{FACTS_MARK}pid=$launched"
echo "{FACTS_MARK}action=upgraded"
""")


def stop(ctx: ServerContext) -> str:
    """Stop the runner (TERM: it answers the requests it has, then exits; KILL only past the timeout)."""
    if _under_mod_fcgid(ctx):
        return _managed_by_mod_fcgid(ctx)
    return script(_functions(ctx.layout, ctx.timeout, ctx.graceful_timeout), f"""
pid=$(pid_in "$pidfile")
if ! alive "$pid"; then
  rm -f "$pidfile" "$sock"
  clean_markers
  echo "{FACTS_MARK}action=not running"
  exit 0
fi
how=$(stop_pid "$pid")
rm -f "$pidfile" "$sock"
clean_markers
echo "{FACTS_MARK}pid=$pid"
echo "{FACTS_MARK}action=$how"
""")


def status(ctx: ServerContext) -> str:
    """Report the runner's pid (if alive) and the live release as facts."""
    if _under_mod_fcgid(ctx):
        return _managed_by_mod_fcgid(ctx)
    layout = ctx.layout
    return script(_functions(layout, ctx.timeout, ctx.graceful_timeout), f"""
pid=$(pid_in "$pidfile")
if alive "$pid"; then echo "{FACTS_MARK}pid=$pid"; else echo "{FACTS_MARK}pid="; fi
[ -z "$pid" ] || alive "$pid" || echo "{FACTS_MARK}stale_pid=$pid"
echo "{FACTS_MARK}current=$(readlink {q(layout.current)} 2>/dev/null | sed 's#.*/##' || true)"
""")


def check(ctx: ServerContext, release_id: str) -> str:
    """Load the app with the new release's runner (``--check``), in its own venv, before the switch.

    The runner is made executable (a server that spawns FastCGI apps, like mod_fcgid, executes
    it). It checks its interpreter is the release's venv, that flup imports, and imports the app
    with ``FLASK_RUN_FROM_CLI=true`` (a stray ``app.run()`` is a no-op) under ``timeout``.
    """
    layout, timeout = ctx.layout, int(ctx.timeout)
    release = layout.release(release_id)
    runner = f"{release}/{layout.config_dir_name}/{RUNNER}"
    python = f"{release}/venv/bin/python"
    return script(f"""
[ -x {q(python)} ] || {fail(f"the release has no venv/bin/python ({python})")}
chmod 0755 {q(runner)}
cd {q(release)}
set +e
out=$(FLASK_RUN_FROM_CLI=true timeout {timeout} {q(python)} {q(runner)} --check --release {q(release)} 2>&1)
code=$?
set -e
if [ $code -eq 124 ]; then
  echo "$out" | tail -n 30 >&2
  fail "importing the app took longer than {timeout}s (does it block at import time?)"
elif [ $code -ne 0 ]; then
  echo "$out" | tail -n 40 >&2
  {fail(f"the app does not load in release {release_id} with its FastCGI runner (error above)")}
fi
""")
