"""The deploy and the rollback, each read top to bottom as its list of steps.

A deploy of many hosts goes in phases, each run on every host side by side:

1. ``prepare``  connect, take each host's lock, read its facts; a host whose live
   release has the same fingerprint (source, settings, env) and is not marked bad is a no-op;
2. ``build``    upload, .env, venv, configs and app check, Django's steps, hooks, front-server site (with
   ``[app.tls]``: the certificate files, or certbot's certificate, before the site serves HTTPS); the only
   host that builds in a run goes on to 3-5 in the same script (`going_live.build_and_go_live`);
3. ``switch``   batch by batch: switch ``current``, reload, health-check;
4. ``prune``    housekeeping on each host that went live (in its switch script; a warning if it fails);
5. ``finish``   log the outcome and release the lock, whatever happened (a host alone in the last batch
   does it in its switch script, once healthy: nothing after can send it back).

Until the first switch a failure on any host leaves every host untouched (the
new releases are removed), so a failed build never splits the fleet. A host
that fails after its switch rolls itself back; the rollout then stops, and the
hosts switched earlier in the run go back to their previous release too
(unless told not to). The rollback holds the lock from ``prepare`` to the end.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from .commands.journal import end as end_journal, parse as parse_journal
from .commands.shell import script
from .errors import ExitCode, HostResult, StepFailed
from .fingerprint import is_no_op
from .fleet import Fleet, Slot
from .python_version import python_problem
from .record import RunRecord, describe_holder
from .rollout import batches
from .source import LocalRelease
from .hostrun import HostRun, Step
from .lock_and_log import finish, finish_step, run_cleanup, unlock
from .going_live import build_and_go_live, build_release, go_live, nothing_to_roll_back_to, restore
from .steps import check_host, discard_release, mark_bad, prune_step, read_releases


@dataclass
class RolloutOptions:
    """How a deploy goes live across hosts."""

    batch_size: int | str | None = None   # hosts switched together: a count, "25%", or all (None)
    rollback_on_failure: bool = True        # a failed batch also rolls back hosts switched earlier
    force: bool = False                     # deploy even where the live release is the same


@dataclass
class HostDeploy:
    """One host's part in a deploy: what it gets, and how far it got."""

    slot: Slot
    rel: LocalRelease
    record: RunRecord
    fingerprint: str = ""
    env_file: tuple[bytes, list[str]] | None = None
    previous: str = ""
    locked: bool = False
    built: bool = False
    switched: bool = False
    started: float = 0.0

    @property
    def run(self) -> HostRun:
        assert self.slot.run is not None
        return self.slot.run


def deploy_fleet(fleet: Fleet, jobs: dict[str, HostDeploy], options: RolloutOptions) -> None:
    """Deploy to every host of ``fleet``: prepare, build, switch in batches, prune, finish."""
    try:
        fleet.connect()
        if not fleet.failures():
            fleet.each(lambda slot: prepare_host(jobs[slot.alias], options.force))
        building = [s for s in fleet.live() if s.result != HostResult.NOOP]
        for slot in building:  # a hook that runs once runs on one of the hosts that build
            slot.run.peers = tuple(s.host for s in building)  # type: ignore[union-attr]
        if not fleet.failures() and len(building) == 1:  # no other host to wait for: one script
            fleet.each(lambda slot: build_and_switch(jobs[slot.alias]), building)
            return
        if not fleet.failures():
            fleet.each(lambda slot: build_host(jobs[slot.alias]), building)
        if fleet.failures():
            stop_before_switch(fleet, jobs)
            return
        switch_in_batches(fleet, jobs, building, options)  # each healthy host prunes in the same script
    finally:
        finish_hosts(fleet, jobs)


