"""Going live on one host, and coming back: the build, the go-live with its automatic rollback, and a host
that does both in one script.

Each function works on one `HostRun`; `wsgideploy.flow` decides, for the fleet, which hosts do what and when.
A failure before the switch removes the new release (nothing went live); a failure after it marks the release
bad and puts the previous one back (`go_live`), or says what stays when there is none.
"""
from __future__ import annotations

from .commands.journal import end as end_journal
from .commands.shell import script
from .errors import ExitCode, StepFailed
from .hostrun import HostRun, Step
from .lock_and_log import run_cleanup
from .source import LocalRelease
from .steps import (build_release_steps, build_steps, built, discard_release, go_live_script, go_live_steps,
                    mark_bad, upload_env_file, upload_tls_files, went_live)


def build_release(run: HostRun, rel: LocalRelease, env_file: tuple[bytes, list[str]] | None,
                  fingerprint: str = "") -> None:
    """Everything before the switch: .env and the certificate files (files mode, when they changed), then
    in one round trip upload, venv, configs and app check, hooks and the front-server site (and, for an
    acme app's host without its certificate, certbot through that site, then the site over HTTPS)."""
    try:
        send_settings(run, env_file)
        build_release_steps(run, rel, fingerprint)
    except BaseException:  # a failed step, Ctrl-C or SIGTERM: the release never went live
        discard_release(run, rel.release_id)
        raise


def send_settings(run: HostRun, env_file: tuple[bytes, list[str]] | None) -> None:
    """Before the build, each in a round trip of its own and only when it changed: ``shared/.env`` and (files
    mode) the certificate and key."""
    if env_file:
        upload_env_file(run, *env_file)
    upload_tls_files(run)


def go_live(run: HostRun, release_id: str, previous: str, with_site: bool = False,
            then: list[Step] | None = None) -> None:
    """Switch, reload, health-check (in one round trip); on any failure switch back to
    ``previous`` and say so. ``with_site`` first installs the release's front-server site;
    ``then`` are soft steps run in the same script once the release is healthy (prune)."""
    try:
        go_live_steps(run, release_id, with_site, then)
    except StepFailed as failure:
        raise failed_after_switch(run, release_id, previous, failure) from None


def build_and_go_live(run: HostRun, rel: LocalRelease, env_file: tuple[bytes, list[str]] | None,
                      fingerprint: str, previous: str, then: list[Step]) -> None:
    """`build_release` and `go_live` in ONE script, for a host that waits for no other (the only one of its
    run): the build's steps, then switch, reload, health and ``then``. A failure in the build part removes the
    release (nothing went live); one after the switch is `go_live`'s. An acme app's host still without its
    certificate goes the two-script way (its health check needs to know whether the site serves HTTPS)."""
    try:
        send_settings(run, env_file)
        build = build_steps(run, rel, fingerprint)
    except BaseException:
        discard_release(run, rel.release_id)
        raise
    if any(step.name == "certificate" for step in build):
        build_release(run, rel, None, fingerprint)
        go_live(run, rel.release_id, previous, then=then)
        return
    live = go_live_script(run, rel.release_id, then=then)
    after_switch = {step.name for step in live}
    before = run.facts.get("current", "")
    run.facts["current"] = rel.release_id
    try:
        facts = run.remote_steps(build + live, stdin=rel.archive)
    except StepFailed as failure:
        if failure.step in after_switch:
            raise failed_after_switch(run, rel.release_id, previous, failure) from None
        run.facts["current"] = before
        discard_release(run, rel.release_id)
        raise
    except BaseException:  # Ctrl-C or SIGTERM: a release that went live is never removed (discard_release)
        discard_release(run, rel.release_id)
        raise
    built(run, facts[:len(build)])
    went_live(run, facts[len(build):])


def failed_after_switch(run: HostRun, release_id: str, previous: str, failure: StepFailed) -> StepFailed:
    """A go-live that failed: the release marked bad and ``previous`` made live again; the error to raise
    (`ExitCode.ROLLED_BACK` when the rollback answers its health check)."""
    marked = mark_bad(run, release_id)
    if not previous:  # nothing to go back to: the go-live is over, as it stands (its journal too)
        run_cleanup(run, script(end_journal(run.layout)))
        return StepFailed(run.alias, failure.step, f"{failure.message}\n{left_in_place(run, release_id, marked)}")
    run.out.line(run.alias, f"{failure.step} failed after the switch: rolling back to {previous}")
    try:
        restore(run, previous)
    except StepFailed as second:
        return StepFailed(run.alias, second.step, f"{failure.message}\nTHE AUTOMATIC ROLLBACK TO {previous} ALSO "
                                                  f"FAILED: {second.message}")
    return StepFailed(run.alias, failure.step, f"{failure.message}\nrolled back to {previous}, which answers its "
                                               f"health check; {release_id} is marked bad", ExitCode.ROLLED_BACK)


def nothing_to_roll_back_to(run: HostRun, release_id: str) -> str:
    """Why a failed ``release_id`` cannot be rolled back on this host."""
    before = run.facts.get("previous_release", "")
    if before and before != release_id:
        return f"the release live before {release_id}, {before}, is marked bad: there is nothing to roll back to"
    return f"{release_id} was the first release on the host: there is nothing to roll back to"


def left_in_place(run: HostRun, release_id: str, marked: bool) -> str:
    """What a failed release with nothing to roll back to leaves on the host, and what to do next."""
    then = ("fix the cause and deploy again: a release marked bad is never taken as unchanged, so the next "
            "deploy builds a new one, even from the same source and settings" if marked else
            "it could NOT be marked bad: fix the cause and deploy again with --force (without it, a deploy "
            "of the same source and settings would take it as unchanged)")
    return (f"{nothing_to_roll_back_to(run, release_id)}.\n"
            f"{release_id} stays on the host{', marked bad' if marked else ''}: `current` points to it, and its "
            f"front-server site and app server stay as this deploy left them (they may not answer);\n{then}")


def restore(run: HostRun, release_id: str) -> None:
    """Make ``release_id`` live again: its front-server site, ``current``, its code and venv, a health check."""
    go_live_steps(run, release_id, with_site=True)
