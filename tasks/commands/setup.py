"""What ``setup`` and ``doctor`` run on a host: pure builders over ``tasks/recipes/setup.sh``.

``setup`` is a list of items (`SetupItem`), each one script that compares the host with what
wsgideploy needs, changes what differs (or, planning, only says so) and reports one ``change`` fact.
The items go in an order that fails early: what the host is, then the packages (before any user is
made, so a mode whose packages cannot be installed changes nothing else), then the deploy user, the
app user, the app root and the sudoers drop-in. Every item runs as root: `as_root` runs it as it is
when the login is root, else through ``sudo -n``, else fails with the fact ``refused``.

``doctor`` is one read-only script, run as the deploy user, that reports one ``check_<name>`` fact
per check (`DOCTOR_CHECKS`); `doctor_results` reads them and adds each problem's fix.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..modes import app_server, front_server
from . import privileged
from .recipe import Script
from .systemd import app_user_of

if TYPE_CHECKING:
    from ..inventory import Stage
    from ..settings import App, Host

RECIPES = ("process", "setup")
# What every mode needs, whatever its servers: venvs, sudo for the drop-in, logrotate for the logs.
BASE_PACKAGES = ("python3-venv", "sudo", "logrotate", "acl")
PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")  # Debian policy: no space, no glob, no quote
# (distribution id, lowest version): Debian 12 and Ubuntu 22.04 and later
SUPPORTED = {"debian": (12,), "ubuntu": (22, 4)}


# What ``[app.tls]`` adds: certbot for acme (Debian's, with its certbot.timer), and lighttpd's TLS module,
# a package of its own (lighttpd only recommends it).
TLS_PACKAGES = {"acme": ("certbot",)}
TLS_FRONT_PACKAGES = {"lighttpd": ("lighttpd-mod-openssl",)}


def tls_packages(app: App) -> tuple[str, ...]:
    """The packages HTTPS needs on the host of ``app`` (none without ``[app.tls]``)."""
    if app.tls is None:
        return ()
    return (*TLS_PACKAGES.get(app.tls.mode, ()), *TLS_FRONT_PACKAGES.get(app.proxy, ()))


def host_packages(app: App) -> tuple[str, ...]:
    """The apt packages the host of ``app`` needs for its modes: the front server's, the base ones,
    the app server's (and what it needs behind this front server only), each once, in that order."""
    server, front = app_server(app.server), front_server(app.proxy)
    wanted = (*front.host_packages, *BASE_PACKAGES, *server.host_packages,
              *server.host_packages_behind.get(front.name, ()), *tls_packages(app))
    packages = tuple(dict.fromkeys(wanted))
    bad = [name for name in packages if not PACKAGE_NAME.match(name)]
    if bad:
        raise ValueError(f"not a Debian package name: {', '.join(bad)}")
    return packages


def sudoers_file(app: App) -> str:
    """The app's sudoers drop-in: one file per app (``wsgideploy-<name>``), so that two apps of one
    deploy user on one host each have their own, written and removed on their own. An app name has
    no dot (sudo skips files whose name has one)."""
    return f"{privileged.SUDOERS_DIR}/wsgideploy-{app.name}"


def sudoers_text(stage: Stage, host: Host) -> str:
    """The drop-in's text: the commands `privileged.declared_commands` lists for the app on ``host``
    (``host.user`` is the deploy user), as `privileged.sudoers_dropin` writes them. Its aliases name the
    user and the app, so the drop-ins of two apps never define one alias twice."""
    assert host.user is not None
    text = privileged.sudoers_dropin(host.user, privileged.declared_commands(stage, host))
    # The text's first line names the file; here there is one per app (see sudoers_file).
    return text.replace(privileged.dropin_path(host.user), sudoers_file(stage.app), 1)


def sudo_checks(stage: Stage, host: Host) -> list[str]:
    """Each root command of the drop-in as ``sudo -n -l`` is asked about it (doctor): its argv, one line."""
    return [" ".join(command.argv) for command in privileged.privileged_commands(stage, host)]


def distribution_problem(os_id: str, version: str, pretty: str) -> str | None:
    """Why ``setup`` refuses this distribution (from /etc/os-release), or None when it is supported."""
    lowest = SUPPORTED.get(os_id)
    try:
        parts = tuple(int(p) for p in version.split("."))
    except ValueError:
        parts = ()
    if lowest is not None and parts and parts >= lowest:
        return None
    return (f"unsupported distribution: detected {pretty} (ID={os_id}, VERSION_ID={version}); "
            "setup supports Debian 12 or later and Ubuntu 22.04 or later; nothing was changed")