def prepare_host(job: HostDeploy, force: bool) -> None:
    """``prepare``: lock, facts; a host whose live release has this fingerprint needs nothing,
    unless that release is marked bad (it failed here): then a new one is built, and a failure
    of it has nothing to roll back to."""
    run = job.run
    take_lock(run, job.record)
    job.locked, job.started = True, time.monotonic()
    app = run.stage.app
    if run.facts.get("release_taken") == "yes":  # made by a run from elsewhere in the same second
        raise StepFailed(run.alias, "prepare", f"release {job.rel.release_id} is already on this host (another deploy "
                                               "made it in the same second); nothing was changed: run the deploy again")
    problem = python_problem(app.source, app.python, run.facts.get("python_version", ""))
    if problem:  # before anything is uploaded
        raise StepFailed(run.alias, "python", problem)
    live, live_bad = run.facts.get("fingerprint", ""), run.facts.get("live_bad") == "yes"
    run.facts["previous_release"] = run.facts.get("current", "")
    job.previous = "" if live_bad else run.facts["previous_release"]  # never roll back onto a bad release
    if force:
        return
    if is_no_op(job.fingerprint, live, live_bad):
        job.slot.result = HostResult.NOOP
        run.out.line(run.alias, f"unchanged: the live release {run.facts['current']} has this source and "
                                "settings; nothing to deploy (--force deploys anyway)")
    elif live_bad and live == job.fingerprint:
        run.out.line(run.alias, f"the live release {run.facts['current']} has this source and settings but is marked "
                                "bad (it failed on this host): deploying a new release")


def build_host(job: HostDeploy) -> None:
    """Everything before the switch on one host."""
    build_release(job.run, job.rel, job.env_file, job.fingerprint)
    job.built = True
    job.slot.result = HostResult.BUILT


def build_and_switch(job: HostDeploy) -> None:
    """The only host that builds in this run: build and go live in one script (`build_and_go_live`), which
    also prunes, logs the run and gives the lock back once healthy (nothing else can send this host back)."""
    build_and_go_live(job.run, job.rel, job.env_file, job.fingerprint, job.previous, once_healthy(job, True))
    went_live(job)


def stop_before_switch(fleet: Fleet, jobs: dict[str, HostDeploy]) -> None:
    """A host failed before any switch: remove the new release everywhere; nothing went live."""
    built = [s for s in fleet.live() if jobs[s.alias].built]
    if built:
        fleet.out.line("", f"a host failed before the switch: removing the new release from "
                           f"{', '.join(s.alias for s in built)}; no host was switched")
    for slot in fleet.live():
        if slot.result != HostResult.NOOP:
            slot.result, slot.message = HostResult.NOT_SWITCHED, "another host failed before the switch"
    fleet.each(lambda slot: discard(jobs[slot.alias]), built)


def discard(job: HostDeploy) -> None:
    discard_release(job.run, job.rel.release_id)
    job.built = False


def switch_in_batches(fleet: Fleet, jobs: dict[str, HostDeploy], hosts: list[Slot],
                      options: RolloutOptions) -> None:
    """Switch ``hosts`` batch by batch, each batch healthy before the next; stop at the first failed one."""
    groups = batches(hosts, options.batch_size)
    for number, group in enumerate(groups, 1):
        if len(groups) > 1:
            fleet.out.line("", f"batch {number}/{len(groups)}: {', '.join(s.alias for s in group)}")
        # alone in the last batch, a host that is healthy can need no going back: it also finishes there
        alone_last = number == len(groups) and len(group) == 1
        failed = fleet.each(lambda slot: switch_host(jobs[slot.alias], fold_finish=alone_last), group)
        if failed:
            stop_rollout(fleet, jobs, [s for g in groups[number:] for s in g], options)
            return


def switch_host(job: HostDeploy, fold_finish: bool = False) -> None:
    """Switch, reload, health-check (a failure rolls this host back itself). ``fold_finish``: once healthy,
    the same script also logs the run and releases the lock (`finish_step`), when nothing after can send
    this host back."""
    job.built = False  # from here the release has been live: it is kept (marked bad if it fails)
    go_live(job.run, job.rel.release_id, job.previous, then=once_healthy(job, fold_finish))
    went_live(job)


