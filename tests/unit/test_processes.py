"""``[processes]``: the table checked by the loader, the unit each process gets, the launcher that runs it,
and the root commands they add (docs/supervision.md)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wsgideploy.commands.app_server import ServerContext
from wsgideploy.commands.privileged import privileged_commands
from wsgideploy.commands.systemd import Supervised
from wsgideploy.inventory import InventoryError, parse_stage
from wsgideploy.layout import Layout
from wsgideploy.modes import app_server
from wsgideploy.render import TEMPLATES_DIR

APP = {"name": "shop", "wsgi": "app:app", "root": "/srv/shop", "source": "."}
INVENTORY = Path(__file__).with_name("production.toml")  # never read: the source "." is this folder
HOSTS = {"web1": {"hostname": "web1.example.org", "user": "deploy"}}


def stage(processes: Any) -> Any:
    return parse_stage(INVENTORY, {"app": APP, "hosts": HOSTS, "processes": processes})


def test_processes_are_names_and_one_line_commands() -> None:
    assert stage({"worker": "rq worker tasks", "beat_2": "celery -A app beat"}).processes == {
        "worker": "rq worker tasks", "beat_2": "celery -A app beat"}
    assert parse_stage(INVENTORY, {"app": APP, "hosts": HOSTS}).processes == {}


@pytest.mark.parametrize("processes, key, problem", [
    ({"rq-worker": "rq worker"}, "processes.rq-worker", "lowercase letters, digits and '_'"),
    ({"Worker": "rq worker"}, "processes.Worker", "lowercase letters"),
    ({"worker": ""}, "processes.worker", "a command on one line"),
    ({"worker": "rq worker\nrm -rf /"}, "processes.worker", "a command on one line"),
    ({"worker": 3}, "processes.worker", "a command on one line"),
])
def test_a_bad_process_names_its_key(processes: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(InventoryError) as caught:
        stage(processes)
    assert key in str(caught.value) and problem in str(caught.value)


def supervised(processes: dict[str, str]) -> tuple[Supervised, ServerContext]:
    st = stage(processes)
    ctx = ServerContext(layout=Layout("/srv/shop"), app=st.app, graceful_timeout=20, processes=st.processes)
    return Supervised(app_server("gunicorn"), "auto"), ctx  # type: ignore[arg-type]


def test_each_process_gets_a_unit_that_runs_the_launcher_of_the_live_release() -> None:
    server, ctx = supervised({"worker": "rq worker tasks"})
    unit = server.process_unit_text(ctx, "worker")
    assert 'ExecStart="/srv/shop/current/venv/bin/python" "/srv/shop/current/.wsgideploy/wsgideploy_process.py" worker' in unit
    assert "\nUser=shop\nUMask=0002\n" in unit and "Restart=on-failure" in unit and "TimeoutStopSec=30" in unit
    assert "rq worker" not in unit, "the command stays in the release (processes.json), not in a root-owned file"
    values = server.values(ctx)
    assert values["processes"] == "worker" and values["process_unit_worker"] == unit


def test_the_units_commands_are_declared_for_sudo() -> None:
    st = stage({"worker": "rq worker tasks"})
    lines = [" ".join(c.argv) for c in privileged_commands(st, st.hosts[0])]
    assert "/usr/bin/systemctl restart wsgideploy-shop-worker.service" in lines
    assert "/usr/bin/install -o root -g root -m 0644 /dev/stdin /etc/systemd/system/wsgideploy-shop-worker.service" in lines


def test_the_launcher_runs_the_command_in_the_release_with_its_venv_and_env(tmp_path: Path) -> None:
    release = tmp_path / "releases" / "r1"
    config = release / ".wsgideploy"
    (release / "venv" / "bin").mkdir(parents=True)
    config.mkdir()
    for name in ("wsgideploy_process.py", "wsgideploy_env.py"):
        (config / name).write_text((TEMPLATES_DIR / name).read_text())
    env_file = tmp_path / ".env"
    env_file.write_text("TOKEN='s3cret'\n")
    (config / "processes.json").write_text(json.dumps({
        "processes": {"show": 'sh -c \'echo "$TOKEN $WSGIDEPLOY_RELEASE $PWD ${PATH%%:*}"\''},
        "env_file": str(env_file)}))
    launcher = [sys.executable, str(config / "wsgideploy_process.py")]
    out = subprocess.run([*launcher, "show"], capture_output=True, text=True, timeout=30, env={"PATH": os.defpath})
    assert out.stdout.split() == ["s3cret", "r1", str(release), str(release / "venv" / "bin")], out.stderr
    missing = subprocess.run([*launcher, "beat"], capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and "release r1 has no process 'beat' (its [processes]: show)" in missing.stderr
