"""``fab`` support: an app's fabfile imports ``ns`` from here (``wsgideploy init`` writes it)::

    from wsgideploy.fab import ns  # noqa: F401

Fabric picks its executor from config files only (``tasks.executor_class``), which a
fabfile cannot set, and its parser exits 1 on a usage error. So that ``fab`` keeps
wsgideploy's contract without a ``fabric.yaml`` (``-H`` names inventory aliases, usage
errors exit 2, flags that do not apply are refused), importing this module while ``fab``
runs gives the running Fabric program wsgideploy's executor and parser-error handling.
Nothing else changes, and outside ``fab`` the import only builds ``ns``.
"""
from __future__ import annotations

import sys

from .collection import build_namespace
from .executor import InventoryExecutor
from .program import TaskImportsCached, UsageErrorsExit2


def adopt_fab_program() -> None:
    """Give the running ``fab`` (Fabric's ``fabric.main.program``) wsgideploy's executor, exit codes and byte-code
    caches."""
    fabric_main = sys.modules.get("fabric.main")
    program = getattr(fabric_main, "program", None)
    if program is None or type(program) is not fabric_main.Fab:  # type: ignore[union-attr]
        return
    program.executor_class = InventoryExecutor
    program.__class__ = type("WsgideployFab", (TaskImportsCached, UsageErrorsExit2, fabric_main.Fab), {})  # type: ignore[union-attr]


adopt_fab_program()
ns = build_namespace()