@dataclass(frozen=True)
class SetupItem:
    """One item of ``setup``: its name on the output line, and its script (``body`` runs it as root)."""

    name: str
    script: str
    announce: bool = False  # a slow item (apt) prints its start too

    @property
    def body(self) -> str:
        """What is sent to the host: `script` as root (`as_root`)."""
        return as_root(self.script)


def as_root(body: str) -> str:
    """``body`` run as root: directly when the login is root, else with ``sudo -n`` (never a prompt);
    neither: the fact ``refused`` and the way out."""
    return Script("setup_as_root", {"body": body}, RECIPES).text()


def item_body(run: str, values: dict[str, str | int], plan: bool) -> str:
    """The script of one item: the recipe function ``run`` with ``values`` (``PLAN=1``: report only)."""
    return Script(run, {"PLAN": int(plan), **values}, RECIPES).text()


def system_script(app: App) -> str:
    """Read-only: the facts ``os_id``, ``os_version``, ``os_name``, ``login``, ``init`` and
    ``missing_packages`` (those of `host_packages` that are not installed, space-separated)."""
    return as_root(Script("setup_system", {"packages": " ".join(host_packages(app))}, RECIPES).text())


def setup_items(stage: Stage, host: Host, public_key: str, plan: bool = False,
                installs: bool = True) -> list[SetupItem]:
    """Every item of ``setup`` after the system check, in order, for ``stage``'s app on ``host`` (as it sees
    it; ``host.user`` is the deploy user). ``installs``: packages are missing (apt runs: a slow item)."""
    app, deploy_user = stage.app, host.user or ""

    app_user = app_user_of(app)
    return [
        SetupItem("packages", item_body("setup_packages", {"packages": " ".join(host_packages(app))}, plan),
                  announce=installs and not plan),
        SetupItem("deploy user", item_body("setup_deploy_user", {"deploy_user": deploy_user,
                                                             "public_key": public_key}, plan)),
        SetupItem("app user", item_body("setup_app_user", {"app_user": app_user, "deploy_user": deploy_user}, plan)),
        SetupItem("app root", item_body("setup_app_root", {"app_root": app.root, "deploy_user": deploy_user,
                                                       "app_user": app_user}, plan)),
        SetupItem("sudoers", item_body("setup_sudoers", {"sudoers_file": sudoers_file(app),
                                                     "sudoers_text": sudoers_text(stage, host)}, plan)),
    ]


def describe_change(change: str, plan: bool) -> str:
    """The detail of an item's line: ``unchanged``, or what it changed (``would: ...`` when planning)."""
    if not change or change == "unchanged":
        return "unchanged"
    return ("would: " if plan else "changed: ") + change


# --- doctor ---------------------------------------------------------------------------------

# (name on the line, fact key)
DOCTOR_CHECKS = (("systemd", "check_systemd"), ("packages", "check_packages"), ("app user", "check_app_user"),
                 ("app root", "check_app_root"), ("sudoers", "check_sudoers"))


def doctor_script(stage: Stage, host: Host) -> str:
    """The read-only checks of a host, as the deploy user ``host.user`` (``doctor_all`` of setup.sh)."""
    app = stage.app
    return Script("doctor_all", {
        "packages": " ".join(host_packages(app)), "app_user": app_user_of(app), "app_root": app.root,
        "sudoers_file": sudoers_file(app),
        "sudo_commands": "\n".join(sudo_checks(stage, host)),
    }, RECIPES).text()


@dataclass(frozen=True)
class DoctorResult:
    """One check of ``doctor``: its name, whether it passed, what was found, and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def doctor_results(facts: dict[str, str], alias: str, app: App, required_systemd: bool) -> list[DoctorResult]:
    """Each check's result from the facts of `doctor_script`, with the fix of each problem.

    A host without systemd as PID 1 is a problem only when ``required_systemd``
    (``supervisor = "systemd"``): otherwise wsgideploy runs the app through pidfiles there.
    """
    setup = f"wsgideploy -H {alias} setup"
    fixes = {
        "packages": lambda found: f"{setup} (or: sudo apt-get install {found})",
        "app user": lambda _: setup,
        "app root": lambda _: setup,
        "sudoers": lambda _: f"{setup} (writes {sudoers_file(app)})",
        "systemd": lambda _: "boot the host with systemd, or set [app] supervisor = \"none\" (pidfiles)",
    }
    results = []
    for name, key in DOCTOR_CHECKS:
        word, _, detail = facts.get(key, "missing the check did not report").partition(" ")
        ok = word == "ok"
        if name == "systemd" and not ok and not required_systemd:
            results.append(DoctorResult(name, True, detail + " (the app runs through pidfiles)"))
            continue
        results.append(DoctorResult(name, ok, detail, "" if ok else fixes[name](detail)))
    return results
