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
from ..source import LocalRelease, SourceError, env_file_content, new_release_id
from ..source_files import SourceOptions
from ..steps import HostRun
from .deploy import SOURCE_HELP, TRUST_HELP, local_release
from .runner import PARALLEL_HELP, ROLES_HELP, pool_size, run_on_hosts, selected_or_exit


@dataclass(frozen=True)
class LocalPlan:
    """What a deploy would send one host: the release, and the fingerprint it would record."""

    rel: LocalRelease
    fingerprint: str


def prepare_local(targets: list[tuple[Stage, Host]], release_id: str,
                  options: SourceOptions = SourceOptions()) -> dict[str, LocalPlan]:
    """Pack each distinct source once and work out each host's fingerprint, refusing what
    ``deploy`` refuses: exit 1 for an unguarded ``app.run()``, exit 2 for a source or
    ``.env`` the inventory cannot deploy (a dirty tree, a bad ``--ref``, ...). The ``.env``
    content only enters the fingerprint as a hash; it is never shown."""
    releases: dict[tuple[object, ...], LocalRelease] = {}
    plans: dict[str, LocalPlan] = {}
    for stage, host in targets:
        app = stage.app
        key = (app.source, app.exclude, app.shared, app.static_dir, stage.path)
        if key not in releases:
            releases[key] = local_release(stage, release_id, options)
        try:
            env_file = env_file_content(app, os.environ)
        except SourceError as exc:
            raise Exit(f"wsgideploy: {stage.path}: {exc}", code=ExitCode.USAGE) from None
        rel = releases[key]
        plans[host.alias] = LocalPlan(rel, release_fingerprint(stage, host, rel.source_hash,
                                                               env_file[0] if env_file else None))
    return plans


def file_lines(rel: LocalRelease) -> list[str]:
    """What ``plan --files`` prints for one release: where it comes from, then each path."""
    if rel.revision and rel.revision != rel.commit:
        origin = f"the working tree (uncommitted changes on top of commit {rel.commit})"
    else:
        origin = f"commit {rel.commit}" if rel.commit else "the working tree (not in git)"
    return [f"{rel.file_count} file(s) from {origin}:"] + [f"  {path}" for path in rel.files]


def show_plan(run: HostRun, local: LocalPlan) -> HostPlan:
    """Plan one host and print its plan, all lines at once, under its name."""
    plan = plan_host(run, local.rel, local.fingerprint)
    run.out.line(run.alias, "\n".join(format_plan(plan)))
    return plan


def plan_targets(c: Context, trust_new_host_key: bool = False, roles: str | None = None,
                 parallel: int = 0, options: SourceOptions = SourceOptions(), files: bool = False) -> None:
    """Print the plan of every selected host (limited to ``roles``); also what ``deploy --plan`` runs.

    Every host is tried, ``parallel`` (else ``[rollout] parallel``) at a time. Exits 2 for an
    invalid inventory, 4 when a host cannot be reached, 1 when its state cannot be read.
    With ``files``, only list what would be uploaded, without connecting to any host.
    """
    targets = selected_or_exit(c, roles)
    release_id = new_release_id()
    local = prepare_local(targets, release_id, options)
    if files:
        listed: set[int] = set()
        for stage, host in targets:
            rel = local[host.alias].rel
            if id(rel) not in listed:  # one listing per distinct source, not per host
                listed.add(id(rel))
                print("\n".join([f"{stage.app.source}: " + file_lines(rel)[0], *file_lines(rel)[1:]]), flush=True)
        return
    print(f"plan for release {release_id}: {len(targets)} host(s); nothing is changed on them", flush=True)
    run_on_hosts(c, lambda run: show_plan(run, local[run.alias]), trust_new_host_key=trust_new_host_key,
                 stop_on_failure=False, parallel=pool_size(targets, parallel), roles=roles)


@task(auto_shortflags=False,  # deploy's options, spelled out as deploy spells them (no -e for --ref)
      help={"trust-new-host-key": TRUST_HELP, "roles": ROLES_HELP, "parallel": PARALLEL_HELP,
            "files": "Only list the files a deploy would upload (and how many), without connecting.",
            **SOURCE_HELP})
def plan(c: Context, trust_new_host_key: bool = False, roles: str | None = None, parallel: int = 0,
         files: bool = False, ref: str | None = None, allow_dirty: bool = False,
         expect_sha: str | None = None) -> None:
    """Show what deploy would do on each host — release id, commit, venv build or reuse, config diffs — changing nothing."""
    plan_targets(c, trust_new_host_key, roles, parallel,
                 SourceOptions(ref=ref, allow_dirty=allow_dirty, expect_sha=expect_sha), files)
