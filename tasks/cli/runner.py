"""Run one action on every selected host and turn failures into exit codes."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from invoke import Context
from invoke.exceptions import Exit

from ..errors import ExitCode
from ..rollout import DEFAULT_PARALLEL

if TYPE_CHECKING:  # the rest is imported when a task runs: `--list` needs none of it
    from ..fleet import Fleet
    from ..inventory import Host, Stage
    from ..output import Reporter
    from ..hostrun import HostRun

Action = Callable[["HostRun"], object]

ROLES_HELP = "Only the selected hosts with one of these roles (comma-separated, e.g. web or web,worker)."
TRUST_HELP = "Accept and record the key of a host not yet in known_hosts (a changed key is always refused)."
SOURCE_HELP = {
    "ref": "Deploy this commit (a branch, tag or sha) of the source's git repository instead of HEAD; "
           "the working tree does not matter.",
    "allow-dirty": "Deploy the working tree as it is when it has changes that are not committed "
                   "(default: refuse them, exit 2).",
    "expect-sha": "Refuse (exit 2, before connecting) unless the commit to deploy is this one "
                  "(its sha, or a prefix of 7 or more hex digits).",
}
PARALLEL_HELP = f"How many hosts to work on at once (default: [rollout] parallel, else {DEFAULT_PARALLEL})."


def role_list(roles: str | None) -> list[str]:
    """``"web, worker"`` -> ``["web", "worker"]``."""
    return [r.strip() for r in (roles or "").split(",") if r.strip()]


def selected_or_exit(c: Context, roles: str | None = None) -> list[tuple[Stage, Host]]:
    """The selected hosts (limited to ``roles``), or exit 2 with the inventory's own error."""
    from ..inventory import InventoryError, UnknownHostError
    from ..targets import NoTargetsError, select_targets
    if roles:
        c.config.wsgideploy_roles = role_list(roles)
    try:
        return select_targets(c)
    except (InventoryError, UnknownHostError, NoTargetsError) as exc:
        raise Exit(f"wsgideploy: {exc}", code=ExitCode.USAGE) from None


def pool_size(targets: list[tuple[Stage, Host]], parallel: int = 0) -> int:
    """``--parallel`` if given (not 0), else the stage's ``[rollout] parallel``, else the default."""
    if parallel:
        if parallel < 1:
            raise Exit("wsgideploy: --parallel must be at least 1", code=ExitCode.USAGE)
        return parallel
    rollout = getattr(targets[0][0], "rollout", None) if targets else None
    return getattr(rollout, "parallel", DEFAULT_PARALLEL)


def run_on_hosts(c: Context, action: Action, trust_new_host_key: bool = False,
                 stop_on_failure: bool = True, out: Reporter | None = None, parallel: int = 1,
                 roles: str | None = None, exit_on_failure: bool = True) -> Fleet:
    """Connect to each selected host (one connection each) and run ``action``, ``parallel`` at a time.

    With ``stop_on_failure`` nothing runs if a host cannot be reached, and hosts
    not yet started when one fails are left alone and named, so a fleet is never
    changed further after a failure. Returns the fleet, whose slots hold each
    host's result (``slot.value``); exits with the first failure's code unless
    ``exit_on_failure`` is false (then call `exit_if_failed` after using the results,
    which also prints the run's closing line).
    """
    from ..fleet import Fleet
    from ..runlog import run_reporter, task_name
    from .results import close_run
    targets = selected_or_exit(c, roles)
    out = out or run_reporter(task_name(c.config, getattr(action, "__name__", "run").strip("<>")),
                              config=c.config)
    fleet = Fleet(targets, out, parallel=parallel, trust_new_host_key=trust_new_host_key)
    try:
        fleet.connect()
        if stop_on_failure and fleet.failures():
            fleet.out.line("", "not attempted, because a host could not be reached: "
                               + (", ".join(s.alias for s in fleet.live()) or "none"))
        else:
            fleet.each(lambda slot: action(slot.run), stop_on_failure=stop_on_failure)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        close_run(fleet.out, fleet, interrupted=True)
        raise
    finally:
        fleet.close()
    if exit_on_failure:
        exit_if_failed(fleet)
    return fleet


def exit_if_failed(fleet: Fleet) -> None:
    """End the run with its closing line (unless it has one), then exit with the code of the
    first failure, naming every host that failed."""
    from .results import close_run
    close_run(fleet.out, fleet)
    failed = fleet.failures()
    if failed:
        names = ", ".join(slot.alias for slot in failed)
        raise Exit(f"wsgideploy: failed on {names}", code=fleet.first_failure_code())
