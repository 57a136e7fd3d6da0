"""pytest fixtures for booted test servers.

Use them from a test module with ``from tests.servers.fixtures import server_lab  # noqa: F401`` (or list
``tests.servers.fixtures`` in a conftest's ``pytest_plugins``).

- ``server_lab`` (module): a `ServerLab`; boot servers with it.
- ``nginx_target`` (module): one server over Debian's nginx layer, made a deploy target (`deploy_target`):
  user ``deploy``, app root ``/srv/hello``, inventory tables. A module that needs several hosts calls
  ``deploy_target.boot_targets(server_lab, names)`` itself (they boot in parallel).

When servers cannot be had (not root, no systemd-nspawn, the image cannot be built, the first boot fails),
the fixture calls `unavailable`: ``pytest.fail`` with the reason under ``CI=true``, ``pytest.skip`` with the
reason elsewhere, so CI never passes without having booted a server.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

import pytest

from . import unavailable_reason
from .deploy_target import DeployTarget, boot_targets
from .image import ImageError
from .lab import ServerLab
from .machine import ServerError
from .network import NetworkError
from .proxy import ProxyError


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Fail (CI) or skip (elsewhere) with ``reason``."""
    if in_ci():
        pytest.fail(f"CI=true and test servers cannot boot: {reason}", pytrace=False)
    pytest.skip(f"test servers cannot boot here: {reason}")


@contextmanager
def open_lab(binds: Sequence[str] = ()) -> Iterator[ServerLab]:
    """A `ServerLab` (``binds``: read-only binds into every server) opened, or `unavailable`; closed after."""
    reason = unavailable_reason()
    if reason:
        unavailable(reason)
    lab = ServerLab(binds=binds)
    try:
        lab.open()
    except (ImageError, NetworkError, ProxyError, OSError) as exc:
        lab.close()
        unavailable(f"{type(exc).__name__}: {exc}")
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture(scope="module")
def server_lab() -> Iterator[ServerLab]:
    """A `ServerLab` shared by the tests of one module; torn down (and checked clean) after them."""
    with open_lab() as lab:
        yield lab


def booted(lab: ServerLab, names: Sequence[str], front: str | None = "nginx",
           app_root: str = "/srv/hello") -> list[DeployTarget]:
    """`boot_targets`, or `unavailable` with the reason when the servers cannot boot."""
    try:
        return boot_targets(lab, names, front=front, app_root=app_root)
    except (ServerError, ImageError, RuntimeError) as exc:
        unavailable(f"{type(exc).__name__}: {exc}")


@pytest.fixture(scope="module")
def nginx_target(server_lab: ServerLab) -> DeployTarget:
    """``web1`` booted over Debian's stock nginx (default site on port 80), ready for ``fab deploy``."""
    [target] = booted(server_lab, ["web1"], front="nginx")
    return target
