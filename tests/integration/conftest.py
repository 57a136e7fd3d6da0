"""Fixtures for the integration tests: real sshd, nginx and gunicorn on loopback ports.

They need root (to create the ``wsgitest`` user and start sshd); without it they skip, and
with ``CI=true`` that skip fails the run (see ``tests/conftest.py``).

- ``deploy_user`` (session): the user ``wsgitest`` with passwordless sudo; kept between runs.
- ``make_host`` (function): ``make_host(alias="web1") -> TestHost``, a simulated host with its
  own sshd, nginx prefix and app root under ``/srv/wsgideploy-tests/<unique>/``; torn down
  after the test, which fails if anything was left running.
- ``write_inventory`` (function): ``write_inventory(stage, app, hosts, nginx=None, vars=None,
  extra=None) -> Path`` writes ``<tmp_path>/inventories/<stage>.toml`` and returns the directory.
- ``hello_app``: the bundled example app's directory.

Helpers in ``helpers.py``: `http_get`, `copy_app`, `ssh_run`, `TestHost`, `host_factory`.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

# Works whether tests/integration is a package (``from .helpers``) or a rootless test dir
# that pytest puts on sys.path (``from helpers``); either way there is one helpers module.
if __package__:
    from .helpers import (
        HELLO_APP,
        LOCK_FILE,
        TEST_USER,
        TESTS_ROOT,
        TestHost,
        host_factory,
        reap_stale_hosts,
    )
else:
    from helpers import (
        HELLO_APP,
        LOCK_FILE,
        TEST_USER,
        TESTS_ROOT,
        TestHost,
        host_factory,
        reap_stale_hosts,
    )
from tests.hosts.files import file_lock, make_dir
from tests.hosts.toml_writer import toml_dumps
from tests.hosts.users import ensure_deploy_user

REQUIRED_BINARIES = ("/usr/sbin/sshd", "ssh-keygen", "nginx", "sudo", "visudo", "useradd")


@pytest.fixture(scope="session")
def deploy_user() -> str:
    """``wsgitest``: a login user with passwordless sudo, for every simulated host.

    Safe under pytest-xdist: workers serialise on an fcntl lock. Not removed afterwards.
    Also reaps hosts left behind by test processes that were killed before their teardown.
    """
    if os.geteuid() != 0:
        pytest.skip("integration tests need root (they create a user and run sshd); run them as root")
    missing = [b for b in REQUIRED_BINARIES
               if not shutil.which(b, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")]
    if missing:
        pytest.skip(f"integration tests need these programs: {', '.join(missing)}")
    with file_lock(LOCK_FILE):
        ensure_deploy_user(TEST_USER)
        make_dir(TESTS_ROOT, owner=None, mode=0o755)
        reap_stale_hosts(TEST_USER)  # hosts of earlier runs that were killed before their teardown
    return TEST_USER


@pytest.fixture
def make_host(deploy_user: str) -> Iterator[Callable[..., TestHost]]:
    """``make_host(alias="web1") -> TestHost``; every host made is torn down after the test."""
    with host_factory(deploy_user) as make:
        yield make


@pytest.fixture
def write_inventory(tmp_path: Path) -> Callable[..., Path]:
    """``write_inventory(stage, app, hosts, nginx=None, vars=None, extra=None) -> Path``.

    Writes ``<tmp_path>/inventories/<stage>.toml`` and returns that directory. ``hosts`` maps
    aliases to host tables (``TestHost.host_table()``); give ``app["source"]`` as an absolute
    path. ``extra`` adds or replaces top-level tables (e.g. ``{"ssh": {...}}``).
    """
    def write(stage: str, app: dict[str, Any], hosts: dict[str, dict[str, Any]],
              nginx: dict[str, Any] | None = None, vars: dict[str, Any] | None = None,
              extra: dict[str, Any] | None = None) -> Path:
        data: dict[str, Any] = {"app": app}
        if nginx is not None:
            data["nginx"] = nginx
        if vars is not None:
            data["vars"] = vars
        data["hosts"] = hosts
        data.update(extra or {})
        directory = tmp_path / "inventories"
        directory.mkdir(exist_ok=True)
        (directory / f"{stage}.toml").write_text(toml_dumps(data))
        return directory

    return write


@pytest.fixture
def hello_app() -> Path:
    """The bundled example app (``examples/hello``)."""
    return HELLO_APP
