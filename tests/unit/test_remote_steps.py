"""``HostRun.remote_steps``: several steps in one script, each with its own timed line.

The script really runs, in a local bash: only the SSH hop is left out.
"""
from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from wsgideploy.commands.shell import script
from wsgideploy.errors import StepFailed
from wsgideploy.inventory import App, Host, Nginx, Ssh, Stage
from wsgideploy.output import Reporter
from wsgideploy.hostrun import HostRun, Step
from wsgideploy.transport import RemoteResult


class LocalConnection:
    """Runs a script with the local bash; streams its stdout lines like the SSH transport does."""

    def __init__(self) -> None:
        self.round_trips = 0

    def run_script(self, body: str, stdin: bytes | None = None, timeout: float | None = None,
                   on_line: Callable[[str], None] | None = None) -> RemoteResult:
        self.round_trips += 1
        done = subprocess.run(["bash", "-c", body], input=stdin or b"", capture_output=True, timeout=30)
        out = done.stdout.decode()
        for line in out.splitlines():
            if on_line:
                on_line(line)
        return RemoteResult(done.returncode, out, done.stderr.decode())


def host_run() -> tuple[HostRun, io.StringIO]:
    app = App(name="hello", source=Path("/nonexistent"), wsgi="app:app", root="/srv/hello")
    host = Host(alias="web1", stage="production", hostname="web1.example.com")
    stage = Stage(name="production", path=Path("production.toml"), app=app, nginx=Nginx(), ssh=Ssh(),
                  vars={}, hosts=(host,))
    stream = io.StringIO()
    return HostRun(stage=stage, host=host, conn=LocalConnection(), out=Reporter(stream=stream)), stream  # type: ignore[arg-type]


def step_lines(stream: io.StringIO) -> list[str]:
    return [line.split()[1] + " " + line.split()[2] for line in stream.getvalue().splitlines()
            if len(line.split()) > 2 and line.split()[2] in ("ok", "FAILED")]


def test_steps_run_in_one_round_trip_each_with_its_line_and_facts() -> None:
    run, stream = host_run()
    facts = run.remote_steps([
        Step("one", script('echo "wsgideploy-fact:n=1"'), describe=lambda f: f"n is {f['n']}"),
        Step("two", script('cat > /dev/null; echo "wsgideploy-fact:n=2"; exit 0; echo never'),
             describe=lambda f: f"n is {f['n']}"),
        Step("three", script('echo "wsgideploy-fact:m=3"')),
    ], stdin=b"data")
    assert run.conn.round_trips == 1
    assert facts == [{"n": "1"}, {"n": "2"}, {"m": "3"}], "an exit 0 ends only its own step"
    assert step_lines(stream) == ["one ok", "two ok", "three ok"]
    assert "n is 1" in stream.getvalue() and "n is 2" in stream.getvalue()
    assert [r.name for r in run.out.records] == ["one", "two", "three"]


def test_the_session_line_comes_once_per_script_not_once_per_step() -> None:
    """Issue 16: every step's body starts with the prelude, which printed the session id again (the same one):
    a line, and mostly an SSH packet that the controller reads, for each step of each host."""
    from wsgideploy.hostrun import combined_script
    from wsgideploy.protocol import SESSION_MARK
    steps = [Step("one", script("true")), Step("soft", script("true"), soft=True), Step("three", script("true"))]
    done = subprocess.run(["bash", "-c", combined_script(steps)], capture_output=True, text=True, timeout=30)
    lines = done.stdout.splitlines()
    assert [line for line in lines if line.startswith(SESSION_MARK)] == lines[:1], lines
    assert lines[0] == f"{SESSION_MARK}{os.getsid(0)}"


def test_a_failing_step_stops_the_script_and_is_named() -> None:
    run, stream = host_run()
    with pytest.raises(StepFailed) as caught:
        run.remote_steps([Step("one", script("true")),
                          Step("two", script('fail "two broke"')),
                          Step("three", script("touch /tmp/wsgideploy-test-must-not-exist"))])
    assert (caught.value.step, caught.value.message) == ("two", "two broke")
    assert step_lines(stream) == ["one ok", "two FAILED"]
    assert not Path("/tmp/wsgideploy-test-must-not-exist").exists()


def test_a_command_failing_under_set_e_fails_its_step() -> None:
    run, _ = host_run()
    with pytest.raises(StepFailed) as caught:
        run.remote_steps([Step("one", script("false; echo not reached")), Step("two", script("true"))])
    assert caught.value.step == "one"


def test_a_soft_step_failure_is_a_warning_and_the_script_goes_on() -> None:
    run, stream = host_run()
    facts = run.remote_steps([
        Step("go", script('echo "wsgideploy-fact:a=1"')),
        Step("prune", script('echo "wsgideploy-fact:half=done"', "false", "echo not reached >&2"), soft=True),
        Step("after", script('echo "wsgideploy-fact:b=2"')),
    ])
    assert facts[0] == {"a": "1"} and facts[2] == {"b": "2"}
    assert step_lines(stream) == ["go ok", "prune FAILED", "after ok"]
    assert "warning: prune failed, and the run goes on" in stream.getvalue()
    assert "not reached" not in stream.getvalue(), "set -e holds inside a soft step"


def test_a_soft_step_says_why_it_failed() -> None:
    run, stream = host_run()
    run.remote_steps([Step("prune", script('fail "disk is read-only"'), soft=True)])
    assert "warning: prune failed, and the run goes on: disk is read-only" in stream.getvalue()


def test_a_connection_lost_before_any_marker_fails_the_first_step_with_its_line() -> None:
    from wsgideploy.transport import ConnectError

    class DroppedConnection:
        round_trips = 0

        def run_script(self, *args: object, **kwargs: object) -> RemoteResult:
            raise ConnectError("web1: the SSH connection failed: EOFError")

    run, stream = host_run()
    run.conn = DroppedConnection()  # type: ignore[assignment]
    with pytest.raises(StepFailed) as caught:
        run.remote_steps([Step("upload", script("true")), Step("venv", script("true"))], stdin=b"x")
    assert caught.value.step == "upload" and caught.value.code == 4
    assert step_lines(stream) == ["upload FAILED"]


@pytest.mark.parametrize("days, warned", [("13", True), ("14", False), ("-2", True), (None, False)])
def test_a_deploy_warns_when_the_certificate_served_expires_within_14_days(days: str | None, warned: bool) -> None:
    from wsgideploy.steps import warn_if_expiring
    run, stream = host_run()
    facts = [{"status": "200"}] + ([{"tls_days_left": days}] if days is not None else [])
    warn_if_expiring(run, facts)
    text = stream.getvalue()
    assert ("WARNING: the certificate served expires in" in text) == warned, text
    if warned:
        assert f"expires in {days} days: replace [app.tls] certificate and key, then deploy" in text
