"""``deploy``, ``rollback`` and ``unlock``."""
from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from typing import Any, Iterator

from invoke import Context, task
from invoke.exceptions import Exit

from ..errors import ExitCode
from ..fingerprint import release_fingerprint
from ..fleet import Fleet, Slot
from ..flow import HostDeploy, RolloutOptions, deploy_fleet, rollback_host
from ..inventory import Host, Stage
from ..record import RunRecord, short_revision
from ..report import with_commits
from ..source import DevServerError, LocalRelease, SourceError, env_file_content, new_release_id, prepare_release
from ..source_files import SourceOptions, read_source
from ..steps import unlock as unlock_host
from .results import RunOutput
from .runner import PARALLEL_HELP, ROLES_HELP, exit_if_failed, pool_size, run_on_hosts, selected_or_exit

TRUST_HELP = "Accept and record the key of a host not yet in known_hosts (a changed key is always refused)."
SOURCE_HELP = {
    "ref": "Deploy this commit (a branch, tag or sha) of the source's git repository instead of HEAD; "
           "the working tree does not matter.",
    "allow-dirty": "Deploy the working tree as it is when it has changes that are not committed "
                   "(default: refuse them, exit 2).",
    "expect-sha": "Refuse (exit 2, before connecting) unless the commit to deploy is this one "
                  "(its sha, or a prefix of 7 or more hex digits).",
}


class DeployOutput(RunOutput):
    """A deploy's results: the JSON document also names the commit each host was sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # RunOutput's, after the action
        super().__init__("deploy", *args, **kwargs)
        self.commits: dict[str, str | None] = {}

    def write(self, doc: dict[str, Any]) -> None:
        super().write(with_commits(doc, self.commits))


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


def local_release(stage: Stage, release_id: str, options: SourceOptions) -> LocalRelease:
    """Read and pack the stage's source, before any host is touched: exit 2 for a source that
    cannot be deployed as asked (a dirty tree, a bad ``--ref``, another commit than
    ``--expect-sha``), exit 1 for an unguarded ``app.run()``."""
    app = stage.app
    try:
        return prepare_release(app, release_id, read_source(app, options, stage.path))
    except DevServerError as exc:
        raise Exit(f"wsgideploy: {app.source}: {exc}\nnothing was deployed", code=ExitCode.FAILED) from None
    except SourceError as exc:
        raise Exit(f"wsgideploy: {exc}\nnothing was deployed", code=ExitCode.USAGE) from None


def prepare_jobs(targets: list[tuple[Stage, Host]], release_id: str, force_unlock: bool,
                 options: SourceOptions = SourceOptions()) -> dict[str, HostDeploy]:
    """Pack each distinct source once (checked for a dev server), and say what each host gets."""
    releases: dict[tuple[object, ...], tuple[LocalRelease, RunRecord]] = {}
    jobs: dict[str, HostDeploy] = {}
    for stage, host in targets:
        app = stage.app
        key = (app.source, app.exclude, app.shared, app.static_dir, stage.path)
        if key not in releases:
            rel = local_release(stage, release_id, options)
            releases[key] = (rel, RunRecord(action="deploy", release_id=release_id, source_revision=rel.revision,
                                            source_hash=rel.source_hash, force_unlock=force_unlock))
        rel, record = releases[key]
        try:
            env_file = env_file_content(app, os.environ)
        except SourceError as exc:
            raise Exit(f"wsgideploy: {stage.path}: {exc}", code=ExitCode.USAGE) from None
        jobs[host.alias] = HostDeploy(slot=Slot(stage, host), rel=rel, record=record, env_file=env_file,
                                      fingerprint=release_fingerprint(stage, host, rel.source_hash,
                                                                      env_file[0] if env_file else None))
    return jobs


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
    options = SourceOptions(ref=ref, allow_dirty=allow_dirty, expect_sha=expect_sha)
    if plan:
        from .plan import plan_targets
        plan_targets(c, trust_new_host_key=trust_new_host_key, roles=roles, parallel=parallel, options=options)
        return
    results = DeployOutput(json, json_file, config=c.config)
    with results.on_usage_error():
        targets = selected_or_exit(c, roles)
        release_id = new_release_id()
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


def commit_note(jobs: dict[str, HostDeploy]) -> str:
    """`` of commit <12 hex digits>`` when every host gets the same git commit, else ''."""
    revisions = {job.rel.revision for job in jobs.values()}
    if len(revisions) != 1 or None in revisions:
        return ""
    return f" of commit {short_revision(revisions.pop() or '')}"


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
    """Remove the deploy lock on the selected hosts (after a deploy that died), saying whose it was."""
    run_on_hosts(c, unlock_host, stop_on_failure=False)
