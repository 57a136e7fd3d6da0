"""Let ``fab -H`` name inventory aliases.

Fabric's own executor turns each ``-H`` value into a raw SSH connection and
runs the task once per host. wsgideploy resolves aliases through the
inventories instead and drives every selected host itself, so this executor
runs each task once and hands it the aliases through the config. It is
registered in ``fabric.yaml`` (``tasks.executor_class``).
"""
from __future__ import annotations

import invoke
from fabric import Executor
from invoke.exceptions import Exit


class InventoryExecutor(Executor):
    """Run tasks once each; record ``-H`` aliases as ``config.wsgideploy_hosts``."""

    def expand_calls(self, calls, apply_hosts=True):  # type: ignore[no-untyped-def]
        host_str = self.core[0].args.hosts.value
        if host_str:
            self.config.wsgideploy_hosts = [h.strip() for h in host_str.split(",") if h.strip()]
        if self.core.remainder:
            raise Exit("wsgideploy runs tasks, not raw commands after '--'", code=2)
        return invoke.Executor.expand_calls(self, calls)
