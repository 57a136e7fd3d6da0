"""What a person sees at the end and during a run: the closing line, colour, live time, -v, the run log."""
from __future__ import annotations

import io
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from wsgideploy.cli.results import RunOutput, close_run
from wsgideploy.errors import ExitCode
from wsgideploy.fleet import Fleet
from wsgideploy.inventory import App, Host, Nginx, Ssh, Stage
from wsgideploy.output import Reporter
from wsgideploy.report import closing_line, fleet_closing_line
from wsgideploy.runlog import (KEEP_LOGS, log_file_name, open_run_log, prune_logs, run_reporter, task_name,
                               verbose_wanted)
from wsgideploy.hostrun import HostRun
from wsgideploy.terminal import ERASE_LINE, paint, running_status, strip_ansi, wants_color

GREEN_OK = "\x1b[32mok\x1b[0m"
RED_FAILED = "\x1b[31mFAILED\x1b[0m"


class FakeTerminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def fleet(*aliases: str, out: Reporter | None = None) -> Fleet:
    app = App(name="hello", source=Path("/nonexistent"), wsgi="app:app", root="/srv/hello")
    hosts = tuple(Host(alias=a, stage="production", hostname=f"{a}.example.com") for a in aliases)
    stage = Stage(name="production", path=Path("production.toml"), app=app, nginx=Nginx(), ssh=Ssh(),
                  vars={}, hosts=hosts)
    return Fleet([(stage, h) for h in hosts], out or Reporter(stream=io.StringIO()))


def ticker(reporter: Reporter) -> threading.Thread | None:
    """The reporter's ticker thread, if it has one running."""
    thread = reporter._ticker  # noqa: SLF001 (what the test checks: no thread left behind)
    return thread if thread is not None and thread.is_alive() else None


