"""``setup``: prepare a fresh server for deploys; ``doctor``: check a host read-only, each problem with its fix."""
from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Context, task
from invoke.exceptions import Exit

from ..errors import ExitCode
from .runner import (
    ROLES_HELP,
    TRUST_HELP,
    exit_if_failed,
    pool_size,
    run_on_hosts,
    selected_or_exit,
)

if TYPE_CHECKING:
    from ..fleet import Slot


@task(help={"plan": "Show what setup would change on each host, and change nothing.",
            "roles": ROLES_HELP, "trust-new-host-key": TRUST_HELP})
def setup(c: Context, plan: bool = False, roles: str | None = None, trust_new_host_key: bool = False) -> None:
    """Prepare a fresh Debian 12 / Ubuntu 22.04+ server as setup_user: packages, deploy and app users, app root, sudoers.

    Idempotent: a second run changes nothing and says "unchanged" for each item; --plan only says what
    it would change. Exit 2 on an unsupported distribution, 4 when setup_user is neither root nor
    allowed passwordless sudo.
    """
    from dataclasses import replace

    from ..errors import HostResult
    from ..fleet import Fleet
    from ..provision import SetupRefused, deploy_user_of, public_key, setup_host
    from ..runlog import run_reporter, task_name
    from .results import close_run
    targets = selected_or_exit(c, roles)
    try:  # every host's deploy user and key, before any connection
        wanted = {host.alias: (deploy_user_of(stage, host), public_key(host.identity, host.alias))
                  for stage, host in targets}
    except SetupRefused as exc:
        raise Exit(f"wsgideploy: {exc}", code=ExitCode.USAGE) from None
    logins = [(stage, replace(host, user=host.setup_user)) for stage, host in targets]
    fleet = Fleet(logins, run_reporter(task_name(c.config, "setup"), config=c.config), parallel=pool_size(targets),
                  trust_new_host_key=trust_new_host_key)

    def one(slot: Slot) -> None:
        assert slot.run is not None
        unchanged = setup_host(slot.run, *wanted[slot.alias], plan=plan)
        slot.result = HostResult.NOOP if unchanged else HostResult.OK
    try:
        fleet.connect()
        fleet.each(one)
    except KeyboardInterrupt:
        close_run(fleet.out, fleet, interrupted=True)
        raise
    finally:
        fleet.close()
    if plan:
        close_run(fleet.out, fleet, action="setup --plan")
    exit_if_failed(fleet)


@task(help={"roles": ROLES_HELP})
def doctor(c: Context, roles: str | None = None) -> None:
    """Check a host read-only as the deploy user: packages, app user, app root, sudoers, systemd, the certificate ([app.tls]); each problem with its fix (exit 1)."""
    from ..provision import doctor_host
    run_on_hosts(c, doctor_host, stop_on_failure=False, parallel=pool_size(selected_or_exit(c, roles)), roles=roles)
