"""``inventory.check``: validate every inventory without connecting."""
from __future__ import annotations

from invoke import Context, task
from invoke.exceptions import Exit

from ..errors import ExitCode
from ..targets import NoInventoriesError, inventories_dir


@task
def check(c: Context) -> None:
    """Validate every stage file (deploy/*.toml or inventories/*.toml): keys, types, files, unique aliases; no connection."""
    from ..inventory import InventoryError, load_inventories, missing_identity
    try:
        directory = inventories_dir()
    except NoInventoriesError as exc:
        raise Exit(f"wsgideploy: {exc}", code=ExitCode.USAGE) from None
    try:
        stages = load_inventories(directory)
    except InventoryError as exc:
        raise Exit(f"wsgideploy: {exc}", code=ExitCode.USAGE) from None
    if not stages:
        raise Exit(f"wsgideploy: no inventories in {directory}", code=ExitCode.USAGE)
    problems = [problem for stage in stages.values() for host in stage.hosts
                if (problem := missing_identity(stage, host))]
    if problems:
        raise Exit("\n".join(f"wsgideploy: {problem}" for problem in problems), code=ExitCode.USAGE)
    for stage in stages.values():
        hosts = ", ".join(f"{h.alias} ({h.hostname}:{h.port})" for h in stage.hosts) or "no hosts"
        print(f"{stage.path}: ok: app {stage.app.name} -> {stage.app.root}; {hosts}")