def wait_for(predicate: object, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


# --- the closing line ------------------------------------------------------------------

def test_a_one_host_run_that_went_well_says_ok_one_host_and_the_time() -> None:
    assert closing_line("deploy", ["web1"], [], 3.24) == ("deploy ok: 1 host in 3.2s", "ok")


def test_a_fleet_run_that_went_well_counts_its_hosts() -> None:
    assert closing_line("status", ["web1", "web2", "web3"], [], 0.81) == ("status ok: 3 hosts in 0.8s", "ok")


def test_a_failed_run_names_the_failed_hosts_of_how_many_and_points_at_the_log() -> None:
    line = closing_line("deploy", ["web1", "web2", "web3"], ["web2"], 4.06,
                        log_path=".wsgideploy/logs/20261204T071500Z-deploy.log")
    assert line == ("deploy FAILED on web2 (1 of 3 hosts) in 4.1s: see .wsgideploy/logs/20261204T071500Z-deploy.log",
                    "FAILED")
    assert closing_line("restart", ["web1"], ["web1"], 1.0)[0] == "restart FAILED on web1 (1 of 1 host) in 1.0s"


def test_an_interrupted_run_says_so_with_its_log() -> None:
    assert closing_line("deploy", ["web1", "web2"], ["web1"], 2.0, interrupted=True, log_path="x.log") == (
        "deploy INTERRUPTED: 2 hosts in 2.0s: see x.log", "INTERRUPTED")


def test_a_run_that_changed_nothing_is_ok_and_unchanged() -> None:
    f = fleet("web1", "web2")
    for slot in f.slots:
        slot.result = "noop"
    assert fleet_closing_line("deploy", f, 1.0, log_path="x.log") == ("deploy ok (unchanged): 2 hosts in 1.0s", "ok")


def test_a_fleet_closing_line_lists_failures_in_their_order_and_the_log_only_then() -> None:
    f = fleet("web1", "web2", "web3")
    assert fleet_closing_line("deploy", f, 2.0, log_path="x.log") == ("deploy ok: 3 hosts in 2.0s", "ok")
    f.slots[2].fail(ExitCode.FAILED, "pip failed")
    f.slots[0].fail(ExitCode.CONNECT, "unreachable", "unreachable")
    assert fleet_closing_line("deploy", f, 2.0, log_path="x.log")[0] == (
        "deploy FAILED on web1, web3 (2 of 3 hosts) in 2.0s: see x.log")


def test_a_run_stopped_by_an_error_of_no_host_reads_as_failed() -> None:
    assert fleet_closing_line("deploy", fleet("web1"), 0.5, errored=True) == ("deploy FAILED in 0.5s", "FAILED")


def test_close_run_prints_the_closing_line_once_as_the_last_line() -> None:
    out = io.StringIO()
    reporter = Reporter(stream=out, task="restart")
    f = fleet("web1", out=reporter)
    reporter.line("web1", "restart      ok       0.40s")
    close_run(reporter, f, seconds=0.43)
    close_run(reporter, f, seconds=9.0)
    assert out.getvalue().splitlines()[-1] == "restart ok: 1 host in 0.4s"
    assert out.getvalue().count("restart ok:") == 1 and reporter.closed


def test_a_one_host_deploy_ends_with_a_closing_line_and_no_table(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSGIDEPLOY_INVENTORIES", str(tmp_path / "inventories"))
    monkeypatch.delenv("WSGIDEPLOY_VERBOSE", raising=False)
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    results = RunOutput("deploy")
    f = fleet("web1", out=results.out)
    with results.finishing(f, "20261204T071500Z"):
        f.slots[0].result = "ok"
    [line] = out.getvalue().splitlines()
    assert line.startswith("deploy ok: 1 host in ") and line.endswith("s")
    log = results.out.log
    assert log is not None and log.path.parent == tmp_path / ".wsgideploy" / "logs"
    assert log.path.read_text() == line + "\n"


def test_a_fleet_deploy_prints_its_table_then_the_closing_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSGIDEPLOY_INVENTORIES", str(tmp_path / "inventories"))
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    results = RunOutput("deploy")
    f = fleet("web1", "web2", out=results.out)
    with results.finishing(f, "20261204T071500Z"):
        f.slots[1].fail(ExitCode.FAILED, "pip failed")
    lines = out.getvalue().splitlines()
    assert any(line.startswith("deploy 20261204T071500Z FAILED in ") for line in lines)
    assert lines[-2].startswith("web2") and "failed" in lines[-2]
    assert results.out.log is not None
    assert lines[-1].startswith("deploy FAILED on web2 (1 of 2 hosts) in ")
    assert lines[-1].endswith(f": see {results.out.log.path}")


def test_an_interrupted_deploy_still_ends_with_its_closing_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSGIDEPLOY_INVENTORIES", str(tmp_path / "inventories"))
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    results = RunOutput("rollback")
    f = fleet("web1", out=results.out)
    with pytest.raises(KeyboardInterrupt), results.finishing(f):
        raise KeyboardInterrupt
    assert out.getvalue().splitlines()[-1].startswith("rollback INTERRUPTED: 1 host in ")


def test_a_usage_error_leaves_no_closing_line_and_no_empty_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from invoke.exceptions import Exit
    monkeypatch.setenv("WSGIDEPLOY_INVENTORIES", str(tmp_path / "inventories"))
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    results = RunOutput("deploy")
    with pytest.raises(Exit), results.on_usage_error():
        raise Exit("wsgideploy: unknown host", code=ExitCode.USAGE)
    assert out.getvalue() == "" and not (tmp_path / ".wsgideploy").exists()


# --- colour ---------------------------------------------------------------------------

def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    assert wants_color(FakeTerminal(), {}) is True
    assert wants_color(io.StringIO(), {}) is False
    assert wants_color(FakeTerminal(), {"NO_COLOR": "1"}) is False
    assert wants_color(FakeTerminal(), {"NO_COLOR": ""}) is True  # only a non-empty value disables it
    assert wants_color(FakeTerminal(), {"TERM": "dumb"}) is False
    assert paint("ok", "32", False) == "ok" and paint("ok", "32", True) == GREEN_OK


def test_a_coloured_step_line_has_ok_green_failed_red_and_a_dim_host() -> None:
    out = FakeTerminal()
    reporter = Reporter(stream=out, color=True)
    with reporter.step("web1", "upload"):
        pass
    with pytest.raises(RuntimeError), reporter.step("web1", "venv"):
        raise RuntimeError("pip")
    reporter.line("web1", "warning: prune failed, and the run goes on")
    first, second, third = out.getvalue().splitlines()
    assert first.startswith("\x1b[2m[web1] \x1b[0mupload       " + GREEN_OK)
    assert RED_FAILED in second
    assert third.endswith("\x1b[33mwarning: prune failed, and the run goes on\x1b[0m")
    assert strip_ansi(first).startswith("[web1] upload       ok ")


def test_the_closing_line_colours_its_outcome_word() -> None:
    out = FakeTerminal()
    reporter = Reporter(stream=out, color=True)
    reporter.close("deploy FAILED on web2 (1 of 3 hosts) in 4.1s", "FAILED")
    assert out.getvalue() == f"deploy {RED_FAILED} on web2 (1 of 3 hosts) in 4.1s\n"


def test_a_run_reporter_colours_a_terminal_but_not_a_pipe_nor_with_no_color(tmp_path: Path) -> None:
    assert run_reporter("deploy", FakeTerminal(), environ={}, project=tmp_path).color is True
    assert run_reporter("deploy", io.StringIO(), environ={}, project=tmp_path).color is False
    assert run_reporter("deploy", FakeTerminal(), environ={"NO_COLOR": "1"}, project=tmp_path).color is False


def test_json_mode_writes_progress_to_stderr_coloured_only_if_stderr_is_a_terminal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSGIDEPLOY_INVENTORIES", str(tmp_path / "inventories"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr("sys.stdout", FakeTerminal())
    monkeypatch.setattr("sys.stderr", io.StringIO())
    piped = RunOutput("deploy", to_stdout=True)
    assert piped.out.stream is not None and piped.out.color is False
    monkeypatch.setattr("sys.stderr", FakeTerminal())
    assert RunOutput("deploy", to_stdout=True).out.color is True
    monkeypatch.setenv("NO_COLOR", "yes")
    assert RunOutput("deploy", to_stdout=True).out.color is False


def test_the_json_document_never_has_colour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSGIDEPLOY_INVENTORIES", str(tmp_path / "inventories"))
    stdout = FakeTerminal()
    monkeypatch.setattr("sys.stdout", stdout)
    monkeypatch.setattr("sys.stderr", FakeTerminal())
    results = RunOutput("deploy", to_stdout=True)
    f = fleet("web1", out=results.out)
    with results.finishing(f, "20261204T071500Z"):
        pass
    assert "\x1b[" not in stdout.getvalue() and '"result": "ok"' in stdout.getvalue()


# --- live time --------------------------------------------------------------------------

def test_on_a_terminal_a_running_step_shows_its_time_and_is_erased_before_the_next_line() -> None:
    out = FakeTerminal()
    reporter = Reporter(stream=out, live=True, tick=0.01, live_after=0.0)
    record = reporter.begin("web1", "venv")
    thread = ticker(reporter)
    assert thread is not None and thread.daemon
    assert wait_for(lambda: "… [web1] venv 0s" in out.getvalue())
    reporter.line("web2", "upload       ok       0.10s")
    text = out.getvalue()
    assert text.endswith(ERASE_LINE + "[web2] upload       ok       0.10s\n") or \
        ERASE_LINE + "[web2] upload       ok       0.10s\n" in text
    reporter.end(record, ok=True)
    reporter.close()
    assert not thread.is_alive() and ticker(reporter) is None
    # every line printed is whole: nothing but the status line before an erase
    for chunk in out.getvalue().split(ERASE_LINE):
        assert chunk == "" or chunk.startswith("… ") or chunk.endswith("\n"), chunk


def test_the_status_line_waits_a_second_lists_every_running_step_and_fits_the_width() -> None:
    assert running_status([("web1", "venv", 4.7), ("web2", "hooks", 12.0)]) == "… [web1] venv 4s · [web2] hooks 12s"
    assert len(running_status([("web1", "venv", 4.7)] * 20, width=40)) <= 39
    out = FakeTerminal()
    reporter = Reporter(stream=out, live=True, tick=0.01)  # the default live_after: about a second
    record = reporter.begin("web1", "venv")
    time.sleep(0.1)
    assert "…" not in out.getvalue(), "a quick step shows no status line"
    reporter.end(record, ok=True)
    reporter.close()


def test_without_a_terminal_a_long_step_says_it_is_still_running() -> None:
    out = io.StringIO()
    reporter = Reporter(stream=out, tick=0.01, still_every=0.05)
    record = reporter.begin("web1", "venv")
    thread = ticker(reporter)
    assert thread is not None
    assert wait_for(lambda: "[web1] venv         … still running (0s)" in out.getvalue())
    reporter.end(record, ok=True)
    reporter.close()
    assert ERASE_LINE not in out.getvalue() and "\x1b[" not in out.getvalue()
    assert not thread.is_alive()


def test_the_ticker_starts_with_a_step_and_ends_when_no_step_runs() -> None:
    reporter = Reporter(stream=io.StringIO(), tick=0.01)
    assert ticker(reporter) is None, "no thread before a step"
    with reporter.step("web1", "venv"):
        first = ticker(reporter)
        assert first is not None
    assert wait_for(lambda: not first.is_alive()), "no step runs: the ticker ends by itself"
    with reporter.step("web1", "check"):
        second = ticker(reporter)
        assert second is not None and second is not first
    reporter.close()
    assert not second.is_alive() and ticker(reporter) is None


# --- -v: the remote output ------------------------------------------------------------------

def test_verbose_shows_every_remote_line_under_its_host_but_not_the_markers() -> None:
    out = io.StringIO()
    reporter = Reporter(stream=out, verbose=True)
    reporter.remote_line("web1", "Collecting flask")
    reporter.remote_line("web1", "wsgideploy-step:1")
    reporter.remote_line("web1", "wsgideploy-fact:venv=built")
    assert out.getvalue() == "[web1]   | Collecting flask\n"


def test_without_verbose_the_remote_lines_go_to_the_log_only(tmp_path: Path) -> None:
    out = io.StringIO()
    log = open_run_log(tmp_path, "deploy")
    assert log is not None
    reporter = Reporter(stream=out, log=log)
    reporter.remote_line("web1", "Collecting flask")
    reporter.remote_line("web1", "wsgideploy-session:123")
    reporter.close()
    assert out.getvalue() == ""
    assert log.path.read_text() == "[web1]   | Collecting flask\n"


def test_verbose_comes_from_the_config_then_the_environment() -> None:
    assert verbose_wanted({"wsgideploy_verbose": True}, {}) is True
    assert verbose_wanted({}, {"WSGIDEPLOY_VERBOSE": "1"}) is True
    assert verbose_wanted({}, {"WSGIDEPLOY_VERBOSE": "0"}) is False
    assert verbose_wanted(None, {}) is False
    assert task_name({"wsgideploy_task": "status"}, "run") == "status"
    assert task_name({}, "run") == "run"


def test_a_host_run_hands_its_connection_output_to_the_reporter() -> None:
    class Conn:
        on_output = None
    out = io.StringIO()
    app = App(name="hello", source=Path("/nonexistent"), wsgi="app:app", root="/srv/hello")
    host = Host(alias="web1", stage="production", hostname="web1.example.com")
    stage = Stage(name="production", path=Path("production.toml"), app=app, nginx=Nginx(), ssh=Ssh(),
                  vars={}, hosts=(host,))
    conn = Conn()
    HostRun(stage=stage, host=host, conn=conn, out=Reporter(stream=out, verbose=True))  # type: ignore[arg-type]
    conn.on_output("Successfully installed flask")  # type: ignore[misc]
    assert out.getvalue() == "[web1]   | Successfully installed flask\n"


# --- the run log ----------------------------------------------------------------------------

def test_the_log_is_named_for_the_time_and_task_and_the_folder_ignores_itself(tmp_path: Path) -> None:
    when = datetime(2026, 12, 4, 7, 15, 0, tzinfo=timezone.utc)
    assert log_file_name("deploy", when) == "20261204T071500Z-deploy.log"
    assert log_file_name("inventory.check", when) == "20261204T071500Z-inventory-check.log"
    log = open_run_log(tmp_path, "deploy", when=when)
    assert not (tmp_path / ".wsgideploy").exists(), "nothing is made before the first line"
    log.write("release 20261204T071500Z: 1 host(s), 1 at a time")
    assert log.path == tmp_path / ".wsgideploy" / "logs" / "20261204T071500Z-deploy.log"
    assert (tmp_path / ".wsgideploy" / ".gitignore").read_text() == "*\n"
    second = open_run_log(tmp_path, "deploy", when=when)
    second.write("x")
    assert second.path.name == "20261204T071500Z-deploy-2.log"


def test_the_log_holds_every_printed_line_without_colour(tmp_path: Path) -> None:
    log = open_run_log(tmp_path, "deploy")
    assert log is not None
    reporter = Reporter(stream=FakeTerminal(), color=True, log=log)
    with reporter.step("web1", "upload") as record:
        record.detail = "3 files"
    reporter.line("", "summary")
    reporter.close("deploy ok: 1 host in 0.1s", "ok")
    text = log.path.read_text()
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[0].startswith("[web1] upload       ok ") and lines[0].endswith("  3 files")
    assert lines[1:] == ["summary", "deploy ok: 1 host in 0.1s"]


def test_only_the_newest_fifty_logs_are_kept(tmp_path: Path) -> None:
    directory = tmp_path / ".wsgideploy" / "logs"
    directory.mkdir(parents=True)
    for day in range(1, 56):
        (directory / f"202611{day // 31 + 1:02d}T{day % 24:02d}{day % 60:02d}00Z-deploy.log").write_text("x\n")
    names = sorted(p.name for p in directory.iterdir())
    log = open_run_log(tmp_path, "deploy", when=datetime(2026, 12, 4, 7, 15, tzinfo=timezone.utc))
    log.write("x")
    kept = sorted(p.name for p in directory.iterdir())
    assert len(kept) == KEEP_LOGS and kept[-1] == "20261204T071500Z-deploy.log"
    assert kept[:-1] == names[-(KEEP_LOGS - 1):]
    assert prune_logs(directory, keep=KEEP_LOGS) == []


def test_a_folder_that_cannot_be_written_means_no_log_not_a_failed_run(tmp_path: Path) -> None:
    (tmp_path / ".wsgideploy").write_text("not a folder")
    log = open_run_log(tmp_path, "deploy")
    reporter = Reporter(stream=io.StringIO(), log=log)
    reporter.line("web1", "connect      ok       0.10s")
    assert log.failed and log.shown_path() == ""
    f = fleet("web1", out=reporter)
    f.slots[0].fail(ExitCode.FAILED, "x")
    close_run(reporter, f, "deploy", seconds=1.0)
    assert reporter.stream.getvalue().splitlines()[-1] == "deploy FAILED on web1 (1 of 1 host) in 1.0s"


def test_the_executor_tells_each_task_its_name_for_the_log_and_closing_line() -> None:
    from invoke import Collection, Config, task
    from wsgideploy.executor import InventoryExecutor
    seen: list[str] = []

    @task
    def status(c):  # type: ignore[no-untyped-def]
        seen.append(task_name(c.config, "run"))

    @task
    def releases(c):  # type: ignore[no-untyped-def]
        seen.append(task_name(c.config, "run"))
    InventoryExecutor(Collection(status, releases), config=Config()).execute("status", "releases")
    assert seen == ["status", "releases"]
