"""Which hosts a task acts on: ``-H`` aliases, a stage task, or FABRIC_DEPLOY_STAGE."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from invoke import Context

if TYPE_CHECKING:
    from .inventory import Host, Stage

STAGE_ENV = "FABRIC_DEPLOY_STAGE"
INVENTORIES_ENV = "WSGIDEPLOY_INVENTORIES"
# The folders that hold stage files, looked for in this order in each directory:
# `deploy/` is what `wsgideploy init` writes in an app's repository.
INVENTORY_FOLDERS = ("deploy", "inventories")


class NoTargetsError(Exception):
    """The command line selected no host."""


class NoInventoriesError(NoTargetsError):
    """No folder of stage files was found from the current directory up."""


def find_inventories(start: Path) -> Path | None:
    """The first ``deploy/`` or ``inventories/`` holding ``*.toml`` files, from ``start`` upwards.

    The walk stops at the repository root (the directory with ``.git``), as git's own
    search does, or at ``/``; None when nothing was found.
    """
    for directory in (start, *start.parents):
        for name in INVENTORY_FOLDERS:
            candidate = directory / name
            if candidate.is_dir() and any(candidate.glob("*.toml")):
                return candidate
        if (directory / ".git").exists():
            return None
    return None


def inventories_dir() -> Path:
    """``$WSGIDEPLOY_INVENTORIES`` if set, else `find_inventories` from the current directory.

    Raises `NoInventoriesError` (naming where it looked and the fix) when there is none.
    """
    if os.environ.get(INVENTORIES_ENV):
        return Path(os.environ[INVENTORIES_ENV])
    cwd = Path.cwd()
    found = find_inventories(cwd)
    if found is None:
        raise NoInventoriesError(
            f"no inventory found: looked for {' or '.join(f'{n}/*.toml' for n in INVENTORY_FOLDERS)} in {cwd} "
            f"and its parents up to the repository root; run `wsgideploy init` in your app's repository, "
            f"or set {INVENTORIES_ENV}")
    return found


def project_dir() -> Path:
    """The directory that holds the inventory folder (the app's repository root), else the cwd."""
    try:
        return inventories_dir().resolve().parent
    except NoInventoriesError:
        return Path.cwd()


def stage_names(directory: Path | None = None) -> list[str]:
    """The stages, one per ``*.toml`` file (read from names only, nothing parsed); none without inventories."""
    try:
        directory = directory or inventories_dir()
    except NoInventoriesError:
        return []
    return sorted(p.stem for p in directory.glob("*.toml"))


def select_targets(c: Context, roles: Sequence[str] = ()) -> list[tuple[Stage, Host]]:
    """Resolve the selection of this run into validated (stage, host) pairs.

    Order of precedence: ``-H alias[,alias]``, then a stage task given before the
    task (``fab production deploy``), then ``$FABRIC_DEPLOY_STAGE``. With ``roles``
    (else the ``wsgideploy_roles`` config, set by ``--roles``) only the hosts with
    one of them stay, in order. Each stage is the one its host sees (`Stage.for_host`):
    ``stage.app`` is that host's effective App. A selected host's missing identity file
    is an `InventoryError` naming its path.
    """
    from .inventory import missing_identity
    pairs = _selected_hosts(c)
    wanted = _role_list(roles) or _role_list(c.config.get("wsgideploy_roles") or [])
    if wanted:
        pairs = _with_roles(pairs, wanted)
    for stage, host in pairs:
        problem = missing_identity(stage, host)
        if problem:
            raise problem
    return [(stage.for_host(host), host) for stage, host in pairs]


def _selected_hosts(c: Context) -> list[tuple[Stage, Host]]:
    from .inventory import UnknownHostError, did_you_mean, load_inventories, resolve_aliases
    stages = load_inventories(inventories_dir())
    aliases = c.config.get("wsgideploy_hosts") or []
    if aliases:
        return resolve_aliases(stages, list(aliases))
    stage_name = c.config.get("wsgideploy_stage") or os.environ.get(STAGE_ENV)
    if stage_name:
        if stage_name not in stages:
            known = ", ".join(sorted(stages)) or "none"
            raise UnknownHostError(f"unknown stage {stage_name!r}{did_you_mean(stage_name, stages)}; "
                                   f"known stages: {known}")
        stage = stages[stage_name]
        if not stage.hosts:
            raise NoTargetsError(f"stage {stage_name!r} ({stage.path}) has no hosts")
        return [(stage, host) for host in stage.hosts]
    raise NoTargetsError("no hosts selected: use -H <alias>, a stage task (fab production deploy) "
                         f"or {STAGE_ENV}=<stage>; stages: {', '.join(sorted(stages)) or 'none'}")


def _role_list(value: Sequence[str] | str) -> list[str]:
    """Role names from a list, or from one comma-separated string (``--roles web,db``)."""
    if isinstance(value, str):
        value = value.split(",")
    return [role.strip() for role in value if role and role.strip()]


def _with_roles(pairs: list[tuple[Stage, Host]], roles: Sequence[str]) -> list[tuple[Stage, Host]]:
    """The pairs whose host has one of ``roles``, in order; none is an error naming the roles there are."""
    kept = [(stage, host) for stage, host in pairs if any(role in host.roles for role in roles)]
    if kept:
        return kept
    from .inventory import did_you_mean
    existing = sorted({role for _, host in pairs for role in host.roles})
    asked = list(dict.fromkeys(roles))
    what = (f"the role {asked[0]!r}{did_you_mean(asked[0], existing)}" if len(asked) == 1
            else f"any of the roles {', '.join(repr(r) for r in asked)}")
    raise NoTargetsError(f"no selected host has {what}; roles of the selected hosts: {', '.join(existing) or 'none'}")
