"""A controller killed (SIGKILL) during the go-live, on a booted Debian 12 server behind nginx, gunicorn under
systemd (issue 15, item 5). The deploy's go-live is one script (switch, reload, health); the controller is killed
as each step's line appears, and the host's script dies with its connection wherever it then is. The lock stays
held by the dead run, and the go-live journal (``.deploy/switching``) says what was under way.

The next commands: ``status`` names the interrupted go-live; ``unlock`` removes the lock and repairs it,
finishing the go-live or going back, and says which. After it, exactly one instance of the app server runs,
the release it serves is the one ``current`` names, and it answers through nginx. (Before: ``current`` could
name a release that no app server ran.)
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import booted, server_lab  # noqa: F401  (fixtures)
from tests.servers.lab import ServerLab

from .booted_deploy import info, inventory
from .fabcli import EXAMPLE, PROJECT, fab
from .helpers import copy_app

PORT = 8097


@pytest.fixture(scope="module")
def web(server_lab: ServerLab) -> DeployTarget:  # noqa: F811
    return booted(server_lab, ["golive"], front="nginx")[0]


def killed_at(inventories: Path, alias: str, step: str) -> str:
    """Run ``fab -H alias deploy`` and SIGKILL it when the line of ``step`` appears; what it printed."""
    env = {**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventories)}
    env.pop("FABRIC_DEPLOY_STAGE", None)
    process = subprocess.Popen(["fab", "-H", alias, "deploy"], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if re.match(rf"\[{re.escape(alias)}\] {step} +ok", line):
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait(timeout=30)
    return "".join(seen)


def active_instances(host: DeployTarget, app: str) -> list[str]:
    out = host.run(f"systemctl list-units --plain --no-legend --state=active 'wsgideploy-{app}@*'")
    return [line.split()[0] for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("step", ["switch", "reload", "health"])
def test_a_controller_killed_during_the_go_live_leaves_a_host_that_unlock_repairs(web, write_inventory, tmp_path,
                                                                                  step):
    app = f"golive{['switch', 'reload', 'health'].index(step)}"
    host = web.with_app(app)
    port = PORT + ["switch", "reload", "health"].index(step)
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    fab(inventory(write_inventory, host, v1, stage=app, listen=port), "-H", host.alias, "deploy")
    first = info(host, port)

    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")
    inventories = inventory(write_inventory, host, v2, stage=app, listen=port)
    said = killed_at(inventories, host.alias, step)
    assert f"] {step} " in said, said
    time.sleep(3)  # the host's script ends with its connection, wherever it is
    journal = host.exists(".deploy/switching")

    status = fab(inventories, "-H", host.alias, "status", expect=None)
    if journal:
        assert "go-live      interrupted" in status.stdout, status.stdout
    unlocked = fab(inventories, "-H", host.alias, "unlock")
    print(said, status.stdout, unlocked.stdout, sep="\n---\n")
    if journal:
        assert "a go-live was interrupted" in unlocked.stdout and "repaired:" in unlocked.stdout, unlocked.stdout
    assert not host.exists(".deploy/switching") and not host.exists(".deploy/lock")

    served = info(host, port)
    live = Path(host.resolve("current")).name
    assert served["release"] == live, (served, live)
    assert (served["version"], live == first["release"]) in (("1.0.0", True), ("2.0.0", False)), (served, first)
    assert len(active_instances(host, app)) == 1, active_instances(host, app)
    # and the next deploy goes through as usual
    v3 = copy_app(EXAMPLE, tmp_path / "v3", version="3.0.0")
    fab(inventory(write_inventory, host, v3, stage=app, listen=port), "-H", host.alias, "deploy")
    assert info(host, port)["version"] == "3.0.0" and len(active_instances(host, app)) == 1


def test_a_deploy_with_force_unlock_repairs_first_then_deploys(web, write_inventory, tmp_path):
    app, port = "golive9", PORT + 9
    host = web.with_app(app)
    fab(inventory(write_inventory, host, copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0"), stage=app, listen=port),
        "-H", host.alias, "deploy")
    inventories = inventory(write_inventory, host, copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0"), stage=app,
                            listen=port)
    killed_at(inventories, host.alias, "switch")
    time.sleep(3)
    assert host.exists(".deploy/switching"), "killed right after the switch, the journal stays"
    refused = fab(inventories, "-H", host.alias, "deploy", expect=3)  # the dead run's lock
    assert "unlock" in refused.stdout + refused.stderr
    done = fab(inventories, "-H", host.alias, "deploy", "--force-unlock").stdout
    assert "a go-live was interrupted" in done and "repaired:" in done, done
    assert info(host, port)["version"] == "2.0.0" and len(active_instances(host, app)) == 1
    assert not host.exists(".deploy/switching")
