"""``report``: the closing summary and the JSON document, from host outcomes and step records."""
from __future__ import annotations

import io
import json
from pathlib import Path

from wsgideploy.errors import ExitCode
from wsgideploy.fleet import Fleet
from wsgideploy.inventory import App, Host, Nginx, Ssh, Stage
from wsgideploy.output import Reporter, StepRecord
from wsgideploy.report import RunFacts, document, run_result, summary_lines

REL = "20261121T101500Z"


def fleet(*aliases: str) -> Fleet:
    app = App(name="hello", source=Path("/nonexistent"), wsgi="app:app", root="/srv/hello")
    hosts = tuple(Host(alias=a, stage="production", hostname=f"{a}.example.com") for a in aliases)
    stage = Stage(name="production", path=Path("production.toml"), app=app, nginx=Nginx(), ssh=Ssh(),
                  vars={}, hosts=hosts)
    return Fleet([(stage, h) for h in hosts], Reporter(stream=io.StringIO()))


def facts(code: ExitCode = ExitCode.OK) -> RunFacts:
    return RunFacts("deploy", REL, "2026-11-21T10:15:00Z", 3.5, code)


def test_every_host_noop_is_a_noop_run_and_any_change_is_ok() -> None:
    f = fleet("web1", "web2")
    for slot in f.slots:
        slot.result = "noop"
    assert run_result(f, ExitCode.OK) == "noop"
    f.slots[1].result = "ok"
    assert run_result(f, ExitCode.OK) == "ok"
    assert run_result(f, ExitCode.ROLLED_BACK) == "rolled_back"
    assert run_result(f, ExitCode.LOCKED) == "locked"


def test_the_document_holds_each_host_with_its_steps_health_and_error() -> None:
    f = fleet("web1", "web2")
    f.slots[0].result = "ok"
    f.slots[1].fail(ExitCode.CONNECT, "web2: connection refused", "unreachable")
    records = [StepRecord("web1", "connect", "ok", 0.1, "deploy@web1:22"),
               StepRecord("web1", "health", "failed", 3.0), StepRecord("web1", "health", "ok", 0.2, "HTTP 200 /"),
               StepRecord("web2", "connect", "failed", 0.5)]
    doc = json.loads(json.dumps(document(f, records, facts(ExitCode.CONNECT))))
    assert (doc["wsgideploy"], doc["action"], doc["release"], doc["result"], doc["exit_code"]) == (
        1, "deploy", REL, "unreachable", 4)
    web1, web2 = doc["hosts"]["web1"], doc["hosts"]["web2"]
    assert (web1["result"], web1["release"], web1["error"]) == ("ok", REL, None)
    assert [s["name"] for s in web1["steps"]] == ["connect", "health", "health"]
    assert web1["health"] == {"name": "health", "result": "ok", "seconds": 0.2, "detail": "HTTP 200 /"}
    assert web1["seconds"] == 3.3
    assert (web2["result"], web2["exit_code"], web2["release"], web2["round_trips"]) == ("unreachable", 4, None, 0)
    assert web2["error"] == "web2: connection refused" and web2["health"] is None


def test_the_summary_is_a_table_with_a_row_per_host() -> None:
    f = fleet("web1", "web10")
    f.slots[0].result = "ok"
    f.slots[1].result = "not_switched"
    records = [StepRecord("web1", "health", "ok", 0.25, "HTTP 200 /")]
    lines = summary_lines(f, records, facts())
    assert lines[1] == f"deploy {REL} OK in 3.50s (exit 0)"
    header, row1, row2 = lines[2:]
    assert header.split() == ["host", "result", "live", "release", "steps", "time", "health"]
    assert row1.split()[:3] == ["web1", "ok", REL] and row1.endswith("HTTP 200 /")
    assert row2.split()[:3] == ["web10", "not", "switched"]
    assert header.index("result") == row1.index("ok") == row2.index("not"), "columns line up"
