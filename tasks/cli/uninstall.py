"""``uninstall``: remove the app from the selected hosts (docs/uninstall.md)."""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from invoke import Context, task
from invoke.exceptions import Exit

from ..errors import ExitCode
from .runner import ROLES_HELP, run_on_hosts, selected_or_exit

if TYPE_CHECKING:
    from ..inventory import Host, Stage

CI_FALSE = ("", "0", "false", "no")


def confirm(targets: list[tuple[Stage, Host]], purge: bool) -> None:
    """Ask a person at a terminal to type the app's name; anywhere else (CI, no terminal), exit 2 naming --yes."""
    names = sorted({stage.app.name for stage, _ in targets})
    hosts = ", ".join(host.alias for _, host in targets)
    what = (f"uninstall removes {' and '.join(names)} from {hosts}: app server, units, front-server site, "
            f"logrotate snippet, releases and venvs" + (", and shared/ with the app's data and .env (--purge)"
                                                         if purge else " (shared/ stays)"))
    if os.environ.get("CI", "").strip().lower() not in CI_FALSE or not sys.stdin.isatty():
        raise Exit(f"wsgideploy: {what}. It asks before it does, and cannot ask here "
                   f"({'CI' if os.environ.get('CI', '').strip().lower() not in CI_FALSE else 'no terminal'}): "
                   "pass --yes to go on", code=ExitCode.USAGE)
    expected = names[0] if len(names) == 1 else "yes"
    print(f"{what}.", file=sys.stderr)
    try:
        answer = input(f"Type {expected!r} to go on: ")
    except EOFError:
        answer = ""
    if answer.strip() != expected:
        raise Exit("wsgideploy: uninstall cancelled; nothing was changed", code=ExitCode.USAGE)


@task(help={"purge": "Remove shared/ too (the app's data, logs and .env): the whole app root.",
            "yes": "Do not ask first (needed where nobody can answer: CI, no terminal).",
            "roles": ROLES_HELP})
def uninstall(c: Context, purge: bool = False, yes: bool = False, roles: str | None = None) -> None:
    """Remove the app from the hosts: app server, units, front-server site, logrotate snippet, releases (shared/ stays unless --purge); asks first unless --yes."""
    from ..record import RunRecord
    from ..removal import uninstall_host
    targets = selected_or_exit(c, roles)
    if not yes:
        confirm(targets, purge)
    record = RunRecord(action="uninstall")
    run_on_hosts(c, lambda run: uninstall_host(run, record, purge), roles=roles)
