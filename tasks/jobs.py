"""What each host of a deploy gets, prepared locally once before any host is touched.

Each distinct source is read (a git commit, or the working tree) and packed once, and
checked for a development server; each host gets that release, its ``.env`` content and
the fingerprint that makes an unchanged redeploy a no-op. ``deploy`` makes jobs of them,
``plan`` plans of them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from invoke.exceptions import Exit

from .errors import ExitCode
from .fingerprint import release_fingerprint
from .fleet import Slot
from .flow import HostDeploy
from .inventory import Host, Stage
from .plan import HostPlan, format_plan, plan_host
from .record import RunRecord, short_revision
from .source import DevServerError, LocalRelease, RefusedSourceError, SourceError, env_file_content, prepare_release
from .source_files import SourceOptions, read_source
from .hostrun import HostRun


def local_release(stage: Stage, release_id: str, options: SourceOptions) -> LocalRelease:
    """Read and pack the stage's source, before any host is touched: exit 2 for a source that
    cannot be deployed as asked (a dirty tree, a bad ``--ref``, another commit than
    ``--expect-sha``), exit 1 for an unguarded ``app.run()``."""
    app = stage.app
    try:
        return prepare_release(app, release_id, read_source(app, options, stage.path))
    except DevServerError as exc:
        raise Exit(f"wsgideploy: {app.source}: {exc}\nnothing was deployed", code=ExitCode.FAILED) from None
    except RefusedSourceError as exc:
        raise Exit(f"wsgideploy: {exc}\nnothing was deployed", code=ExitCode.FAILED) from None
    except SourceError as exc:
        raise Exit(f"wsgideploy: {exc}\nnothing was deployed", code=ExitCode.USAGE) from None


@dataclass(frozen=True)
class LocalPlan:
    """What a deploy sends one host: the release, its ``.env`` (content and names) and the
    fingerprint it records."""

    rel: LocalRelease
    env_file: tuple[bytes, list[str]] | None
    fingerprint: str


def prepare_local(targets: list[tuple[Stage, Host]], release_id: str,
                  options: SourceOptions | None = None) -> dict[str, LocalPlan]:
    """Pack each distinct source once and work out what each host gets, refusing what cannot
    be deployed: exit 1 for an unguarded ``app.run()``, exit 2 for a source or ``.env`` the
    inventory cannot deploy (a dirty tree, a bad ``--ref``, a missing variable, ...). The
    ``.env`` content enters the fingerprint only as a hash; it is never shown.
    ``deploy`` and ``plan`` both start here, so they always agree."""
    options = options or SourceOptions()
    releases: dict[tuple[object, ...], LocalRelease] = {}
    plans: dict[str, LocalPlan] = {}
    hashed: dict[Path | None, str] = {}  # each template directory read once per run, not once per host
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
        plans[host.alias] = LocalPlan(rel, env_file, release_fingerprint(stage, host, rel.source_hash,
                                                                         env_file[0] if env_file else None, hashed))
    return plans


def prepare_jobs(targets: list[tuple[Stage, Host]], release_id: str, force_unlock: bool,
                 options: SourceOptions | None = None) -> dict[str, HostDeploy]:
    """`prepare_local`, as deploy jobs: one record (who, what, which commit) per distinct release."""
    plans = prepare_local(targets, release_id, options)
    records: dict[int, RunRecord] = {}
    jobs: dict[str, HostDeploy] = {}
    for stage, host in targets:
        local = plans[host.alias]
        rel = local.rel
        record = records.setdefault(id(rel), RunRecord(action="deploy", release_id=release_id,
                                                       source_revision=rel.revision, source_hash=rel.source_hash,
                                                       force_unlock=force_unlock))
        jobs[host.alias] = HostDeploy(slot=Slot(stage, host), rel=rel, record=record, env_file=local.env_file,
                                 fingerprint=local.fingerprint)
    return jobs


def commit_note(jobs: dict[str, HostDeploy]) -> str:
    """`` of commit <12 hex digits>`` when every host gets the same git commit, else ''."""
    revisions = {job.rel.revision for job in jobs.values()}
    if len(revisions) != 1 or None in revisions:
        return ""
    return f" of commit {short_revision(revisions.pop() or '')}"


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
