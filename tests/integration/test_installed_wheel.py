"""The tool as a user gets it: the wheel, installed into a fresh venv outside the checkout,
used from an app's own git repository that has its own ``tasks.py``.

``wsgideploy init`` writes the stage file and the fabfile; the stage is pointed at a booted Debian 12
server (tests/servers: systemd, Debian's stock nginx with its default site, real OpenSSH), app root
``/srv/wheel``, port 8090; the app deploys and serves; a change that is not committed is refused; the
commit deploys (through ``fab`` and the two-line fabfile); a rollback serves the first commit again.
The installed tool stops the app after.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.hosts.toml_writer import toml_dumps
from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from ..gitrepo import git
from .fabcli import APPS, PROJECT
from .stock import get

APP = APPS / "flask_with_tasks"
PORT = 8090


def run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in ``cwd`` as a user would: no variable of the test suite's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSGIDEPLOY_", "FABRIC_", "PYTHON"))}
    return subprocess.run(argv, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """``bin/`` of a fresh venv outside the checkout with the wheel built from this tree installed."""
    dist = tmp_path / "dist"
    ok(run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(PROJECT)], tmp_path))
    [wheel] = dist.glob("wsgideploy-*.whl")
    venv = tmp_path / "tool-venv"
    ok(run([sys.executable, "-m", "venv", str(venv)], tmp_path))
    ok(run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)], tmp_path))
    shutil.rmtree(PROJECT / "build", ignore_errors=True)  # setuptools' scratch folder in the checkout
    return venv / "bin"


def point_stage_at(path: Path, host: DeployTarget) -> None:
    """Edit the stage file that init wrote so that it deploys to ``host`` (Debian's nginx in front)."""
    stage = tomllib.loads(path.read_text())
    stage["app"].pop("listen_address", None)
    stage["app"].update(root=host.app_root, server_name="_", listen=PORT)
    stage["hosts"] = {host.alias: host.host_table()}
    stage["nginx"] = host.front_table()
    path.write_text(toml_dumps(stage))


def test_the_installed_wheel_inits_deploys_refuses_a_dirty_tree_and_rolls_back(
        installed: Path, nginx_target: DeployTarget, tmp_path: Path) -> None:  # noqa: F811
    host = nginx_target.with_app("wheel")
    host.add_app_user("myapp")  # init names the app after its folder; setup would make its user
    repo = tmp_path / "myapp"
    shutil.copytree(APP, repo, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "the app")

    init = ok(run([str(installed / "wsgideploy"), "init"], repo))
    assert "app:app" in init.stdout
    assert (repo / "fabfile.py").read_text().count("\n") == 2
    point_stage_at(repo / "deploy" / "production.toml", host)
    git(repo, "add", "deploy", "fabfile.py")
    git(repo, "commit", "-q", "-m", "deploy config")

    # The app's own tasks.py does not hide wsgideploy's tasks, from a subdirectory either.
    listing = ok(run([str(installed / "wsgideploy"), "--list"], repo / "static"))
    assert "deploy" in listing.stdout and "production" in listing.stdout
    ok(run([str(installed / "fab"), "--list"], repo))
    try:
        deploy_dirty_commit_and_roll_back(installed, host, repo)
    finally:
        stop = run([str(installed / "wsgideploy"), "-H", host.alias, "stop"], repo, timeout=120)
        print(f"wsgideploy stop exited {stop.returncode}: {stop.stdout.strip().splitlines()[-1:]}")


def deploy_dirty_commit_and_roll_back(installed: Path, host: DeployTarget, repo: Path) -> None:
    first = ok(run([str(installed / "wsgideploy"), "-H", host.alias, "deploy"], repo))
    assert first.stdout.rstrip().splitlines()[-1].startswith("deploy ok: 1 host in ")
    assert "commit " + git(repo, "rev-parse", "HEAD").strip()[:12] in first.stdout
    assert get(host.address, PORT, "/") == (200, "flask-with-tasks ok")
    assert get(host.address, PORT, "/static/site.css")[0] == 200

    app_py = repo / "app.py"
    app_py.write_text(app_py.read_text().replace("flask-with-tasks ok", "flask-with-tasks v2"))
    before = host.listdir("releases")
    dirty = run([str(installed / "wsgideploy"), "-H", host.alias, "deploy"], repo)
    assert dirty.returncode == 2, dirty.stdout + dirty.stderr
    assert "app.py" in dirty.stderr and "--allow-dirty" in dirty.stderr
    assert host.listdir("releases") == before, "a refused deploy uploads nothing"

    git(repo, "commit", "-q", "-am", "v2")
    ok(run([str(installed / "fab"), "-H", host.alias, "deploy"], repo))
    assert get(host.address, PORT, "/") == (200, "flask-with-tasks v2")

    ok(run([str(installed / "wsgideploy"), "-H", host.alias, "rollback"], repo))
    assert get(host.address, PORT, "/") == (200, "flask-with-tasks ok")
    assert (repo / ".wsgideploy" / "logs").is_dir() and not git(repo, "status", "--porcelain"), \
        "the run logs stay out of git"
