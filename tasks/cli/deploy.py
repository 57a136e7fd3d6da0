"""``deploy`` and ``rollback``."""
from __future__ import annotations

from invoke import Context, task

from ..flow import deploy_host, rollback_host
from ..source import SourceError, new_release_id, prepare_release
from .runner import run_on_hosts, selected_or_exit

from invoke.exceptions import Exit

from ..errors import ExitCode


@task(help={"trust-new-host-key": "Accept and record the key of a host not yet in known_hosts."})
def deploy(c: Context, trust_new_host_key: bool = False) -> None:
    """Deploy the app: upload a release, build its venv, check it, switch `current`, reload, health-check."""
    targets = selected_or_exit(c)
    release_id = new_release_id()
    releases = {}
    for stage, _ in targets:
        if stage.name not in releases:
            try:
                releases[stage.name] = prepare_release(stage.app, release_id)
            except SourceError as exc:
                raise Exit(f"wsgideploy: {stage.path}: {exc}", code=ExitCode.USAGE) from None
    print(f"release {release_id}: {len(targets)} host(s)")
    run_on_hosts(c, lambda run: deploy_host(run, releases[run.stage.name]),
                 trust_new_host_key=trust_new_host_key)


@task(help={"to": "Release id to go back to (default: the one before the live release).",
            "trust-new-host-key": "Accept and record the key of a host not yet in known_hosts."})
def rollback(c: Context, to: str | None = None, trust_new_host_key: bool = False) -> None:
    """Roll back to the previous release (or --to <id>): its site, code and venv, then health-check."""
    run_on_hosts(c, lambda run: rollback_host(run, to), trust_new_host_key=trust_new_host_key)
