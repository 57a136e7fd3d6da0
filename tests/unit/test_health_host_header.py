"""The Host header of the health check (``steps.check_health``), with a recording connection.

No SSH: the connection only records the script it is given and answers as a
healthy host would, so the probe's settings can be read back from the script.
"""
from __future__ import annotations

import io
import json
import shlex
from pathlib import Path


from wsgideploy.commands.shell import PRELUDE
from wsgideploy.inventory import App, Host, Nginx, Ssh, Stage
from wsgideploy.output import Reporter
from wsgideploy.hostrun import HostRun
from wsgideploy.steps import check_health
from wsgideploy.transport import RemoteResult


class RecordingConnection:
    def __init__(self) -> None:
        self.scripts: list[str] = []

    def run_script(self, script: str, stdin: bytes | None = None, timeout: float | None = None,
                   on_line: object = None) -> RemoteResult:
        self.scripts.append(script)
        return RemoteResult(0, "wsgideploy-fact:status=200\nwsgideploy-fact:body=ok\n", "")


def probe_settings(server_name: str) -> dict:
    app = App(name="hello", source=Path("/nonexistent"), wsgi="app:app", root="/srv/hello",
              server_name=server_name, listen=8080)
    host = Host(alias="web1", stage="production", hostname="web1.example.com")
    stage = Stage(name="production", path=Path("production.toml"), app=app, nginx=Nginx(), ssh=Ssh(),
                  vars={}, hosts=(host,))
    conn = RecordingConnection()
    body = check_health(HostRun(stage=stage, host=host, conn=conn, out=Reporter(stream=io.StringIO())))
    assert body == "ok"
    [script] = conn.scripts
    return json.loads(shlex.split(script[len(PRELUDE):])[3])


def test_health_check_sends_localhost_for_the_catch_all_server_name() -> None:
    assert probe_settings("_")["host"] == "localhost"


def test_health_check_sends_the_server_name_as_host() -> None:
    assert probe_settings("hello.example.com") == {"address": "127.0.0.1", "port": 8080, "path": "/", "host": "hello.example.com",
                                                   "status": 200, "timeout": 30.0}


def test_health_check_sends_one_name_when_server_name_lists_several() -> None:
    assert probe_settings("hello.example.com www.hello.example.com")["host"] == "hello.example.com"
