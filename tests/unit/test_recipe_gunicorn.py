"""gunicorn's control scripts (``tasks/recipes/gunicorn.sh`` through `commands.gunicorn`).

What can run here runs for real in bash, with a ``sleep`` standing in for the master: start leaves a
live master alone, status changes nothing, stop ends it with TERM, upgrade of a stopped server
starts it or refuses. The order of signals in an upgrade is read from the recipe itself.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wsgideploy.commands import gunicorn
from wsgideploy.commands.recipe import recipe
from wsgideploy.layout import Layout
from wsgideploy.modes import ServerContext, app_server
from wsgideploy.protocol import parse_facts

from tests.unit.recipe_text import function_body as recipe_function

RID = "20261121T101500Z"
ROOT = "/srv/hello"


def function_body(name: str, recipe_name: str = "gunicorn") -> str:
    """The text of one function of a recipe (gunicorn.sh unless named)."""
    return recipe_function(recipe_name, name)


def run(script: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    lay = Layout(str(tmp_path / "app"))
    Path(lay.run).mkdir(parents=True)
    Path(lay.log).mkdir(parents=True)
    return lay


@pytest.fixture
def master(layout: Layout) -> Iterator[subprocess.Popen[bytes]]:
    """A live process named in gunicorn's pidfile; stopped by pid after the test."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    Path(gunicorn.pidfile(layout)).write_text(f"{proc.pid}\n")
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(5)


def test_upgrade_sends_usr2_waits_for_the_new_workers_then_terms_the_old_master_and_never_hup() -> None:
    body = function_body("gunicorn_upgrade")
    usr2, ready = body.index('kill -USR2 "$old"'), body.index('case $(wait_ready "$new" "$START_TIMEOUT"; echo $?) in')
    assert usr2 < ready < body.index('kill -TERM "$old"')
    assert "HUP" not in recipe("gunicorn") and body.count("kill -USR2") == 1
    assert 'wait_gone "$old" $((GRACEFUL_TIMEOUT + 10)) ||' in body
    text = app_server("gunicorn").upgrade(ServerContext(Layout(ROOT), timeout=60, graceful_timeout=30))
    assert "\nSTART_TIMEOUT=60\n" in text and "\nGRACEFUL_TIMEOUT=30\n" in text


def test_upgrade_stops_only_the_new_master_when_it_does_not_get_ready() -> None:
    body = function_body("gunicorn_upgrade")
    failure_branch = body[body.index('    *) show_log; kill -TERM "$new"'):body.index('kill -TERM "$old"')]
    assert 'kill -TERM "$new"' in failure_branch
    assert "$old still serves the previous release" in failure_branch


@pytest.mark.parametrize("start_if_stopped, message", [
    (True, "no release is live yet: run deploy first"),  # it went on to start a master
    (False, "gunicorn is not running (use start)"),
])
def test_upgrade_of_a_stopped_server_starts_it_or_refuses(layout: Layout, start_if_stopped: bool,
                                                          message: str) -> None:
    result = run(app_server("gunicorn").upgrade(ServerContext(layout, timeout=5), start_if_stopped=start_if_stopped))
    assert result.returncode == 1 and result.stderr.strip() == message, result


def test_stop_sends_term_and_kills_only_past_the_timeout(layout: Layout,
                                                         master: subprocess.Popen[bytes]) -> None:
    body = function_body("gunicorn_stop")
    assert "QUIT" not in body and "pidfile_stop $((GRACEFUL_TIMEOUT + 5))" in body
    term = function_body("term_pid", "pidfile")  # what pidfile_stop sends: TERM, KILL past the time given
    assert term.index('kill -TERM "$1"') < term.index('if wait_gone "$1" "$2"; then') < term.index('kill -KILL "$1"')
    assert 'how=$(term_pid "$pid" "$1")' in function_body("pidfile_stop", "pidfile")
    result = run(app_server("gunicorn").stop(ServerContext(layout, graceful_timeout=30)))
    assert result.returncode == 0, result.stderr
    assert parse_facts(result.stdout) == {"action": "stopped", "pid": str(master.pid)}
    assert master.wait(5) == -signal.SIGTERM
    assert not Path(gunicorn.pidfile(layout)).exists()


def test_start_runs_from_current_with_the_live_config() -> None:
    assert ('setsid "$current/venv/bin/python" "$current/venv/bin/gunicorn" -c "$live_config/gunicorn.conf.py"'
            in function_body("start_master"))
    text = app_server("gunicorn").start(ServerContext(Layout(ROOT), timeout=60))
    assert f"\ncurrent={ROOT}/current\n" in text and f"\nlive_config={ROOT}/current/.wsgideploy\n" in text
    assert f"\npidfile={ROOT}/shared/run/gunicorn.pid\n" in text
    assert "/releases/" not in text


def test_start_leaves_a_live_master_alone(layout: Layout, master: subprocess.Popen[bytes]) -> None:
    result = run(app_server("gunicorn").start(ServerContext(layout, timeout=5)))
    assert result.returncode == 0, result.stderr
    assert parse_facts(result.stdout) == {"pid": str(master.pid), "action": "already running"}
    assert master.poll() is None


def test_status_reports_pid_and_current_and_changes_nothing(layout: Layout,
                                                           master: subprocess.Popen[bytes]) -> None:
    os.symlink(f"{layout.releases}/{RID}", layout.current)
    before = sorted(os.listdir(layout.run))
    result = run(app_server("gunicorn").status(ServerContext(layout)))
    assert result.returncode == 0, result.stderr
    assert parse_facts(result.stdout) == {"pid": str(master.pid), "current": RID}
    assert master.poll() is None and sorted(os.listdir(layout.run)) == before
    for action in ("kill", "start_master", "rm "):
        assert action not in function_body("pidfile_status", "pidfile")


def test_status_reports_a_stale_pidfile(layout: Layout) -> None:
    Path(gunicorn.pidfile(layout)).write_text("999999999\n")
    facts = parse_facts(run(app_server("gunicorn").status(ServerContext(layout))).stdout)
    assert facts == {"pid": "", "stale_pid": "999999999", "current": ""}


def test_the_process_functions_treat_a_zombie_as_gone() -> None:
    # Some init processes never reap orphans; a dead master must not look alive to kill -0.
    script = recipe("process") + """
sh -c 'sleep 0 & exec sleep 2' &
parent=$!
sleep 0.5
zombie=$(ps -o pid= --ppid $parent | tr -d ' ')
grep -q '^State:.*Z' /proc/$zombie/status || { echo NO-ZOMBIE; exit 0; }
alive $zombie && echo ZOMBIE-ALIVE || echo ZOMBIE-GONE
alive $parent && echo PARENT-ALIVE
"""
    out = run("set -u\n" + script).stdout
    assert "ZOMBIE-GONE" in out and "PARENT-ALIVE" in out, out
