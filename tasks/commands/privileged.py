"""What wsgideploy runs as root: one declared list per stage and host, and the sudoers drop-in that
allows exactly that list and nothing else.

Every command is an exact argv: the program by the absolute path Debian 12 has it at (sudo matches a
rule against the path it resolves), then fixed arguments. There is no ``ALL`` and no wildcard, so the
deploy user can run these commands and no others as root: no program of its choice, no file of its
choice written. A command with no arguments is written ``/usr/sbin/nginx ""`` (sudo: no arguments
allowed), never bare (any arguments). A file root installs is read from ``/dev/stdin`` only, which the
script feeds with text the controller rendered and sent in the script itself.

What each command is for is declared beside the script that runs it: the front servers'
``root_commands`` (tasks/commands/{nginx,apache,lighttpd}.py), the logrotate snippet here, the app's
systemd units in `app_unit_commands` (the supervision work extends it). tests/unit/test_privileged.py
checks that every command the scripts of a deploy, a rollback, a start and a stop run through
``sudo -n`` or ``as_root`` is declared. docs/security.md explains each command and the threat model.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..modes import front_server
from . import certbot, certificate
from .front import RootCommand, root_file, system_command
from .logs import LOGROTATE_PREFIX

if TYPE_CHECKING:
    from ..inventory import Stage
    from ..settings import App, Host

SUDOERS_DIR = "/etc/sudoers.d"
UNIT_DIR = "/etc/systemd/system"
APP_NAME = re.compile(r"^[a-z0-9_-]+$")
# A worker's name has no '-': then wsgideploy-<app>-<worker>.service splits one way only (the app is
# what comes before the last '-'), and no app's worker unit is another app's.
PROCESS_NAME = re.compile(r"^[a-z0-9_]+$")
USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]*$")
# Words sudoers reads literally: no space, comma, colon, equals, backslash, quote or glob character.
SAFE_WORD = re.compile(r"^[A-Za-z0-9_./@-]+$")
UNIT_VERBS = ("start", "stop", "restart", "enable", "disable", "reset-failed")
SLOTS = ("a", "b")  # the app server's two instances (docs/supervision.md)


def app_unit_commands(app_name: str, processes: Sequence[str] = ()) -> list[RootCommand]:
    """The systemd commands of the app's units: ``daemon-reload``; start, stop, restart, enable, disable and
    reset-failed of ``wsgideploy-<app>@a.service``, ``@b.service`` and ``wsgideploy-<app>-<process>.service``
    for each of ``processes`` (the stage's ``[processes]`` names), and ``enable --quiet``, ``disable --quiet``,
    the same with ``--no-reload``, ``stop --no-block`` of the two instances, and the last 20 journal lines of
    each (as tasks/recipes/systemd.sh runs them); the unit files installed
    from stdin, and removed (``uninstall``).

    Names are exact (no wildcard), so no unit of another app matches: an app name is ``[a-z0-9_-]+`` and a
    process name ``[a-z0-9_]+`` (no ``-``; see `PROCESS_NAME`)."""
    if not APP_NAME.match(app_name):
        raise ValueError(f"an app name is [a-z0-9_-]+, not {app_name!r}")
    for process in processes:
        if not PROCESS_NAME.match(process):
            raise ValueError(f"a process name is [a-z0-9_]+ (no '-': it would make unit names ambiguous), "
                             f"not {process!r}")
    units = [f"wsgideploy-{app_name}@{slot}.service" for slot in SLOTS]
    units += [f"wsgideploy-{app_name}-{process}.service" for process in processes]
    files = [f"wsgideploy-{app_name}@.service"] + units[len(SLOTS):]
    commands = [system_command("systemctl", "daemon-reload", why="systemd reads the unit files installed")]
    for unit in units:
        commands += [system_command("systemctl", verb, unit, why=f"{verb} the unit (the app's supervision)")
                     for verb in UNIT_VERBS]
        commands += [system_command("systemctl", verb, "--quiet", unit, why=f"{verb} it, silently")
                     for verb in ("enable", "disable")]
        commands += [system_command("systemctl", verb, "--quiet", "--no-reload", unit,
                                    why=f"{verb} it without a daemon-reload (its links count from the next boot)")
                     for verb in ("enable", "disable")]
        if unit in units[:len(SLOTS)]:
            commands.append(system_command("systemctl", "stop", "--no-block", unit,
                                           why="retire the old instance: it finishes its requests after the deploy returns"))
        commands.append(system_command("journalctl", "-u", unit, "-n", "20", "--no-pager", "-o", "cat",
                                       why="its last journal lines, shown when it fails (the group adm reads "
                                           "them without root)"))
    commands += [root_file(f"{UNIT_DIR}/{name}", "the unit file, rendered on the controller") for name in files]
    commands += [system_command("rm", "-f", f"{UNIT_DIR}/{name}", why="uninstall: remove the unit file")
                 for name in files]
    return commands


def logrotate_commands(app: App) -> list[RootCommand]:
    """Install the app's logrotate snippet (rendered on the controller) as root's: logrotate skips others."""
    if not app.logrotate:
        return []
    snippet = f"{app.logrotate}/{LOGROTATE_PREFIX}{app.name}"
    return [root_file(snippet, "the logrotate snippet of shared/log, rendered on the controller (logrotate reads "
                               "root's only)"),
            system_command("rm", "-f", snippet, why="uninstall: remove the snippet")]


def tls_commands(app: App, sudo: bool) -> list[RootCommand]:
    """``[app.tls]``: certbot's (acme) or the uploaded files' (files) root commands; none without it, or
    when the front server's table says ``sudo = false`` (the deploy user does it as it is)."""
    if app.tls is None or not sudo:
        return []
    return certbot.root_commands(app) if app.tls.mode == "acme" else certificate.files_root_commands(app)


def app_root_commands(app: App, user: str, group: str) -> list[RootCommand]:
    """Create the app's root for the deploy user on a first deploy, where the user cannot (``prepare``);
    remove it with everything in it (``uninstall --purge``: its parent is root's, and the app wrote in shared/)."""
    return [system_command("install", "-d", "-o", user, "-g", group, app.root,
                           why="create the app root on a first deploy (`setup` does it beforehand)"),
            system_command("rm", "-rf", "--one-file-system", "--", app.root,
                           why="uninstall --purge: remove the app root, shared/ too (never another file system)")]


def declared_commands(stage: Stage, host: Host, processes: Sequence[str] = (),
                      group: str = "") -> dict[str, list[RootCommand]]:
    """What wsgideploy runs as root for ``stage`` on ``host``, by concern (``<app> front``, ``<app> logs``,
    ``<app> root``, ``<app> tls``, ``<app> units``). ``group`` is the deploy user's group (default: its name, as
    Debian's adduser makes it); ``processes`` the stage's worker processes."""
    stage = stage.for_host(host)
    app, user = stage.app, host.user or "deploy"
    front = front_server(app.proxy)
    declared = {f"{app.name} front": front.root_commands(getattr(stage, app.proxy), app.name),
                f"{app.name} logs": logrotate_commands(app),
                f"{app.name} tls": tls_commands(app, getattr(getattr(stage, app.proxy), "sudo", True)),
                f"{app.name} root": app_root_commands(app, user, group or user)}
    if app.supervisor != "none":
        declared[f"{app.name} units"] = app_unit_commands(app.name, processes or tuple(stage.processes))
    return {concern: commands for concern, commands in declared.items() if commands}


def privileged_commands(stage: Stage, host: Host, processes: Sequence[str] = (),
                        group: str = "") -> list[RootCommand]:
    """`declared_commands`, as one list."""
    return [command for commands in declared_commands(stage, host, processes, group).values()
            for command in commands]


def dropin_path(user: str) -> str:
    """``/etc/sudoers.d/wsgideploy-<user>`` (sudo reads files there whose names have no ``.`` or ``~``)."""
    return f"{SUDOERS_DIR}/wsgideploy-{_checked_user(user)}"


def sudoers_line(command: RootCommand) -> str:
    """One command as sudoers reads it: the program and its exact arguments (``""``: none allowed)."""
    program, *args = command.argv
    if not program.startswith("/"):
        raise ValueError(f"{program!r}: sudoers needs the program's absolute path")
    for word in command.argv:
        if not SAFE_WORD.match(word):
            raise ValueError(f"{word!r} in {' '.join(command.argv)!r} is not a word sudoers reads literally")
    return " ".join([program, *args]) if args else f'{program} ""'


def sudoers_dropin(user: str, declared: Mapping[str, Sequence[RootCommand]]) -> str:
    """The text of `dropin_path` for ``user``: a ``Cmnd_Alias`` per concern of ``declared`` (as
    `declared_commands` gives, or several stages' merged), each command's reason above it, and one rule
    that lets ``user`` run those, as root, without a password. It passes ``visudo -cf``."""
    user = _checked_user(user)
    lines = [f"# {dropin_path(user)}: what wsgideploy runs as root for {user}, and nothing else.",
             "# Written from tasks/commands/privileged.py (docs/security.md). Check it with: visudo -cf <file>", ""]
    aliases = []
    for concern, commands in declared.items():
        if not commands:
            continue
        alias = "WSGIDEPLOY_" + re.sub(r"[^A-Z0-9]+", "_", f"{user} {concern}".upper()).strip("_")
        aliases.append(alias)
        lines.append(f"# {concern}:")
        lines += [f"#   {sudoers_line(c)}: {c.why}" for c in commands]
        entries = list(dict.fromkeys(sudoers_line(c) for c in commands))
        lines.append(f"Cmnd_Alias {alias} = " + ", \\\n    ".join(entries))
        lines.append("")
    if aliases:
        lines.append(f"{user} ALL=(root) NOPASSWD: {', '.join(aliases)}")
    return "\n".join(lines) + "\n"


def _checked_user(user: str) -> str:
    if not USER_NAME.match(user) or len(user) > 32:
        raise ValueError(f"not a user name sudoers can name: {user!r}")
    return user