def once_healthy(job: HostDeploy, fold_finish: bool) -> list[Step]:
    """The soft steps of a go-live script, once the release is healthy: prune, and with ``fold_finish`` the
    run logged and the lock given back."""
    then = [prune_step(job.run)]
    if fold_finish:
        entry = job.record.log_entry(job.slot.alias, job.rel.release_id, HostResult.OK, None)
        then.append(finish_step(job.run, job.record.token, entry, time.monotonic() - job.started))
    return then


def went_live(job: HostDeploy) -> None:
    """After a go-live that succeeded: the host is switched and OK; still locked unless its script finished."""
    job.switched = True
    job.slot.result = HostResult.OK
    job.locked = job.run.facts.get("unlocked") != "yes"


def stop_rollout(fleet: Fleet, jobs: dict[str, HostDeploy], not_reached: list[Slot],
                 options: RolloutOptions) -> None:
    """After a failed batch: unswitched hosts drop the new release; switched ones go back (if asked)."""
    if not_reached:
        fleet.out.line("", f"rollout stopped: {', '.join(s.alias for s in not_reached)} keep their live release")
        for slot in not_reached:
            slot.result = HostResult.NOT_SWITCHED
        fleet.each(lambda slot: discard(jobs[slot.alias]), not_reached)
    switched = [s for s in fleet.live() if jobs[s.alias].switched]
    if not switched:
        return
    if not options.rollback_on_failure:
        fleet.out.line("", f"--no-rollback-on-failure: {', '.join(s.alias for s in switched)} stay on the "
                           "new release")
        return
    fleet.out.line("", f"rolling back the hosts switched in this run: {', '.join(s.alias for s in switched)}")
    fleet.each(lambda slot: roll_back_switched(jobs[slot.alias]), switched)


def roll_back_switched(job: HostDeploy) -> None:
    """Put a healthy host that went live in this run back on its previous release."""
    run, release_id = job.run, job.rel.release_id
    if not job.previous:
        raise StepFailed(run.alias, "rollback", f"{nothing_to_roll_back_to(run, release_id)}, so it stays live")
    mark_bad(run, release_id)
    restore(run, job.previous)
    job.switched = False
    job.slot.fail(ExitCode.ROLLED_BACK, f"rolled back to {job.previous} because another host failed",
                  HostResult.ROLLED_BACK)


def finish_hosts(fleet: Fleet, jobs: dict[str, HostDeploy]) -> None:
    """Log each host's outcome and release its lock (best effort; an interrupt cannot skip it)."""
    def finish_one(slot: Slot) -> None:
        job = jobs[slot.alias]
        if job.built and not job.switched and slot.result != HostResult.OK:
            discard(job)  # interrupted between build and switch
        result = (HostResult.INTERRUPTED if slot.result in (HostResult.PENDING, HostResult.BUILT)
                  else slot.result)
        finish(job.run, job.record.token,
               job.record.log_entry(slot.alias, job.previous if result == HostResult.NOOP else job.rel.release_id, result,
                                    time.monotonic() - job.started, slot.message))
    locked = [s for s in fleet.slots if s.run is not None and jobs[s.alias].locked]
    fleet.each(finish_one, locked)


@contextmanager
def holding_lock(run: HostRun, record: RunRecord, release: Callable[[], str]) -> Iterator[float]:
    """Take the host's lock, run the body (given when the lock was taken), then log its outcome and release
    the lock, whatever happened (unless the body's go-live script did, once healthy: `finish_step`).

    ``release`` names the release the run acted on, once the body has chosen it.
    """
    take_lock(run, record, with_releases=record.action == "rollback")
    started = time.monotonic()
    result, message = HostResult.FAILED, ""
    try:
        yield started
        result = HostResult.OK
    except StepFailed as failure:
        result = HostResult.ROLLED_BACK if failure.code == ExitCode.ROLLED_BACK else HostResult.FAILED
        message = failure.message
        raise
    except BaseException:
        result = HostResult.INTERRUPTED
        raise
    finally:
        if run.facts.get("unlocked") != "yes":  # else the go-live script finished (`finish_step`)
            finish(run, record.token, record.log_entry(run.alias, release(), result,
                                                       time.monotonic() - started, message))


