"""A local sandbox to try wsgideploy on this machine, and the provisioning it shares with the tests.

``python -m wsgideploy.sandbox up|down|status`` creates (and removes) a deploy user, an sshd on a
loopback port, a private nginx prefix and ``inventories/sandbox.toml``; see `wsgideploy.sandbox.manage`.
The building blocks live in `wsgideploy.sandbox.hosts` (standard library only).
"""
from __future__ import annotations

from .hosts import (
    NginxPrefix,
    ProvisionError,
    SshdHost,
    ensure_deploy_user,
    free_port,
    remove_deploy_user,
    stop_pidfile,
    toml_dumps,
)

__all__ = [
    "NginxPrefix",
    "ProvisionError",
    "SshdHost",
    "ensure_deploy_user",
    "free_port",
    "remove_deploy_user",
    "stop_pidfile",
    "toml_dumps",
]
