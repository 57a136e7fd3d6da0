"""Real-world app shapes (tests/apps/) deployed to a booted Debian 12 server behind Debian's nginx.

Each shape is one that a new user brings and that used to trip the deploy: a src/ layout package whose
requirements.txt pins the dependencies (its own package was never installed: "No module named
'task_app'"). (A pyproject-only package that reuses its venv: test_deploy_gunicorn_nginx.py.) Every check
is an HTTP request through nginx, or a look at the release on the server.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import booted, server_lab  # noqa: F401  (fixtures)
from tests.servers.lab import ServerLab

from .booted_deploy import inventory
from .fabcli import APPS, fab
from .helpers import copy_app
from .stock import get

PACKAGE_NOTE = "the app's package installed into the release"


@pytest.fixture(scope="module")
def web(server_lab: ServerLab) -> DeployTarget:  # noqa: F811
    return booted(server_lab, ["apps"], front="nginx")[0]


def venv_line(output: str) -> str:
    [line] = [ln for ln in output.splitlines() if re.search(r"\] venv +ok", ln)]
    return line


def set_version(source: Path, version: str, code: str) -> None:
    """A release of the src package: its metadata version (pyproject.toml) and its code."""
    pyproject = source / "pyproject.toml"
    pyproject.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject.read_text()))
    module = source / "src" / "task_app" / "__init__.py"
    module.write_text(re.sub(r'(?m)^CODE = ".*"$', f'CODE = "{code}"', module.read_text()))


def test_a_src_package_with_pinned_requirements_runs_its_own_code_and_metadata_in_each_release(
        web, write_inventory, tmp_path):
    port = 8090
    host = web.with_app("tasks")
    source = copy_app(APPS / "src_tasks", tmp_path / "tasks")
    # a hook imports the package: hooks see it as the app does
    hooks = {"before_switch": ["python -c 'import task_app, importlib.metadata as m; print(m.version(\"task-app\"))'"]}
    inventories = inventory(write_inventory, host, source, stage="tasks", wsgi="task_app:create_app()", listen=port,
                            extra={"hooks": hooks})
    first = fab(inventories, "-H", host.alias, "deploy").stdout
    assert "built" in venv_line(first) and PACKAGE_NOTE in venv_line(first)
    assert get(host.address, port) == (200, "task app 1.0.0 code one")

    set_version(source, "1.1.0", "two")
    second = fab(inventories, "-H", host.alias, "deploy").stdout
    assert "reused" in venv_line(second) and PACKAGE_NOTE in venv_line(second), "a code change reuses the venv"
    assert get(host.address, port) == (200, "task app 1.1.0 code two")

    fab(inventories, "-H", host.alias, "rollback")
    assert get(host.address, port) == (200, "task app 1.0.0 code one"), "the rollback runs its own package"
    venvs = host.listdir("venvs")
    assert len(venvs) == 1, venvs
    site = host.run(f"ls {host.path('current/.wsgideploy/site')}").split()
    assert "task_app" in site and "task_app-1.0.0.dist-info" in site, site

