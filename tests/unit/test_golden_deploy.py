"""The scripts of one deploy, as golden files: a change to a recipe or a step shows up as a readable diff.

A first deploy of examples/hello with gunicorn behind nginx to ``/srv/hello``, for one host whose facts
are fixed here, built by the same step builders the deploy runs (`wsgideploy.steps`, joined by `wsgideploy.hostrun`), in its round trips:

- ``prepare.sh``: the layout, the lock and the host's facts;
- ``build.sh``: upload, venv, check, nginx site (one script, stdin is the release), on each host of a fleet;
- ``go-live.sh``: switch, reload, health, prune, finish (one script), the go-live journal around the first
  three; a host alone in the last batch logs the run and gives the lock back there, once healthy;
- ``build-and-go-live.sh``: both in one script, as the only host of a run that builds gets them
  (`going_live.build_and_go_live`): a one-host deploy is ``prepare.sh`` and this;
- ``finish.sh``: the deploy log entry and the lock given back, by a run that did not finish in its go-live.

After an intended change, write the files again and read the diff before committing it:

    WSGIDEPLOY_UPDATE_GOLDEN=1 python3 -m pytest -q tests/unit/test_golden_deploy.py && git diff tests/unit/golden/deploy
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import pytest

from wsgideploy import hostrun, steps
from wsgideploy.lock_and_log import finish_step
from wsgideploy.commands import history, lock, release
from wsgideploy.commands.shell import script
from wsgideploy.inventory import load_stage
from wsgideploy.output import Reporter
from wsgideploy.source import LocalRelease
from wsgideploy.transport import HostConnection

PROJECT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "deploy"
RELEASE = "20261204T100000Z"
INVENTORY = f"""
[app]
name = "hello"
source = "{PROJECT / 'examples' / 'hello'}"
wsgi = "app:app"
root = "/srv/hello"
server_name = "hello.example.com"

[hosts.web1]
hostname = "192.0.2.10"
user = "deploy"
"""


def deploy_scripts(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "production.toml").write_text(INVENTORY)
    stage = load_stage(tmp_path / "production.toml")
    run = hostrun.HostRun(stage, stage.hosts[0], cast(HostConnection, None), cast(Reporter, None),
                        facts={"python_version": "3.11.2", "user": "deploy", "group": "deploy", "current": "",
                               "app_user": "hello", "app_group": "hello"})
    rel = LocalRelease(release_id=RELEASE, archive=b"", source_hash="0" * 64, file_count=4, static_dir="static",
                       shared={})
    token = "wsgideploy-lock-token"
    build = steps.build_steps(run, rel, "f" * 64)
    # one host: once healthy, the go-live script also logs the run and releases the lock
    done = finish_step(run, token, '{"duration": null, "release": "' + RELEASE + '"}', 1.25)
    go_live = steps.go_live_script(run, RELEASE, then=[steps.prune_step(run), done])
    return {
        "prepare.sh": steps.prepare_script(run, lock.acquire(run.layout, token), RELEASE),
        "build.sh": hostrun.combined_script(build),
        "go-live.sh": hostrun.combined_script(go_live),
        "build-and-go-live.sh": hostrun.combined_script(build + go_live),
        "finish.sh": script(history.append_log(run.layout, '{"release": "' + RELEASE + '"}'),
                            lock.release(run.layout, token)),
    }


@pytest.mark.parametrize("name", ["prepare.sh", "build.sh", "go-live.sh", "build-and-go-live.sh", "finish.sh"])
def test_the_scripts_of_one_deploy_match_their_golden_files(name: str, tmp_path: Path) -> None:
    text = deploy_scripts(tmp_path)[name]
    golden = GOLDEN / name
    if os.environ.get("WSGIDEPLOY_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden}: write it with WSGIDEPLOY_UPDATE_GOLDEN=1 (see the docstring)"
    assert text == golden.read_text(), (
        f"{name} changed. If that was intended, write the golden files again and review the diff: "
        "WSGIDEPLOY_UPDATE_GOLDEN=1 python3 -m pytest -q tests/unit/test_golden_deploy.py")
