"""What the modules that deploy to booted Debian 12 servers (tests/servers) share: an app of its own per
test on a server booted once per module, and ways to look at the server's processes and files.

A module boots its servers once (`booted` in a module-scoped fixture, in parallel); each test then
deploys its own app: its own ``name``, app root ``/srv/<name>`` (made by root, owned by ``deploy``) and
``listen`` port, so tests never see each other's releases, locks, sites or processes. `DeployTarget.with_app` returns
the `DeployTarget` with that app root: its ``read``/``exists``/``live_release``/``listdir`` then look at
the app's files, and its ``app_table`` deploys to them. `stop_apps` stops what a test started.

Processes are the server's own: pids printed by wsgideploy or in its pidfiles are pids on the server,
which the controller cannot see; `DeployTarget.pid_alive` and `running` ask the server.
"""
from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

from tests.servers.deploy_target import DeployTarget

from .fabcli import fab
from .stock import get




def app_info(target: DeployTarget, port: int) -> dict[str, Any]:
    """The example app's ``/info`` on ``target``'s ``port``: version, venv (``prefix``) and release."""
    status, body = get(target.address, port, "/info")
    assert status == 200, f"{target.alias}:{port}/info: {status} {body[:300]}"
    return json.loads(body)




def running(target: DeployTarget, command_line: str) -> list[int]:
    """Pids of the server's processes whose whole command line is ``command_line`` (``pgrep -fx``)."""
    out = target.run(f"pgrep -fx {shlex.quote(command_line)} || true")
    return [int(pid) for pid in out.split()]


def wait_running(target: DeployTarget, command_line: str, timeout: float = 90) -> list[int]:
    """`running`, polled until it finds a process or ``timeout`` passes (then an empty list)."""
    deadline = time.monotonic() + timeout
    while True:
        found = running(target, command_line)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def releases(target: DeployTarget) -> list[str]:
    """The release ids under the app root's ``releases/`` (hidden partial uploads left out), sorted."""
    if not target.exists("releases"):
        return []
    return [name for name in target.listdir("releases") if not name.startswith(".")]


def deploy_log(target: DeployTarget) -> list[dict[str, Any]]:
    """The app's ``.deploy/log.jsonl``, one dict per line."""
    return [json.loads(line) for line in target.read(".deploy/log.jsonl").splitlines()]


def stop_apps(inventories: Path, *args: str) -> None:
    """``fab <args> stop``: stop the app servers a test started (best effort, at teardown)."""
    fab(inventories, *args, "stop", expect=None, timeout=120)
