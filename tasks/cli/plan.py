"""``plan``: what ``deploy`` would do on each host, changing nothing."""
from __future__ import annotations

import os
from dataclasses import dataclass

from invoke import Context, task
from invoke.exceptions import Exit

from ..errors import ExitCode
from ..fingerprint import release_fingerprint
from ..inventory import Host, Stage
from ..plan import HostPlan, format_plan, plan_host
from ..source import (LocalRelease, SourceError, check_for_dev_server, env_file_content, new_release_id,
                      prepare_release)
from ..steps import HostRun
from .deploy import TRUST_HELP
from .runner import PARALLEL_HELP, ROLES_HELP, pool_size, run_on_hosts, selected_or_exit


@dataclass(frozen=True)
class LocalPlan:
    """What a deploy would send one host: the release, and the fingerprint it would record."""

    rel: LocalRelease
    fingerprint: str


def prepare_local(targets: list[tuple[Stage, Host]], release_id: str) -> dict[str, LocalPlan]:
    """Pack each distinct source once and work out each host's fingerprint, refusing what
    ``deploy`` refuses: exit 1 for an unguarded ``app.run()``, exit 2 for a source or
    ``.env`` the inventory cannot deploy. The ``.env`` content only enters the fingerprint
    as a hash; it is never shown."""
    releases: dict[tuple[object, ...], LocalRelease] = {}
    plans: dict[str, LocalPlan] = {}
    for stage, host in targets:
        app = stage.app
        key = (app.source, app.exclude, app.shared, app.static_dir)
        try:
            if key not in releases:
                try:
                    check_for_dev_server(app)
                except SourceError as exc:
                    raise Exit(f"wsgideploy: {app.source}: {exc}\na deploy would refuse this source",
                               code=ExitCode.FAILED) from None
                releases[key] = prepare_release(app, release_id)
            env_file = env_file_content(app, os.environ)
        except SourceError as exc:
            raise Exit(f"wsgideploy: {stage.path}: {exc}", code=ExitCode.USAGE) from None
        rel = releases[key]
        plans[host.alias] = LocalPlan(rel, release_fingerprint(stage, host, rel.source_hash,
                                                               env_file[0] if env_file else None))
    return plans


def show_plan(run: HostRun, local: LocalPlan) -> HostPlan:
    """Plan one host and print its plan, all lines at once, under its name."""
    plan = plan_host(run, local.rel, local.fingerprint)
    run.out.line(run.alias, "\n".join(format_plan(plan)))
    return plan


def plan_targets(c: Context, trust_new_host_key: bool = False, roles: str | None = None,
                 parallel: int = 0) -> None:
    """Print the plan of every selected host (limited to ``roles``); also what ``deploy --plan`` runs.

    Every host is tried, ``parallel`` (else ``[rollout] parallel``) at a time. Exits 2 for an
    invalid inventory, 4 when a host cannot be reached, 1 when its state cannot be read.
    """
    targets = selected_or_exit(c, roles)
    release_id = new_release_id()
    local = prepare_local(targets, release_id)
    print(f"plan for release {release_id}: {len(targets)} host(s); nothing is changed on them", flush=True)
    run_on_hosts(c, lambda run: show_plan(run, local[run.alias]), trust_new_host_key=trust_new_host_key,
                 stop_on_failure=False, parallel=pool_size(targets, parallel), roles=roles)


@task(help={"trust-new-host-key": TRUST_HELP, "roles": ROLES_HELP, "parallel": PARALLEL_HELP})
def plan(c: Context, trust_new_host_key: bool = False, roles: str | None = None, parallel: int = 0) -> None:
    """Show what deploy would do on each host — release id, venv build or reuse, config diffs — changing nothing."""
    plan_targets(c, trust_new_host_key, roles, parallel)
