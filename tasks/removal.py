"""``uninstall`` on one host, as named phases: take the lock, stop the app server, take its site out of
the front server, remove its units and logrotate snippet, remove its files (``shared/`` stays unless
``--purge``). Each phase says what it found and did; a failure leaves the later phases undone and the
lock released (docs/uninstall.md)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .commands import lock, uninstall
from .commands.shell import q, script
from .errors import ExitCode, StepFailed
from .hostrun import Step
from .record import RunRecord, describe_holder
from .lock_and_log import run_cleanup

if TYPE_CHECKING:
    from .hostrun import HostRun


def take_lock(run: HostRun, record: RunRecord) -> dict[str, str]:
    """``lock``: the facts ``root`` and ``current``, and the deploy lock where the root exists (a held
    lock names its holder: nothing is removed under a running deploy)."""
    layout, app = run.layout, run.stage.app
    body = script(uninstall.facts(app, layout),
                  f"if [ -d {q(layout.root)} ]; then\nmkdir -p {q(layout.deploy_dir)}\n"
                  f"{lock.acquire(layout, record.lock_owner()).strip()}\nfi")
    try:
        return run.remote("lock", body, describe=lambda f: (
            f"lock taken; live release {f.get('current') or 'none'}" if f.get("root") == "present"
            else f"no app root {layout.root}"))
    except StepFailed as failure:
        if failure.code == ExitCode.LOCKED:
            raise StepFailed(run.alias, "lock", "a deploy holds the lock: "
                             f"{describe_holder(failure.facts.get('holder', ''))}; nothing was removed "
                             "(uninstall once it is done, or `unlock` if it is gone)", ExitCode.LOCKED) from None
        raise


def removal_steps(run: HostRun, purge: bool) -> list[Step]:
    """The phases after the lock, in the order they run (one round trip)."""
    app, layout = run.stage.app, run.layout
    processes = tuple(run.stage.processes)

    return [
        Step("stop", run.server.stop(run.server_context),
             describe=lambda f: f"{app.server} {f.get('action', 'stopped')}"),
        Step("site", run.proxy.remove_site(run.proxy_settings, app.name),
             describe=lambda f: f"{app.proxy} site {f.get('site', '?')}"
                                + (f", {app.proxy} {f[app.proxy]}" if f.get(app.proxy) else "")),
        Step("units", uninstall.remove_units(app, layout, processes), describe=said("units")),
        Step("logrotate", uninstall.remove_logrotate(app, layout), describe=said("logrotate")),
        Step("files", uninstall.remove_files(app, layout, purge), describe=said("files")),
    ]


def said(name: str) -> Callable[[dict[str, str]], str]:
    """A step's line: its fact ``name``."""
    return lambda facts: facts.get(name, "")


def kept_notes(run: HostRun, purge: bool) -> list[str]:
    """What uninstall leaves on the host, each with how to remove it."""
    from .commands.certificate import FILES_DIR
    from .commands.systemd import app_user_of
    app = run.stage.app
    notes = [] if purge else [f"kept {run.layout.shared} (the app's data and .env): `uninstall --purge` removes it"]
    if app.supervisor != "none":
        user = app_user_of(app)
        notes.append(f"kept the user {user} (where `setup` made it, `sudo userdel {user}` removes it)")
    if app.tls is not None and app.tls.mode == "acme":
        notes.append(f"kept the certificate of {app.server_name}: `sudo certbot delete --cert-name "
                     f"{app.server_name}` removes it")
    elif app.tls is not None:
        notes.append(f"kept the certificate and key in {FILES_DIR}/{app.name}/ (root's)")
    return notes


def uninstall_host(run: HostRun, record: RunRecord, purge: bool) -> None:
    """Remove the app from this host (see the module's docstring)."""
    facts = take_lock(run, record)
    locked = facts.get("root") == "present"
    try:
        run.remote_steps(removal_steps(run, purge))
    except BaseException:
        if locked:
            run_cleanup(run, script(lock.release(run.layout, record.token)))
        raise
    for note in kept_notes(run, purge):
        run.out.line(run.alias, note)
