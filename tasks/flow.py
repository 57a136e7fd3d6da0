"""The deploy and the rollback, each read top to bottom as its list of steps."""
from __future__ import annotations

from .errors import StepFailed
from .source import LocalRelease
from .steps import (HostRun, build_venv, check_health, check_host, configure_release,
                    discard_release, publish_proxy_site, read_releases, reload_app_server,
                    switch_release, upload_release)


def deploy_host(run: HostRun, rel: LocalRelease) -> str:
    """Deploy ``rel`` to one host; return what the health check saw.

    Until ``switch``, a failure leaves the live release untouched and removes
    the new one. ``nginx`` runs before the switch because the site only names
    ``current`` and ``shared/`` paths, never a release id.
    """
    check_host(run)
    try:
        upload_release(run, rel)
        build_venv(run, rel)
        configure_release(run, rel)
        publish_proxy_site(run, rel.release_id)
    except StepFailed:
        discard_release(run, rel.release_id)
        raise
    switch_release(run, rel.release_id)
    reload_app_server(run)
    return check_health(run)


def choose_rollback_target(releases: list[str], current: str, to: str | None) -> str:
    """The release to go back to: ``to`` if given, else the one before ``current``."""
    if to:
        if to not in releases:
            raise ValueError(f"release {to!r} is not on the host; it has: {', '.join(releases) or 'none'}")
        if to == current:
            raise ValueError(f"release {to!r} is already live")
        return to
    older = [r for r in releases if r < current] if current else []
    if not older:
        raise ValueError(f"there is no release before the live one ({current or 'none'}) to roll back to")
    return older[-1]


def rollback_host(run: HostRun, to: str | None) -> str:
    """Go back to an earlier release: its nginx site, ``current``, and its own venv via a reload."""
    check_host(run)
    with run.out.step(run.alias, "select") as record:
        releases, current = read_releases(run)
        try:
            target = choose_rollback_target(releases, current, to)
        except ValueError as exc:
            raise StepFailed(run.alias, "select", str(exc)) from None
        record.detail = f"{current or 'none'} -> {target}"
    publish_proxy_site(run, target)
    switch_release(run, target)
    reload_app_server(run)
    return check_health(run)
