"""Run the real ``fab`` CLI against a test inventory directory, and read the example app."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .helpers import TestHost, http_get

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT / "examples" / "hello"
APPS = PROJECT / "tests" / "apps"


def fab(inventories: Path, *args: str, expect: int | None = 0, env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``fab <args>`` with ``WSGIDEPLOY_INVENTORIES=<inventories>``; fail unless it exits ``expect``."""
    environ = {**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventories), **(env or {})}
    if "FABRIC_DEPLOY_STAGE" not in (env or {}):
        environ.pop("FABRIC_DEPLOY_STAGE", None)
    result = subprocess.run(["fab", *args], cwd=PROJECT, env=environ, capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    if expect is not None and result.returncode != expect:
        pytest.fail(f"fab {' '.join(args)} exited {result.returncode}, expected {expect}\n"
                    f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    return result


def app_info(port: int) -> dict[str, Any]:
    """The example app's ``/info``: version, venv (``prefix``) and release it was loaded from."""
    status, body = http_get(port, "/info")
    assert status == 200, body
    return json.loads(body)


def hello_app_table(host: TestHost, source: Path, **overrides: Any) -> dict[str, Any]:
    """An ``[app]`` table deploying ``source`` (the example app) to ``host``."""
    return {"name": "hello", "source": str(source), "wsgi": "app:app", "root": host.app_root,
            "server_name": "localhost", "listen": host.http_port, "listen_address": "127.0.0.1",
            **overrides}