def take_lock(run: HostRun, record: RunRecord, with_releases: bool = False) -> None:
    """``prepare``: the layout, the lock, the facts (and the releases). A held lock names its holder."""
    try:
        check_host(run, record.lock_owner(), record.force_unlock, with_releases, new_release=record.release_id)
    except StepFailed as failure:
        if failure.code == ExitCode.LOCKED:
            raise StepFailed(run.alias, "prepare",
                             f"another deploy holds the lock: {describe_holder(failure.facts.get('holder', ''))}. "
                             "If it is gone, clear the lock with `wsgideploy unlock` or `deploy --force-unlock`.",
                             ExitCode.LOCKED, failure.facts) from None
        raise
    if run.facts.get("switching"):
        repair_interrupted(run)


def repair_interrupted(run: HostRun) -> None:
    """A go-live that a dead run left half done (its journal, commands/journal.py): finish it, the release
    checked by its health check, or go back to the release it replaced; say which. Holding the lock."""
    found = parse_journal(run.facts.pop("switching", ""))
    if found is None:
        return
    # What prepare read describes the host before the repair: no no-op against it, the releases read again.
    run.facts["fingerprint"], run.releases = "", None
    before, after = found
    run.out.line(run.alias, f"a go-live was interrupted ({before or 'no release'} -> {after}): repairing it")
    if run.facts.get("switching_to") == "ok":
        try:
            go_live(run, after, before, with_site=True)
        except StepFailed as failure:
            if failure.code == ExitCode.ROLLED_BACK:
                run.out.line(run.alias, f"repaired: {after} failed its health check; {before} serves again")
            elif not before:  # the first release: it stays, marked bad, and the run goes on (a deploy fixes it)
                run.out.line(run.alias, f"repaired as far as it goes: {after} failed its health check, is marked "
                                        "bad, and no release was live before it")
            else:
                raise
            return
        run.out.line(run.alias, f"repaired: the go-live of {after} finished, and it answers its health check")
    elif before:
        restore(run, before)
        run.out.line(run.alias, f"repaired: {after} is {run.facts.get('switching_to', 'gone')}; {before} serves again")
    else:  # nothing to finish, nothing to go back to: the journal goes, and the run goes on
        run_cleanup(run, script(end_journal(run.layout)))
        run.out.line(run.alias, f"repaired: nothing to finish or go back to ({after} is "
                                f"{run.facts.get('switching_to', 'gone')}, and no release was live before it)")
        return
    run.facts["previous_release"] = run.facts["current"]


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
    with holding_lock(run, record, lambda: chosen["release"]) as started:
        with run.out.step(run.alias, "select") as step:
            found = run.releases or read_releases(run)  # read by prepare, in its round trip
            try:
                chosen["release"] = choose_rollback_target(found.ids, found.current, to, found.bad)
            except ValueError as exc:
                raise StepFailed(run.alias, "select", str(exc)) from None
            step.detail = f"{found.current or 'none'} -> {chosen['release']}"
        done = finish_step(run, record.token, record.log_entry(run.alias, chosen["release"], HostResult.OK, None),
                           time.monotonic() - started)
        # with the site of the release going back live; logged and unlocked in the same script once healthy
        go_live(run, chosen["release"], found.current, with_site=True, then=[done])


def unlock_host(run: HostRun) -> None:
    """``unlock``: remove the lock whoever holds it; then, holding a lock of its own, repair a go-live its
    holder left half done (`repair_interrupted`, through `take_lock`)."""
    unlock(run)
    if run.facts.pop("switching", ""):
        with holding_lock(run, RunRecord(action="repair"), lambda: run.facts.get("current", "")):
            pass
