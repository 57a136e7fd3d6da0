"""``setup`` and ``doctor`` on one host: each item one script over the host's connection, one line each.

The scripts come from `wsgideploy.commands.setup` (bash in ``tasks/recipes/setup.sh``); they run
through the `HostRun` of the run like every step of a deploy, and each item's line goes through the
run's `Reporter`. ``setup`` logs in as the host's ``setup_user`` (the tasks pass a `Host` whose
``user`` is it); the deploy user is the inventory's ``user``.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .commands import setup as commands
from .errors import ExitCode, StepFailed
from .hostrun import HostRun
from .inventory import Host, Stage
from . import tls_state
from .protocol import parse_facts


class SetupRefused(Exception):
    """``setup`` cannot start for a host: a usage error (exit 2) named before connecting."""


def public_key(identity: str | None, alias: str) -> str:
    """The public key of the host's ``identity``: ``<identity>.pub``, else derived from the private key."""
    if not identity:
        raise SetupRefused(f"{alias}: setup needs the host's identity (its public key goes into the deploy "
                           "user's authorized_keys): set identity in its table")
    pub = Path(f"{identity}.pub")
    if pub.is_file():
        return " ".join(pub.read_text().split()[:2])
    import paramiko
    try:
        key = paramiko.PKey.from_path(identity)
    except (paramiko.SSHException, OSError, ValueError) as exc:
        raise SetupRefused(f"{alias}: cannot read the public key of {identity} ({exc}); "
                           f"put it in {pub}") from None
    return f"{key.get_name()} {key.get_base64()}"


def deploy_user_of(stage: Stage, host: Host) -> str:
    """The deploy user ``setup`` creates: the host's ``user``, which must be set and not be the app user,
    root or the setup_user, and whose drop-in sudoers can read (`SetupRefused` otherwise)."""
    if not host.user:
        raise SetupRefused(f"{host.alias}: setup needs the deploy user's name: set user in its table")
    if host.user == commands.app_user_of(stage.app):
        raise SetupRefused(f"{host.alias}: the deploy user and the app user are both {host.user!r}: the app "
                           "must not be able to write its code (set [app] app_user to another name)")
    if host.user == host.setup_user or host.user == "root":
        raise SetupRefused(f"{host.alias}: the deploy user {host.user!r} must not be root or the setup_user")
    try:  # the drop-in names paths and users literally: a value sudoers cannot read stops setup here
        commands.sudoers_text(stage, host)
    except ValueError as exc:
        raise SetupRefused(f"{host.alias}: no sudoers drop-in can allow this app's root commands: {exc}") from None
    return host.user


def _as_root(run: HostRun, name: str, body: str) -> dict[str, str]:
    """Run a script built with `commands.setup.as_root`; its facts. A login that is neither root nor
    allowed ``sudo -n`` fails with exit 4 (the message says how to fix it)."""
    try:
        return parse_facts(run.run_script(lambda: name, body).stdout)
    except StepFailed as exc:
        if "refused" in exc.facts:
            raise StepFailed(exc.host, exc.step, exc.message, ExitCode.CONNECT, exc.facts) from None
        raise


def _run_item(run: HostRun, name: str, body: str, announce: bool = False, plan: bool = False) -> dict[str, str]:
    """Run one item's script; its line says what changed. A refused login exits 4."""
    with run.out.step(run.alias, name, announce=announce) as record:
        facts = _as_root(run, name, body)
        if "change" in facts:
            record.detail = commands.describe_change(facts["change"], plan)
        return facts


def check_system(run: HostRun) -> dict[str, str]:
    """The ``system`` item: root or sudo, and a supported distribution (exit 2 otherwise, nothing changed)."""
    with run.out.step(run.alias, "system") as record:
        facts = _as_root(run, "system", commands.system_script(run.stage.app))
        problem = commands.distribution_problem(facts.get("os_id", ""), facts.get("os_version", ""),
                                                facts.get("os_name", ""))
        if problem:
            raise StepFailed(run.alias, "system", problem, ExitCode.USAGE)
        record.detail = f"{facts['os_name']}, init {facts.get('init', '?')}, as {facts.get('login', '?')}"
        return facts


def setup_host(run: HostRun, deploy_user: str, key: str, plan: bool = False) -> bool:
    """Every item of ``setup`` on one host, in order; True when nothing changed (or would change)."""
    installs = bool(check_system(run).get("missing_packages", "x"))
    unchanged = True
    deploy_host = replace(run.host, user=deploy_user)  # run.host logs in as setup_user
    for item in commands.setup_items(run.stage, deploy_host, key, plan, installs):
        facts = _run_item(run, item.name, item.body, announce=item.announce, plan=plan)
        unchanged = unchanged and facts.get("change", "unchanged") == "unchanged"
    return unchanged


def doctor_host(run: HostRun) -> list[commands.DoctorResult]:
    """``doctor``'s read-only checks on one host, as the deploy user: one line each, then fail (exit 1)
    naming what is missing, each with its fix."""
    app = run.stage.app
    deploy_user = run.host.user or ""
    # one round trip: the checks, then (with [app.tls]) what the front server serves
    body = commands.doctor_script(run.stage, run.host) + tls_state.read_script(app)
    with run.out.step(run.alias, "doctor") as record:
        facts = parse_facts(run.run_script(lambda: "doctor", body).stdout)
        record.detail = "read-only checks as " + (deploy_user or "the SSH user")
    results = commands.doctor_results(facts, run.alias, app, required_systemd=app.supervisor == "systemd")
    if app.tls is not None:
        results.append(tls_state.doctor_result(app, facts))
    for result in results:
        word = "ok" if result.ok else "MISSING"
        run.out.line(run.alias, f"{result.name:<12} {word:<7} {result.detail}"
                     + (f"  (fix: {result.fix})" if result.fix else ""))
    missing = [r for r in results if not r.ok]
    if missing:
        raise StepFailed(run.alias, "doctor", "missing: " + ", ".join(r.name for r in missing)
                         + " (each fix is on its line above)")
    return results
