"""``deploy``, ``rollback`` and ``unlock``."""
from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from invoke import Context, task
from invoke.exceptions import Exit

from ..errors import ExitCode
from .runner import (PARALLEL_HELP, ROLES_HELP, SOURCE_HELP, TRUST_HELP, exit_if_failed, pool_size, run_on_hosts,
                     selected_or_exit)

if TYPE_CHECKING:  # what a deploy runs is imported when it runs: `--list` needs none of it
    from ..inventory import Host, Stage


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so an interrupted run still releases its locks."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@task(auto_shortflags=False,  # no -f that could mean --force or --force-unlock: every option is spelled out
      help={"trust-new-host-key": TRUST_HELP,
            "force-unlock": "Remove a deploy lock left by a run that is gone (says whose it was), then deploy.",
            "force": "Deploy even to hosts whose live release already has this source and these settings.",
            "parallel": PARALLEL_HELP,
            "batch-size": "Switch this many hosts at a time, each batch healthy before the next "
                          "(a count or a percentage like 25%; default: [rollout] batch_size, else all at once).",
            "no-rollback-on-failure": "When a batch fails, leave the hosts switched earlier in this run on the "
                                      "new release (default: they roll back too).",
            "roles": ROLES_HELP,
            "json": "Print the result as one JSON document on stdout (progress goes to stderr).",
            "json-file": "Also write the result as one JSON document to this file.",
            "plan": "Only show what the deploy would do (see `plan`); change nothing.",
            **SOURCE_HELP})
def deploy(c: Context, trust_new_host_key: bool = False, force_unlock: bool = False, force: bool = False,
           parallel: int = 0, batch_size: str | None = None, no_rollback_on_failure: bool = False,
           roles: str | None = None, json: bool = False, json_file: str | None = None, plan: bool = False,
           ref: str | None = None, allow_dirty: bool = False, expect_sha: str | None = None) -> None:
    """Deploy a commit (HEAD of the source's git repository): upload it, build its venv, check it, switch `current` (in batches), reload, health-check (rolls back if unhealthy)."""
    from ..fleet import Fleet
    from ..flow import RolloutOptions, deploy_fleet
    from ..jobs import commit_note, prepare_jobs
    from ..release_id import claim_release_id
    from ..runlog import STATE_DIR
    from ..targets import project_dir
    from ..source_files import SourceOptions
    options = SourceOptions(ref=ref, allow_dirty=allow_dirty, expect_sha=expect_sha)
    if plan:
        from .plan import plan_targets
        plan_targets(c, trust_new_host_key=trust_new_host_key, roles=roles, parallel=parallel, options=options)
        return
    from .results import RunOutput
    results = RunOutput("deploy", json, json_file, config=c.config)
    with results.on_usage_error():
        targets = selected_or_exit(c, roles)
        release_id = claim_release_id(project_dir() / STATE_DIR)
        jobs = prepare_jobs(targets, release_id, force_unlock, options)
        results.commits = {alias: job.rel.revision for alias, job in jobs.items()}
        options = RolloutOptions(batch_size=rollout_batch_size(targets, batch_size),
                                 rollback_on_failure=not no_rollback_on_failure, force=force)
        fleet = Fleet(targets, results.out, parallel=pool_size(targets, parallel),
                      trust_new_host_key=trust_new_host_key)
    for slot in fleet.slots:
        jobs[slot.alias].slot = slot
    results.out.line("", f"release {release_id}{commit_note(jobs)}: {len(targets)} host(s), {fleet.parallel} at a time"
                         + (f", switched {options.batch_size} at a time" if options.batch_size else ""))
    with sigterm_interrupts(), results.finishing(fleet, release_id):
        try:
            deploy_fleet(fleet, jobs, options)
        finally:
            fleet.close()
    exit_if_failed(fleet)


def rollout_batch_size(targets: list[tuple[Stage, Host]], given: str | None) -> int | str | None:
    """``--batch-size`` (a count or ``N%``), else the stage's ``[rollout] batch_size``."""
    if given is None:
        rollout = getattr(targets[0][0], "rollout", None) if targets else None
        return getattr(rollout, "batch_size", None)
    text = given.strip()
    number = text[:-1] if text.endswith("%") else text
    if not number.isdigit() or int(number) < 1 or (text.endswith("%") and int(number) > 100):
        raise Exit(f"wsgideploy: --batch-size must be a count (1, 2, ...) or a percentage (1%-100%), not {given!r}",
                   code=ExitCode.USAGE)
    return text if text.endswith("%") else int(text)


@task(auto_shortflags=False,
      help={"to": "Release id to go back to (default: the newest good one before the live release).",
            "trust-new-host-key": TRUST_HELP,
            "force-unlock": "Remove a deploy lock left by a run that is gone, then roll back.",
            "parallel": PARALLEL_HELP, "roles": ROLES_HELP,
            "json": "Print the result as one JSON document on stdout (progress goes to stderr).",
            "json-file": "Also write the result as one JSON document to this file."})
def rollback(c: Context, to: str | None = None, trust_new_host_key: bool = False, force_unlock: bool = False,
             parallel: int = 0, roles: str | None = None, json: bool = False,
             json_file: str | None = None) -> None:
    """Roll back to the previous good release (or --to <id>): its site, code and venv, then health-check."""
    from ..fleet import Fleet
    from ..flow import rollback_host
    from ..record import RunRecord
    from .results import RunOutput
    results = RunOutput("rollback", json, json_file, config=c.config)
    record = RunRecord(action="rollback", force_unlock=force_unlock)
    with results.on_usage_error():
        targets = selected_or_exit(c, roles)
        fleet = Fleet(targets, results.out, parallel=pool_size(targets, parallel),
                      trust_new_host_key=trust_new_host_key)
    with sigterm_interrupts(), results.finishing(fleet):
        try:
            fleet.connect()
            fleet.each(lambda slot: rollback_host(slot.run, to, record))  # type: ignore[arg-type]
        finally:
            fleet.close()
    exit_if_failed(fleet)


@task
def unlock(c: Context) -> None:
    """Remove the deploy lock on the selected hosts (after a deploy that died), saying whose it was; repair a go-live it left half done."""
    from ..flow import unlock_host
    run_on_hosts(c, unlock_host, stop_on_failure=False)
