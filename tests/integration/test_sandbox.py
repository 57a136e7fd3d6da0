"""The quickstart's sandbox (`tests.sandbox`, the README's main job) on a booted Debian 12 server.

``up`` boots the server and writes the inventory, the server outlives ``up`` (its session is kept, and
another test session's reaping leaves it alone), ``wsgideploy -H sandbox deploy`` serves the example app
through Debian's nginx, ``status`` says it runs, and ``down`` leaves nothing: no nspawn, mount, bridge,
state or inventory. The state folder and the inventory are redirected into the test's tmp_path.
Under ``CI=true`` a machine that cannot boot servers fails here (never a skip).
"""
from __future__ import annotations

import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.sandbox import booted, cli, inventory_file
from tests.servers import unavailable_reason
from tests.servers.fixtures import unavailable
from tests.servers.lab import KEPT, reap_stale
from tests.servers.machine import mounts_under

from .fabcli import PROJECT


def test_up_deploy_status_down_on_a_booted_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    reason = unavailable_reason()
    if reason:
        unavailable(reason)
    inventories = tmp_path / "inventories"
    monkeypatch.setattr(inventory_file, "INVENTORY", inventories / "sandbox.toml")
    monkeypatch.setattr(cli, "SERVER_STATE_DIR", tmp_path / "state")
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "hello").symlink_to(PROJECT / "examples" / "hello")
    monkeypatch.delenv("SUDO_UID", raising=False)

    assert cli.main(["up"]) == 0, capsys.readouterr()
    state = booted.BootedState.load(tmp_path / "state" / "state.json")
    assert state is not None and state.running()
    folder = Path(state.folder)
    try:
        assert "The sandbox (a booted Debian 12 server) is up" in capsys.readouterr().out
        assert (folder / KEPT).exists()
        assert str(folder) not in reap_stale(), "another session's reaping must leave the kept sandbox alone"
        assert state.running()

        deploy = subprocess.run(["wsgideploy", "-H", "sandbox", "deploy", "--allow-dirty"], cwd=tmp_path,
                                env={**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventories)},
                                capture_output=True, text=True, timeout=600, check=False)
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(booted.url(state), timeout=10) as page:
            assert "Hello from wsgideploy!" in page.read().decode()

        assert cli.main(["status"]) == 0
        out = capsys.readouterr().out
        assert "running" in out and "systemd running, nginx active" in out, out
        assert cli.main(["url"]) == 0 and capsys.readouterr().out.strip() == booted.url(state)
    finally:
        assert cli.main(["down"]) == 0
    out = capsys.readouterr().out
    assert f"the server, its proxy and bridge ({folder})" in out, out
    assert not folder.exists() and not mounts_under(folder)
    assert not (tmp_path / "state").exists() and not (inventories / "sandbox.toml").exists()
    bridge = subprocess.run(["ip", "link", "show", "dev", folder.name], capture_output=True, check=False)
    assert bridge.returncode != 0, f"bridge {folder.name} is left"
