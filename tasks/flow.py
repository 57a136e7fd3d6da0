"""The deploy and the rollback, each read top to bottom as its list of steps.

Until ``switch`` a failure leaves the live release untouched and removes the new
one. After ``switch`` a failure is rolled back automatically. Both hold the
host's deploy lock from ``prepare`` to the end, and both append to its deploy log.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

from .errors import ExitCode, StepFailed
from .record import RunRecord, describe_holder
from .source import LocalRelease
from .steps import (HostRun, build_venv, check_health, check_host, configure_release,
                    discard_release, finish, mark_bad, prune_releases, publish_proxy_site,
                    read_releases, reload_app_server, run_release_hooks, switch_release,
                    upload_env_file, upload_release)


def deploy_host(run: HostRun, rel: LocalRelease, record: RunRecord,
                env_file: tuple[bytes, list[str]] | None = None) -> None:
    """Deploy ``rel`` to one host."""
    with holding_lock(run, record, lambda: rel.release_id):
        previous = run.facts.get("current", "")
        build_release(run, rel, env_file)
        go_live(run, rel.release_id, previous)
        prune_releases(run)


@contextmanager
def holding_lock(run: HostRun, record: RunRecord, release: Callable[[], str]) -> Iterator[None]:
    """Take the host's lock, run the body, then log its outcome and release the lock, whatever happened.

    ``release`` names the release the run acted on, once the body has chosen it.
    """
    take_lock(run, record)
    started = time.monotonic()
    result, message = "failed", ""
    try:
        yield
        result = "ok"
    except StepFailed as failure:
        result = "rolled_back" if failure.code == ExitCode.ROLLED_BACK else "failed"
        message = failure.message
        raise
    except BaseException:
        result = "interrupted"
        raise
    finally:
        finish(run, record.token, record.log_entry(run.alias, release(), result,
                                                   time.monotonic() - started, message))


def take_lock(run: HostRun, record: RunRecord) -> None:
    """``prepare``: the layout, the lock, the facts. A held lock names its holder."""
    try:
        check_host(run, record.lock_owner(), record.force_unlock)
    except StepFailed as failure:
        if failure.code == ExitCode.LOCKED:
            holder = failure.message.partition("the deploy lock is held:")[2].strip() or "unknown"
            raise StepFailed(run.alias, "prepare",
                             f"another deploy holds the lock: {describe_holder(holder)}. If it is gone, "
                             "clear the lock with `fab unlock` or `deploy --force-unlock`.",
                             ExitCode.LOCKED) from None
        raise


def build_release(run: HostRun, rel: LocalRelease, env_file: tuple[bytes, list[str]] | None) -> None:
    """Everything before the switch: upload, .env, venv, configs and app check, hooks, nginx."""
    try:
        upload_release(run, rel)
        if env_file:
            upload_env_file(run, *env_file)
        build_venv(run, rel)
        configure_release(run, rel)
        run_release_hooks(run, rel.release_id)
        publish_proxy_site(run, rel.release_id)
    except BaseException:  # a failed step, Ctrl-C or SIGTERM: the release never went live
        discard_release(run, rel.release_id)
        raise


def go_live(run: HostRun, release_id: str, previous: str) -> None:
    """Switch, reload, health-check; on any failure switch back to ``previous`` and say so."""
    try:
        switch_release(run, release_id)
        reload_app_server(run)
        check_health(run)
    except StepFailed as failure:
        mark_bad(run, release_id)
        if not previous:
            raise StepFailed(run.alias, failure.step, failure.message +
                             "\nthis was the first release on the host: there is nothing to roll back to") from None
        run.out.line(run.alias, f"{failure.step} failed after the switch: rolling back to {previous}")
        try:
            restore(run, previous)
        except StepFailed as second:
            raise StepFailed(run.alias, second.step,
                             f"{failure.message}\nTHE AUTOMATIC ROLLBACK TO {previous} ALSO FAILED: "
                             f"{second.message}") from None
        raise StepFailed(run.alias, failure.step,
                         f"{failure.message}\nrolled back to {previous}, which answers its health check; "
                         f"{release_id} is marked bad", ExitCode.ROLLED_BACK) from None


def restore(run: HostRun, release_id: str) -> None:
    """Make ``release_id`` live again: its nginx site, ``current``, its code and venv, a health check."""
    publish_proxy_site(run, release_id)
    switch_release(run, release_id)
    reload_app_server(run)
    check_health(run)


def choose_rollback_target(releases: list[str], current: str, to: str | None,
                           bad: set[str] | frozenset[str] = frozenset()) -> str:
    """The release to go back to: ``to`` if given, else the newest good one before ``current``."""
    if to:
        if to not in releases:
            raise ValueError(f"release {to!r} is not on the host; it has: {', '.join(releases) or 'none'}")
        if to == current:
            raise ValueError(f"release {to!r} is already live")
        return to
    older = [r for r in releases if r < current and r not in bad] if current else []
    if not older:
        raise ValueError(f"there is no good release before the live one ({current or 'none'}) to roll back to")
    return older[-1]


def rollback_host(run: HostRun, to: str | None, record: RunRecord) -> None:
    """Go back to an earlier release (skipping bad ones unless named with ``to``)."""
    chosen = {"release": to or ""}
    with holding_lock(run, record, lambda: chosen["release"]):
        with run.out.step(run.alias, "select") as step:
            found = read_releases(run)
            try:
                chosen["release"] = choose_rollback_target(found.ids, found.current, to, found.bad)
            except ValueError as exc:
                raise StepFailed(run.alias, "select", str(exc)) from None
            step.detail = f"{found.current or 'none'} -> {chosen['release']}"
        publish_proxy_site(run, chosen["release"])  # the site of the release going back live
        go_live(run, chosen["release"], found.current)
