"""The collection of tasks that ``wsgideploy`` and ``fab`` run (``--list`` shows it)."""
from __future__ import annotations

from invoke import Collection

from .cli import deploy, init, inventory, logs, plan, releases, server, setup, stages, uninstall


def build_namespace() -> Collection:
    """Every task, plus one stage task per stage file found from the current directory.

    Task modules import only Invoke at load time; what a task needs (SSH, Jinja2,
    the fingerprint) is imported when it runs, so ``--list`` stays fast.
    """
    namespace = Collection(deploy.deploy, deploy.rollback, deploy.unlock, server.start, server.stop,
                           server.restart, server.reload, server.status, releases.releases, logs.logs,
                           plan.plan, init.init, setup.setup, setup.doctor, uninstall.uninstall)
    namespace.add_collection(Collection.from_module(inventory), name="inventory")
    for stage in stages.stage_tasks(reserved=set(namespace.task_names) | {"inventory"}):
        namespace.add_task(stage)
    return namespace
