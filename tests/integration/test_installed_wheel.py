"""The tool as a user gets it: the wheel, installed into a fresh venv outside the checkout,
used from an app's own git repository that has its own ``tasks.py``.

``wsgideploy init`` writes the stage file and the fabfile; the stage is pointed at a test
host; the app deploys and serves; a change that is not committed is refused; the commit
deploys (through ``fab`` and the two-line fabfile); a rollback serves the first commit again.
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

from ..gitrepo import git
from .fabcli import APPS, PROJECT
from .helpers import TestHost, http_get, ssh_run

APP = APPS / "flask_with_tasks"


def run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in ``cwd`` as a user would: no variable of the test suite's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSGIDEPLOY_", "FABRIC_", "PYTHON"))}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
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


def point_stage_at(path: Path, host: TestHost) -> None:
    """Edit the stage file that init wrote so that it deploys to ``host``."""
    stage = tomllib.loads(path.read_text())
    stage["app"].update(root=str(host.app_root), server_name="localhost", listen=host.http_port,
                        listen_address="127.0.0.1")
    stage["hosts"] = {"web1": host.host_table()}
    stage["nginx"] = host.nginx_table()
    path.write_text(toml_dumps(stage))


def releases_on(host: TestHost) -> list[str]:
    status, out, _ = ssh_run(host, f"ls {host.app_root}/releases")
    assert status == 0
    return out.split()


def test_the_installed_wheel_inits_deploys_refuses_a_dirty_tree_and_rolls_back(installed: Path, make_host,
                                                                               tmp_path: Path) -> None:
    host = make_host("web1")
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

    first = ok(run([str(installed / "wsgideploy"), "-H", "web1", "deploy"], repo))
    assert first.stdout.rstrip().splitlines()[-1].startswith("deploy ok: 1 host in ")
    assert "commit " + git(repo, "rev-parse", "HEAD").strip()[:12] in first.stdout
    assert http_get(host.http_port, "/") == (200, "flask-with-tasks ok")
    assert http_get(host.http_port, "/static/site.css")[0] == 200

    app_py = repo / "app.py"
    app_py.write_text(app_py.read_text().replace("flask-with-tasks ok", "flask-with-tasks v2"))
    before = releases_on(host)
    dirty = run([str(installed / "wsgideploy"), "-H", "web1", "deploy"], repo)
    assert dirty.returncode == 2, dirty.stdout + dirty.stderr
    assert "app.py" in dirty.stderr and "--allow-dirty" in dirty.stderr
    assert releases_on(host) == before, "a refused deploy uploads nothing"

    git(repo, "commit", "-q", "-am", "v2")
    ok(run([str(installed / "fab"), "-H", "web1", "deploy"], repo))
    assert http_get(host.http_port, "/") == (200, "flask-with-tasks v2")

    ok(run([str(installed / "wsgideploy"), "-H", "web1", "rollback"], repo))
    assert http_get(host.http_port, "/") == (200, "flask-with-tasks ok")
    assert (repo / ".wsgideploy" / "logs").is_dir() and not git(repo, "status", "--porcelain"), \
        "the run logs stay out of git"
