"""What the integration modules that deploy to booted Debian 12 servers (tests/servers) share.

A module boots its servers once (module scope); each test then deploys its own app to them: its own
``name``, its own app root ``/srv/<name>`` (made by root, owned by ``deploy``: `DeployTarget.with_app`) and its own
``listen`` port, so tests do not see each other's releases, sites or logs.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.servers.deploy_target import DeployTarget

from .stock import get


def inventory(write_inventory: Callable[..., Path], target: DeployTarget, source: Path, stage: str = "test",
              vars: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
              host: dict[str, Any] | None = None, **app: Any) -> Path:
    """Write ``<stage>.toml`` deploying ``source`` to ``target`` behind Debian's nginx; the directory."""
    return write_inventory(stage, app=target.app_table(source, **app),
                           hosts={target.alias: {**target.host_table(), **(host or {})}},
                           nginx=target.front_table(), vars=vars, extra=extra)


def info(target: DeployTarget, port: int) -> dict[str, Any]:
    """The example app's ``/info`` on ``target``: version, venv (``prefix``) and release."""
    status, body = get(target.address, port, "/info")
    assert status == 200, f"{status}: {body[:300]}"
    return json.loads(body)


def controller_address(target: DeployTarget) -> str:
    """This machine's address as the server sees it (the source of its ssh connection)."""
    return target.run('echo "${SSH_CLIENT%% *}"').strip()
