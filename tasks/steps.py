"""The named steps of a deploy, each one remote script over the host's connection.

A step takes a `HostRun` (`wsgideploy.hostrun`: the host, its stage, its connection and the
reporter), builds its script with `wsgideploy.commands`, and runs it there once (alone, or with
the steps around it in one round trip); a failure becomes `StepFailed` with the host's own error text.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from .commands import certbot, certificate, health, history, hooks, journal, lock, logs, prune, release, secrets, venv
from .commands.shell import q, script, write_files
from .errors import StepFailed
from .fingerprint import FINGERPRINT_FILE
from .framework_steps import django_step, django_warnings, static_verdict
from .hostrun import HostRun, Step
from .lock_and_log import run_cleanup
from .protocol import LOG_MARK, fact_values, parse_facts, parse_marked
from .record import describe_holder
from .render import environment, render, render_release_configs, template_context
from .source import LocalRelease, find_static_dir, plan_install
from .tls import EXPIRY_WARNING_DAYS
from .tls_state import local_files_digest, presence_path


# --- deploy steps ---------------------------------------------------------------

def host_context(run: HostRun, release_id: str, static_dir: str | None, https: bool | None = None) -> dict[str, Any]:
    """`render.template_context` for this host: with its deploy user and group and, where the app runs as
    its own user, that user and group (the facts of `check_host`); the site over HTTPS as `site_https`
    says (or ``https``)."""
    f = run.facts
    return template_context(run.stage.app, run.layout, release_id, static_dir, run.stage.host_vars(run.host),
                            f.get("user", ""), f.get("group", ""), f.get("app_user", ""), f.get("app_group", ""),
                            https=site_https(run) if https is None else https, tls_files=f.get("tls_files", ""))


def site_https(run: HostRun) -> bool:
    """Whether this host's site serves HTTPS: ``[app.tls]`` in files mode, or in acme mode once the host has
    the certificate (the fact ``tls_ready``, from ``prepare`` or the ``certificate`` step)."""
    tls = run.stage.app.tls
    return tls is not None and (tls.mode == "files" or run.facts.get("tls_ready") == "yes")


def check_host(run: HostRun, lock_owner: str = "", force_unlock: bool = False,
               with_releases: bool = False, new_release: str = "") -> dict[str, str]:
    """Create the layout, take the deploy lock (when ``lock_owner`` is given) and read
    the host's facts (Python version, live release); ``with_releases`` also lists the
    releases into ``run.releases`` (for a rollback), in the same round trip; ``new_release``
    (a deploy's id) is reported as ``release_taken`` when the host already has it."""
    take = lock.acquire(run.layout, lock_owner, force=force_unlock) if lock_owner else ""
    body = prepare_script(run, take, new_release)
    if with_releases:
        # after the lock, so the list is the one this run acts on; it cannot fail (``|| true``)
        body += "{\n" + release.release_facts(run.layout).strip("\n") + "\n} || true\n"
    def describe(f: dict[str, str]) -> str:
        said = ["lock taken" + (f" (removed a lock held by {describe_holder(f['forced_lock'])})"
                                if f.get("forced_lock") else "")] if lock_owner else []
        if f.get("python_installed"):
            said.append(f"Python {f.get('python_version', '')} installed with uv ({f['python_installed']})")
        return "; ".join(said)
    facts = run.remote("prepare", body, describe=describe)
    run.facts.update(facts)
    if facts.get("root_open"):
        run.out.line(run.alias, f"WARNING: {run.layout.root} stays open to every user of the host: {facts['root_open']}")
    if with_releases:
        run.releases = parse_releases(run.last_stdout)
    return facts


def prepare_script(run: HostRun, take_lock: str, new_release: str = "") -> str:
    """The script of `check_host` (`release.prepare`) for this host, taking the lock with ``take_lock``."""
    return release.prepare(run.layout, run.stage.app.python, take_lock, app_user=run.app_user,
                           forced=run.app_user_always, tls=tls_facts(run),
                           front_user=run.proxy.passing_user(run.stage.host_vars(run.host)), new_release=new_release)


def tls_facts(run: HostRun) -> str:
    """The lines of ``prepare`` that report this host's certificate (`certificate.facts_script`)."""
    app = run.stage.app
    return certificate.facts_script(app, presence_path(app)) if app.tls is not None else ""


def upload_tls_files(run: HostRun) -> None:
    """files mode: install the certificate and the key (each sent on stdin, never in a script or a log)
    and their digest, unless the host has these very files (the fact ``tls_files``)."""
    app = run.stage.app
    digest = local_files_digest(app)
    if not digest or run.facts.get("tls_files") == digest or app.tls is None:
        return
    chain, key = app.tls.certificate.read_bytes(), app.tls.key.read_bytes()  # type: ignore[union-attr]
    sudo = getattr(run.proxy_settings, "sudo", True)
    run.remote("certificate", certificate.install_file(app, "certificate", sudo), stdin=chain)
    # the digest last, with the key: a host that has it has both files
    run.remote("key", certificate.install_file(app, "key", sudo) + certificate.install_digest(app, digest, sudo),
               stdin=key, describe=lambda _: f"certificate and key installed in {certificate.FILES_DIR}/{app.name}/")
    run.facts["tls_files"] = digest


def upload_env_file(run: HostRun, content: bytes, names: list[str]) -> None:
    """Replace ``shared/.env`` (mode 0600, or 0640 in the app user's group) with ``content`` sent on
    stdin; show only the names."""
    shown = ", ".join(names) if len(names) <= 6 else ", ".join(names[:6]) + ", ..."
    run.remote("env", secrets.write_env_file(run.layout, run.facts.get("app_group", "")), stdin=content,
               describe=lambda _: f"shared/.env: {len(names)} variable(s) ({shown})")


def mark_bad(run: HostRun, release_id: str) -> bool:
    """Mark a release that failed after going live, so ``rollback`` skips it and a deploy of the
    same fingerprint does not take it as unchanged (reconnecting once if needed). False: not marked."""
    return run_cleanup(run, script(history.mark_bad(run.layout, release_id),
                                   f"[ -e {q(run.layout.release(release_id) + '/' + history.BAD_MARK)} ]"))


def prune_step(run: HostRun) -> Step:
    """``prune``, a soft step: remove releases beyond ``keep_releases`` and unused venvs (never
    the live or previous good one); install the logs' logrotate snippet, rendered here on the
    controller and sent in the script (root never copies the release's copy: the app can write it)."""
    app = run.stage.app
    body = prune.prune(run.layout, app.keep_releases)
    if app.logrotate:
        context = host_context(run, run.facts.get("current", ""), None)
        snippet = render("logrotate.conf.j2", context, environment(app.templates))
        body += logs.install_logrotate(snippet, app.logrotate, app.name)

    def describe(f: dict[str, str]) -> str:
        removed = f"removed {f['removed']}" if f.get("removed") else "nothing to remove"
        return removed + (f"; logrotate {f['logrotate']}" if f.get("logrotate") else "")
    return Step("prune", body, describe=describe, soft=True)


def upload_step(run: HostRun, rel: LocalRelease) -> Step:
    """``upload``: unpack the release's gzipped tar stream (stdin) into ``releases/<id>``; link shared paths."""
    size_kib = len(rel.archive) / 1024
    return Step("upload", release.unpack(run.layout, rel.release_id, rel.shared), announce=True,
                describe=lambda _: f"{rel.file_count} files, {size_kib:.1f} KiB")


def venv_step(run: HostRun, rel: LocalRelease) -> Step:
    """``venv``: reuse or build the venv for this release's dependencies, link it into the release, and install
    the app's own package into the release when it is one (`source.Install.package`)."""
    app = run.stage.app
    install = plan_install(app, run.layout.release(rel.release_id), run.facts["python_version"],
                           rel.source_hash)
    python = run.facts.get("python") or app.python  # the interpreter prepare found (or uv installed)
    body = venv.ensure_venv(run.layout, install.key, python, list(install.pip_args), installer=app.installer,
                            cache_dir=run.layout.cache_dir if app.pip_cache else None)
    body += release.link_venv(run.layout, rel.release_id, install.key) + "\n"
    if install.package:
        body += venv.install_package(run.layout, rel.release_id, installer=app.installer)

    def describe(f: dict[str, str]) -> str:
        package = "; the app's package installed into the release" if f.get("package") == "installed" else ""
        return f"{f.get('venv', '?')} {install.key}{package}"
    return Step("venv", body, announce=True, describe=describe)


def check_step(run: HostRun, rel: LocalRelease, fingerprint: str = "", stage: bool = False) -> Step:
    """``check``: write this host's rendered configs (and the deploy's fingerprint) into the
    release, then load the app with them. With ``stage`` (nothing runs in the release between this check and
    the switch), a server that can (`AppServer.stage`: under systemd) loads it in the new instance itself,
    health-checked on its own socket, which the go-live then makes live."""
    app = run.stage.app
    configs = render_release_configs(host_context(run, rel.release_id, rel.static_dir), app.templates)
    config_dir = f"{run.layout.release(rel.release_id)}/{run.layout.config_dir_name}"
    files = dict(configs)
    # the release's [processes], read by wsgideploy_process.py (their units: docs/supervision.md)
    files["processes.json"] = json.dumps(
        {"processes": dict(run.stage.processes), "env_file": f"{run.layout.shared}/.env"}, indent=1) + "\n"
    if fingerprint:
        files[FINGERPRINT_FILE] = fingerprint + "\n"
    staged = run.server.stage(run.server_context, rel.release_id) if stage else None
    check = staged or run.server.check(run.server_context, rel.release_id)
    before, after = release.static_report(config_dir)  # the loaded Flask app's static folder, as facts

    def describe(f: dict[str, str]) -> str:
        where = f" in its new instance (slot {f['staged']}, pid {f.get('pid', '?')})" if f.get("staged") else ""
        said = f"app loads ({app.wsgi}){where}; " + static_verdict(f, rel.static_dir, app.static_url, app.url_prefix)
        if f.get("started_after_check"):  # systemd_stage: it started only once the deploy user had loaded it
            said += (f". WARNING: it started as {f['started_after_check']} only after the check had loaded it as "
                     f"{run.facts.get('user', 'the deploy user')}: does it write into its release when it loads? "
                     "(docs/supervision.md)")
        return said
    return Step("check", script(write_files(config_dir, files)) + before + check + after + app_writable(run), describe=describe)


def app_writable(run: HostRun) -> str:
    """`release.app_writable` where the app runs as its own user (the fact ``app_user``), else nothing."""
    return release.app_writable(run.layout, run.stage.app.shared) + "\n" if run.facts.get("app_user") else ""


def hooks_step(run: HostRun, release_id: str) -> Step | None:
    """``hooks``: the ``before_switch`` hooks that apply to this host, inside the new release (None: none)."""
    commands = [h.run for h in run.stage.hooks.before_switch if h.applies_to(run.host, run.peers)]
    if not commands:
        return None
    return Step("hooks", hooks.run_hooks(run.layout, release_id, commands, run.stage.ssh.command_timeout,
                                         app_writable(run)),
                announce=True, describe=lambda _: f"{len(commands)} before_switch hook(s) ok")


def proxy_site_step(run: HostRun, release_id: str, static_dir: str | None | bool = True,
                    https: bool | None = None, name: str | None = None) -> Step:
    """``nginx`` (or the front server's name): install the release's site, test the whole config, reload and
    check that the reload took (the front server's ``publish_site``); a site that is the live one byte for
    byte leaves the running server alone (new certificate files change its digest line).

    The site is rendered here, on the controller, and root installs these bytes from the script, never the
    release's copy (the deploy user and the app can write it). ``static_dir`` is the release's static
    folder; ``True`` (a rollback, which has no release at hand): the inventory's, or the local source's."""
    app, proxy, settings, server = run.stage.app, run.proxy, run.proxy_settings, run.stage.app.proxy
    folder = find_static_dir(app) if static_dir is True else (static_dir or None)
    context = host_context(run, release_id, folder, https)
    site = render(proxy.site_template, context, environment(app.templates))
    over = " (HTTPS)" if context["tls"] is not None and context["tls"].https else ""

    def describe(f: dict[str, str]) -> str:
        done = f.get(server, "reloaded")
        return f"site{over} unchanged, {server} left alone" if done.startswith("unchanged") else (
            f"site{over} tested, {server} {done}")
    return Step(name or server, proxy.publish_site(settings, app.name, site), describe=describe)


def certificate_steps(run: HostRun, release_id: str, static_dir: str | None) -> list[Step]:
    """An acme app's host without its certificate: ``certificate`` (certbot through the site just
    installed, which serves the challenges over HTTP), then ``https`` (the site again, over HTTPS). None
    otherwise. A failure stops the build: nothing switches, the site keeps serving HTTP."""
    app = run.stage.app
    if app.tls is None or app.tls.mode != "acme" or site_https(run):
        return []
    sudo = getattr(run.proxy_settings, "sudo", True)
    obtain = Step("certificate", certbot.obtain(app, run.proxy_settings, sudo), announce=True,
                  describe=lambda _: f"certificate for {', '.join(app.server_name.split())} from {app.tls.directory}")
    return [obtain, proxy_site_step(run, release_id, static_dir, https=True, name="https")]


def switch_step(run: HostRun, release_id: str) -> Step:
    """``switch``: point ``current`` at ``release_id``."""
    previous = run.facts.get("current", "")
    return Step("switch", release.switch_current(run.layout, release_id),
                describe=lambda _: f"current -> {release_id}" + (f" (was {previous})" if previous else ""))


def reload_step(run: HostRun) -> Step:
    """``reload``: start the app server, or upgrade it in place so it serves the live release and venv."""
    return Step("reload", run.server.upgrade(run.server_context),
                describe=lambda f: f"{run.stage.app.server} {f.get('action', '')}, pid {f.get('pid', '?')}"
                + (" (the old instance finishes its requests)" if f.get("retired") else ""))


def health_step(run: HostRun) -> Step:
    """``health``: ask the app for its health path through the front server, from the host (over HTTPS,
    the chain and name verified, where the site serves it: `site_https`)."""
    app = run.stage.app
    https = site_https(run)
    check = health.site_check(app, app.health.timeout, https)

    def describe(f: dict[str, str]) -> str:
        days = f" (certificate: {f['tls_days_left']} days left)" if f.get("tls_days_left") else ""
        return f"{'HTTPS' if https else 'HTTP'} {f.get('status')} {app.health.path}{days}"
    return Step("health", check, describe=describe)


def build_steps(run: HostRun, rel: LocalRelease, fingerprint: str = "") -> list[Step]:
    """Everything before the switch, in order: upload, venv, check, (django,) hooks, front-server site (and an
    acme app's `certificate_steps`). One script; stdin is the release."""
    django, hooks = django_step(run, rel), hooks_step(run, rel.release_id)
    # the new instance is started by the check only when nothing changes the release after it
    check = check_step(run, rel, fingerprint, stage=django is None and hooks is None)
    steps = [upload_step(run, rel), venv_step(run, rel), check, django, hooks,
             proxy_site_step(run, rel.release_id, rel.static_dir), *certificate_steps(run, rel.release_id, rel.static_dir)]
    return [step for step in steps if step is not None]


def build_release_steps(run: HostRun, rel: LocalRelease, fingerprint: str = "") -> None:
    """Everything before the switch in ONE round trip (`build_steps`)."""
    built(run, run.remote_steps(build_steps(run, rel, fingerprint), stdin=rel.archive))


def built(run: HostRun, facts: list[dict[str, str]]) -> None:
    """After the build's steps: Django's warnings shown, the certificate obtained noted (``tls_ready``)."""
    for warning in django_warnings(facts):
        run.out.line(run.alias, f"WARNING (manage.py check --deploy): {warning}")
    if any(f.get("tls_ready") == "yes" for f in facts):
        run.facts["tls_ready"] = "yes"


def go_live_script(run: HostRun, release_id: str, with_site: bool = False,
                   then: list[Step] | None = None) -> list[Step]:
    """The steps of `go_live_steps`, in their order: (the site,) switch, reload, health, with the journal
    (commands/journal.py) written first and cleared once healthy (a run that dies between leaves it); then
    ``then``."""
    steps = ([proxy_site_step(run, release_id)] if with_site else []) + [
        switch_step(run, release_id), reload_step(run), health_step(run)]
    first, last = steps[0], steps[-1]
    steps[0] = replace(first, body=journal.begin(run.layout, run.facts.get("current", ""), release_id) + first.body)
    steps[-1] = replace(last, body=last.body.rstrip("\n") + "\n" + journal.end(run.layout))
    return steps + list(then or [])


def go_live_steps(run: HostRun, release_id: str, with_site: bool = False, then: list[Step] | None = None) -> None:
    """Make ``release_id`` live in ONE round trip: (its front-server site,) switch, reload, health
    (and ``then``: soft steps, such as prune, that run only once the release is healthy)."""
    steps = go_live_script(run, release_id, with_site, then)
    run.facts["current"] = release_id  # from the switch on, the release the host serves (or rolls back from)
    went_live(run, run.remote_steps(steps))


def went_live(run: HostRun, facts: list[dict[str, str]]) -> None:
    """After a go-live's steps: whether its script gave the lock back (a `finish_step` among them), and a
    certificate close to its end said."""
    if any(f.get("unlocked") == "yes" for f in facts):
        run.facts["unlocked"] = "yes"
    warn_if_expiring(run, facts)


def warn_if_expiring(run: HostRun, facts: list[dict[str, str]]) -> None:
    """Say so when the certificate the health check was served expires within `tls.EXPIRY_WARNING_DAYS`."""
    days = next((f["tls_days_left"] for f in facts if f.get("tls_days_left", "").lstrip("-").isdigit()), None)
    if days is not None and int(days) < EXPIRY_WARNING_DAYS:
        how = ("certbot renews it on the host (`systemctl status certbot.timer`; `certbot renew --dry-run`)"
               if run.stage.app.tls and run.stage.app.tls.mode == "acme" else
               "replace [app.tls] certificate and key, then deploy")
        run.out.line(run.alias, f"WARNING: the certificate served expires in {days} days: {how}")


def run_step(run: HostRun, step: Step, stdin: bytes | None = None) -> dict[str, str]:
    """Run one step on its own (one round trip)."""
    return run.remote(step.name, step.body, stdin=stdin, announce=step.announce, describe=step.describe)


def publish_proxy_site(run: HostRun, release_id: str) -> None:
    """Install the release's site in the front server, test its whole config, reload it."""
    run_step(run, proxy_site_step(run, release_id))


def check_health(run: HostRun) -> str:
    """Ask the app for its health path through the front server, from the host; return the body."""
    return run_step(run, health_step(run)).get("body", "")


def discard_release(run: HostRun, release_id: str) -> None:
    """Remove a release that never went live (reconnecting if needed; the failure is already reported)."""
    partial = f"{run.layout.releases}/.{release_id}.partial"
    unstage = run.server.unstage(run.server_context, release_id)  # its instance, if the check started one
    run_cleanup(run, script(
        f"""[ "$(readlink {q(run.layout.current)} 2>/dev/null | sed 's#.*/##')" = {q(release_id)} ] && exit 0""",
        f"(\n{unstage}\n) || true" if unstage else "",
        f"rm -rf {q(run.layout.release(release_id))} {q(partial)}"))


# --- server control -------------------------------------------------------------

def server_action(run: HostRun, action: str) -> dict[str, str]:
    """Run ``start``, ``stop``, ``restart``, ``reload`` or ``status`` for the app server."""
    ctx = run.server_context
    builders = {
        "start": lambda: run.server.start(ctx),
        "stop": lambda: run.server.stop(ctx),
        "restart": lambda: run.server.upgrade(ctx, start_if_stopped=True),
        "reload": lambda: run.server.upgrade(ctx, start_if_stopped=False),
        "status": lambda: run.server.status(ctx).rstrip("\n") + "\n" + journal.facts(run.layout),
    }
    def describe(f: dict[str, str]) -> str:
        return "" if action == "status" else (
            f"{run.stage.app.server} {f.get('action', '')}" + (f", pid {f['pid']}" if f.get("pid") else ""))
    return run.remote(action, builders[action](), describe=describe)


@dataclass(frozen=True)
class HostReleases:
    """What is on a host: release ids (oldest first), the bad ones, the live one, recent log entries."""

    ids: list[str]
    bad: set[str]
    current: str
    log: list[str]


def read_releases(run: HostRun, log_lines: int = 0) -> HostReleases:
    """Read the releases, bad marks, live release and the last ``log_lines`` deploy log lines."""
    result = run.conn.run_script(release.list_releases(run.layout, log_lines), timeout=60)
    if not result.ok:
        raise StepFailed(run.alias, "releases", result.stderr.strip())
    return parse_releases(result.stdout)


def parse_releases(stdout: str) -> HostReleases:
    """The `HostReleases` in what `commands.release.list_releases` printed."""
    return HostReleases(ids=sorted(fact_values(stdout, "release")), bad=set(fact_values(stdout, "bad")),
                        current=parse_facts(stdout).get("current", ""), log=parse_marked(stdout, LOG_MARK))
