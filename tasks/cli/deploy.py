"""``deploy``, ``rollback`` and ``unlock``."""
from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from typing import Iterator

from invoke import Context, task
from invoke.exceptions import Exit

from ..errors import ExitCode
from ..flow import deploy_host, rollback_host
from ..record import RunRecord
from ..source import (SourceError, check_for_dev_server, env_file_content, new_release_id, prepare_release,
                      source_revision)
from ..steps import unlock as unlock_host
from .runner import run_on_hosts, selected_or_exit

TRUST_HELP = "Accept and record the key of a host not yet in known_hosts (a changed key is always refused)."


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


@task(help={"trust-new-host-key": TRUST_HELP,
            "force-unlock": "Remove a deploy lock left by a run that is gone (says whose it was), then deploy."})
def deploy(c: Context, trust_new_host_key: bool = False, force_unlock: bool = False) -> None:
    """Deploy: upload a release, build its venv, check it, switch `current`, reload, health-check (rolls back if unhealthy)."""
    targets = selected_or_exit(c)
    release_id = new_release_id()
    releases, env_files, records = {}, {}, {}
    for stage, _ in targets:
        if stage.name in releases:
            continue
        try:
            check_for_dev_server(stage.app)
        except SourceError as exc:
            raise Exit(f"wsgideploy: {stage.app.source}: {exc}\nnothing was deployed", code=ExitCode.FAILED) from None
        try:
            releases[stage.name] = prepare_release(stage.app, release_id)
            env_files[stage.name] = env_file_content(stage.app, os.environ)
        except SourceError as exc:
            raise Exit(f"wsgideploy: {stage.path}: {exc}", code=ExitCode.USAGE) from None
        records[stage.name] = RunRecord(action="deploy", release_id=release_id,
                                        source_revision=source_revision(stage.app.source),
                                        source_hash=releases[stage.name].source_hash,
                                        force_unlock=force_unlock)
    print(f"release {release_id}: {len(targets)} host(s)")
    with sigterm_interrupts():
        run_on_hosts(c, lambda run: deploy_host(run, releases[run.stage.name], records[run.stage.name],
                                                env_files[run.stage.name]),
                     trust_new_host_key=trust_new_host_key)


@task(help={"to": "Release id to go back to (default: the newest good one before the live release).",
            "trust-new-host-key": TRUST_HELP,
            "force-unlock": "Remove a deploy lock left by a run that is gone, then roll back."})
def rollback(c: Context, to: str | None = None, trust_new_host_key: bool = False,
             force_unlock: bool = False) -> None:
    """Roll back to the previous good release (or --to <id>): its site, code and venv, then health-check."""
    record = RunRecord(action="rollback", force_unlock=force_unlock)
    with sigterm_interrupts():
        run_on_hosts(c, lambda run: rollback_host(run, to, record), trust_new_host_key=trust_new_host_key)


@task
def unlock(c: Context) -> None:
    """Remove the deploy lock on the selected hosts (after a deploy that died), saying whose it was."""
    run_on_hosts(c, unlock_host, stop_on_failure=False)
