"""wsgideploy: safe, fast deploys of WSGI apps over SSH.

``namespace`` is the collection ``fab`` runs (``fabfile.py`` imports it).
The library sits beside the task modules: ``inventory`` (config), ``commands``
(what runs on a host), ``transport`` (how it gets there), ``output`` (what a
person sees), ``steps`` and ``flow`` (the deploy, as named steps).
"""
from invoke import Collection

from .cli import deploy, inventory, logs, plan, releases, server, stages

namespace = Collection(deploy.deploy, deploy.rollback, deploy.unlock, server.start, server.stop, server.restart,
                       server.reload, server.status, releases.releases, logs.logs)
namespace.add_task(plan.plan)
namespace.add_collection(Collection.from_module(inventory), name="inventory")
for _stage in stages.stage_tasks(reserved=set(namespace.task_names) | {"inventory"}):
    namespace.add_task(_stage)

__all__ = ["namespace"]
