"""``plan``: what ``deploy`` would do on each host, changing nothing."""
from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Context, task

from .runner import PARALLEL_HELP, ROLES_HELP, SOURCE_HELP, TRUST_HELP, pool_size, run_on_hosts, selected_or_exit

if TYPE_CHECKING:
    from ..source_files import SourceOptions


def plan_targets(c: Context, trust_new_host_key: bool = False, roles: str | None = None,
                 parallel: int = 0, options: SourceOptions | None = None, files: bool = False) -> None:
    """Print the plan of every selected host (limited to ``roles``); also what ``deploy --plan`` runs.

    Every host is tried, ``parallel`` (else ``[rollout] parallel``) at a time. Exits 2 for an
    invalid inventory, 4 when a host cannot be reached, 1 when its state cannot be read.
    With ``files``, only list what would be uploaded, without connecting to any host.
    """
    from ..jobs import file_lines, prepare_local, show_plan
    from ..release_id import next_release_id
    from ..runlog import STATE_DIR
    from ..targets import project_dir
    from ..source_files import SourceOptions
    targets = selected_or_exit(c, roles)
    release_id = next_release_id(project_dir() / STATE_DIR)
    local = prepare_local(targets, release_id, options or SourceOptions())
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
    from ..source_files import SourceOptions
    plan_targets(c, trust_new_host_key, roles, parallel,
                 SourceOptions(ref=ref, allow_dirty=allow_dirty, expect_sha=expect_sha), files)
