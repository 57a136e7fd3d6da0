"""``inventory.check``: validate every inventory without connecting."""
from __future__ import annotations

from invoke import Context, task
from invoke.exceptions import Exit

from ..errors import ExitCode
from ..inventory import InventoryError, load_inventories
from ..targets import inventories_dir


@task
def check(c: Context) -> None:
    """Validate every inventories/*.toml (keys, types, unique aliases) without connecting."""
    directory = inventories_dir()
    try:
        stages = load_inventories(directory)
    except InventoryError as exc:
        raise Exit(f"wsgideploy: {exc}", code=ExitCode.USAGE) from None
    if not stages:
        raise Exit(f"wsgideploy: no inventories in {directory}", code=ExitCode.USAGE)
    for stage in stages.values():
        hosts = ", ".join(f"{h.alias} ({h.hostname}:{h.port})" for h in stage.hosts) or "no hosts"
        print(f"{stage.path}: ok: app {stage.app.name} -> {stage.app.root}; {hosts}")
