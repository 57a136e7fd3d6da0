"""Run each task once, with ``-H`` naming inventory aliases.

Fabric's own executor turns each ``-H`` value into a raw SSH connection and runs
the task once per host. wsgideploy resolves aliases through the inventories instead
and drives every selected host itself (in parallel, one connection each), so this
executor runs each task once and hands it the aliases as ``config.wsgideploy_hosts``.

``wsgideploy`` uses it directly; ``fab`` uses it through `wsgideploy.fab`.
"""
from __future__ import annotations

import invoke
from invoke.exceptions import Exit

from .errors import ExitCode

# Fabric's (and Invoke's) command-line flags that a wsgideploy task would silently
# ignore, with what to use instead. Each host's SSH settings live in its inventory.
NOT_APPLICABLE = {
    "identity": "set identity in the host's inventory table",
    "connect-timeout": "set [ssh] connect_timeout in the inventory",
    "ssh-config": "wsgideploy reads ~/.ssh/config itself; set hostname, port and user in the inventory",
    "prompt-for-login-password": "wsgideploy logs in with keys only",
    "prompt-for-passphrase": "load the key into ssh-agent",
    "prompt-for-sudo-password": "wsgideploy never prompts: the deploy user runs sudo -n",
    "command-timeout": "set [ssh] command_timeout in the inventory",
    "echo": "use -v (fab: WSGIDEPLOY_VERBOSE=1) to see the remote output",
    "hide": "no task runs local commands",
    "pty": "no task runs local commands",
    "warn-only": "no task runs local commands",
    "dry": "use the plan task to see what a deploy would do",
}


class NamedCall(invoke.Call):
    """A task call that records its task's name as ``config.wsgideploy_task`` (the run's log
    file and closing line are named after it)."""

    def make_context(self, config):  # type: ignore[no-untyped-def]
        config.wsgideploy_task = self.called_as or self.task.name
        return super().make_context(config)


class InventoryExecutor(invoke.Executor):
    """Run tasks once each; record ``-H`` aliases as ``config.wsgideploy_hosts`` and each
    task's name as ``config.wsgideploy_task``."""

    def expand_calls(self, calls, apply_hosts=True):  # type: ignore[no-untyped-def]
        core = self.core[0].args if self.core else {}
        for name, fix in NOT_APPLICABLE.items():
            if name in core and core[name].got_value:
                raise Exit(f"wsgideploy: --{name} does not apply to wsgideploy: {fix}", code=ExitCode.USAGE)
        host_str = core["hosts"].value if "hosts" in core else None
        if host_str:
            self.config.wsgideploy_hosts = [h.strip() for h in host_str.split(",") if h.strip()]
        if self.core is not None and self.core.remainder:
            raise Exit("wsgideploy: runs tasks, not raw commands after '--' (use ssh for that)",
                       code=ExitCode.USAGE)
        return [call.clone(into=NamedCall) for call in invoke.Executor.expand_calls(self, calls)]
