"""Plan mode: what a deploy would do on a host, from its live state, changing nothing.

Pure, apart from `plan_host` at the end (one read-only script over the host's connection): parse what
that script printed (`parse_live_state`), decide the venv and whether the source changed, diff each
rendered config against the live one (`diff_config`), and make lines a person reads (`format_plan`).
"""
from __future__ import annotations

import base64
import binascii
import difflib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Mapping

import jinja2

from . import tls_state
from .commands import plan as plan_commands
from .python_version import missing_python, python_problem
from .protocol import FILE_MARK, LOG_MARK, MISSING_MARK, VENV_MARK, parse_facts, parse_marked
from .errors import ExitCode, StepFailed
from .fingerprint import FINGERPRINT_FILE, is_no_op
from .record import describe_holder
from .commands.systemd import UNIT_DIR, Supervised, process_unit, unit_name
from .render import render_release_configs, template_context
from .source import (Install, LocalRelease, SourceError, environment_summary, pip_command, plan_install,
                     static_summary)
from .transport import CommandTimeout, ConnectError

if TYPE_CHECKING:
    from .steps import HostRun

SOURCE_HASH_LENGTH = 16  # what the deploy log keeps of a source hash (see record.RunRecord.log_entry)


@dataclass(frozen=True)
class LiveState:
    """What the read-only script found on the host."""

    python_version: str = ""           # '' when app.python is not installed
    python_uv: bool = False            # then: whether uv is there to install a version (python.sh)
    user: str = ""
    group: str = ""
    app_user: str = ""                 # the app's own user and group, where it runs as one
    app_group: str = ""
    app_user_missing: str = ""         # the app's own user, which the host lacks
    root_exists: bool = False
    root_writable: bool = False
    current: str = ""                  # the live release id, '' when nothing is live
    lock_holder: str | None = None     # the lock's owner.json, None when the lock is free
    live_fingerprint: str = ""         # the live release's (see wsgideploy.fingerprint), '' when unrecorded
    live_bad: bool = False             # the live release is marked bad (it failed on this host)
    complete_venvs: frozenset[str] = frozenset()
    files: Mapping[str, str | None] = field(default_factory=dict)  # label -> content, None if missing
    log: tuple[str, ...] = ()          # deploy log lines that name the live release


def parse_live_state(stdout: str) -> LiveState:
    """Read the output of `commands.plan.read_live_state`."""
    facts = parse_facts(stdout)
    venvs = set(parse_marked(stdout, VENV_MARK))
    log = parse_marked(stdout, LOG_MARK)
    files: dict[str, str | None] = {}
    for line in stdout.splitlines():  # in order: a label printed twice keeps its last state
        if line.startswith(MISSING_MARK):
            files[line[len(MISSING_MARK):]] = None
        elif line.startswith(FILE_MARK):
            label, _, encoded = line[len(FILE_MARK):].partition("=")
            files[label] = _decode(encoded)
    return LiveState(python_version=facts.get("python_version", ""), python_uv=facts.get("python_uv") == "yes",
                     user=facts.get("user", ""),
                     group=facts.get("group", ""), app_user=facts.get("app_user", ""),
                     app_group=facts.get("app_group", ""), app_user_missing=facts.get("app_user_missing", ""),
                     root_exists=facts.get("root") == "exists",
                     root_writable=facts.get("root_writable") == "yes", current=facts.get("current", ""),
                     lock_holder=facts.get("lock_holder"), live_fingerprint=facts.get("live_fingerprint", ""),
                     live_bad=facts.get("live_bad") == "yes", complete_venvs=frozenset(venvs),
                     files=files, log=tuple(log))


def _decode(encoded: str) -> str:
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


@dataclass(frozen=True)
class ConfigPlan:
    """One rendered config against its live copy.

    ``status``: ``new`` (no live copy), ``unchanged``, ``release-id`` (only the
    release id differs: configs name it in their header) or ``changed``.
    """

    name: str
    live_path: str
    status: str
    diff: str = ""


def diff_config(name: str, live_path: str, live: str | None, new: str,
                live_release: str = "", new_release: str = "") -> ConfigPlan:
    """Compare the ``new`` rendering of ``name`` with its ``live`` content (None: no live file)."""
    if live is None:
        return ConfigPlan(name, live_path, "new", unified_diff(name, "", new))
    if live == new:
        return ConfigPlan(name, live_path, "unchanged")
    only_release_id = bool(live_release and new_release) and new.replace(new_release, live_release) == live
    return ConfigPlan(name, live_path, "release-id" if only_release_id else "changed",
                      unified_diff(name, live, new))


def unified_diff(name: str, live: str, new: str) -> str:
    """``live/<name>`` -> ``new/<name>`` as a unified diff; a missing end of line is marked."""
    lines = difflib.unified_diff(_lines(live), _lines(new), fromfile=f"live/{name}", tofile=f"new/{name}")
    return "".join(lines)


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def _live_entry(log: tuple[str, ...] | list[str], current: str) -> dict[str, Any] | None:
    """The last deploy log entry that deployed ``current`` with its source hash, if any."""
    if not current:
        return None
    for line in reversed(log):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if (isinstance(entry, dict) and entry.get("action") == "deploy" and entry.get("release") == current
                and entry.get("source_hash")):
            return entry
    return None


def live_source_hash(log: tuple[str, ...] | list[str], current: str) -> str | None:
    """The live release's source hash (16 hex digits) from its deploy log entry; None when the log does not say."""
    entry = _live_entry(log, current)
    return str(entry["source_hash"]) if entry else None


def live_commit(log: tuple[str, ...] | list[str], current: str) -> str | None:
    """The git commit of the live release as its deploy log entry names it (``source``), or None."""
    entry = _live_entry(log, current)
    return str(entry["source"]) if entry and entry.get("source") else None


@dataclass(frozen=True)
class HostPlan:
    """What a deploy would do on one host. JSON-friendly through `to_dict`."""

    host: str
    release_id: str
    live_release: str                  # '' when nothing is live
    venv_action: str                   # "reuse", "build" or "unknown" (no Python on the host)
    venv_key: str
    pip_command: str                   # what a build would run, e.g. "pip install -r requirements.txt gunicorn"
    source_hash: str                   # the new release's, SOURCE_HASH_LENGTH hex digits
    live_source_hash: str | None       # the live release's, from the deploy log
    lock_holder: str | None            # owner.json of a held lock, None when free
    fingerprint: str = ""              # this deploy's on this host (see wsgideploy.fingerprint)
    live_fingerprint: str = ""         # the live release's, '' when it records none
    live_bad: bool = False             # the live release is marked bad: never a no-op
    configs: tuple[ConfigPlan, ...] = ()
    problems: tuple[str, ...] = ()     # why a deploy now would fail
    notes: tuple[str, ...] = ()        # what else a deploy would do (create the root, ...)
    commit: str | None = None          # the new release's git commit (``+dirty``: a working tree), None outside git
    live_commit: str | None = None     # the live release's, from the deploy log
    static: str = ""                   # "staticfiles at /static", or "none (set app.static_dir)"
    package: bool = False              # the app's own package is installed into the release (no dependencies)
    environment: tuple[str, ...] = ()  # shared/.env: "NAME=value" for plain settings, "NAME (secret)" for secrets

    @property
    def unchanged_source(self) -> bool:
        """Whether the live release was deployed from exactly this source (same files, modes, bytes)."""
        return self.live_source_hash is not None and self.live_source_hash == self.source_hash

    @property
    def no_op(self) -> bool:
        """Whether ``deploy`` would leave the host alone: the live release has this deploy's
        fingerprint (same source, settings, env and templates) and is not marked bad, as
        `fingerprint.is_no_op` decides for ``deploy`` (``--force`` deploys anyway)."""
        return is_no_op(self.fingerprint, self.live_fingerprint, self.live_bad)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["configs"] = [asdict(c) for c in self.configs]
        data.update(problems=list(self.problems), notes=list(self.notes), environment=list(self.environment))
        data["unchanged_source"], data["no_op"] = self.unchanged_source, self.no_op
        return data


def build_plan(host: str, rel: LocalRelease, live: LiveState, install: Install | None,
               new_configs: Mapping[str, str], live_paths: Mapping[str, str], root: str = "",
               python: str = "python3", problems: list[str] | tuple[str, ...] = (),
               fingerprint: str = "", installer: str = "pip") -> HostPlan:
    """Put a host's plan together from its live state and what this deploy would render.

    ``install`` is None when no venv can be planned (no Python on the host, nothing to
    install); ``live_paths`` names, for each config, the host file it is compared with;
    ``problems`` are reasons found beforehand why a deploy would fail; ``fingerprint`` is
    this deploy's on this host (compared with the live release's for the no-op).
    """
    problems, notes = list(problems), []
    if not live.python_version:
        text, fatal = missing_python(python, root, live.python_uv)
        (problems if fatal else notes).append(text)
    if not live.root_exists:
        notes.append(f"{root or 'the app root'} does not exist yet: a deploy creates it")
    elif not live.root_writable:
        problems.append(f"{root or 'the app root'} is not writable by {live.user or 'the SSH user'}")
    if live.lock_holder is not None:
        problems.append(f"lock held by {describe_holder(live.lock_holder)}")
    if live.app_user_missing:
        problems.append(f"the app runs as the user {live.app_user_missing}, which does not exist on this host "
                        "(run `wsgideploy setup` for this host)")
    configs = tuple(diff_config(name, live_paths.get(name, name), live.files.get(name), text,
                                live.current, rel.release_id)
                    for name, text in new_configs.items())
    if install is None:
        venv_action, key, command = "unknown", "", ""
    else:
        venv_action = "reuse" if install.key in live.complete_venvs else "build"
        key, command = install.key, pip_command(install, installer)
    return HostPlan(host=host, release_id=rel.release_id, live_release=live.current,
                    venv_action=venv_action, venv_key=key, pip_command=command,
                    source_hash=rel.source_hash[:SOURCE_HASH_LENGTH],
                    live_source_hash=live_source_hash(live.log, live.current),
                    lock_holder=live.lock_holder, fingerprint=fingerprint,
                    live_fingerprint=live.live_fingerprint, live_bad=live.live_bad, configs=configs,
                    problems=tuple(problems), notes=tuple(notes), commit=rel.revision,
                    live_commit=live_commit(live.log, live.current))


def format_plan(plan: HostPlan) -> list[str]:
    """The plan as lines for a person (the host prefix is added by the reporter)."""
    live = plan.live_release or "none"
    lines = [f"release      {plan.release_id} (live: {live}{', marked bad: it failed here' if plan.live_bad else ''})"]
    if plan.live_release and plan.live_source_hash is None:
        source = f"{plan.source_hash}; the deploy log does not say which source the live release has"
    elif plan.unchanged_source:
        source = f"{plan.source_hash}, unchanged: the live release has this source"
    elif plan.live_release:
        source = f"{plan.source_hash}, changed (live: {plan.live_source_hash})"
    else:
        source = f"{plan.source_hash} (nothing is live yet)"
    lines.append(f"source       {source}")
    if plan.commit:
        lines.append(f"commit       {plan.commit}" + (f" (live: {plan.live_commit})" if plan.live_commit else ""))
    package = "; the app's own package is installed into the release (no dependencies)" if plan.package else ""
    if plan.venv_action == "reuse":
        lines.append(f"venv         reuse {plan.venv_key}{package}")
    elif plan.venv_action == "build":
        lines.append(f"venv         build {plan.venv_key} ({plan.pip_command}){package}")
    else:
        lines.append("venv         unknown: it cannot be built (see below)")
    if plan.static:
        lines.append(f"static       {plan.static}")
    if plan.environment:
        lines.append(f"environment  {', '.join(plan.environment)}")
    lines.append("lock         " + ("free" if plan.lock_holder is None else "held (see below)"))
    lines += [f"note         {note}" for note in plan.notes]
    for config in plan.configs:
        lines += _format_config(config)
    for problem in plan.problems:
        lines.append(f"a deploy now would fail: {problem}")
    if plan.no_op:
        lines.append("no-op        yes: the live release has this source and these settings; "
                     "deploy leaves this host alone (--force deploys anyway)")
    else:
        lines.append("no-op        no: " + ", ".join(_what_changes(plan)))
    return lines


def _format_config(config: ConfigPlan) -> list[str]:
    head = f"config       {config.name}"
    if config.name not in config.live_path.rsplit("/", 1)[-1:]:
        head += f" (live: {config.live_path})"
    if config.status == "unchanged":
        return [f"{head}: unchanged"]
    if config.status == "release-id":
        return [f"{head}: only the release id changes"]
    if config.status == "new":  # its whole text is in the diff (to_dict); here it would drown the rest
        added = sum(1 for ln in config.diff.splitlines()[3:] if ln.startswith("+"))
        return [f"{head}: new file ({added} line{'' if added == 1 else 's'})"]
    return [f"{head}: changed"] + ["  " + ln for ln in config.diff.splitlines()]


def _what_changes(plan: HostPlan) -> list[str]:
    changes = []
    if not plan.live_release:
        changes.append("nothing is live yet")
    elif not plan.unchanged_source:
        changes.append("the source" + (" may have changed (not in the deploy log)"
                                       if plan.live_source_hash is None else " changed"))
    if plan.venv_action != "reuse":
        changes.append("a new venv")
    changed = [c.name for c in plan.configs if c.status in ("changed", "new")]
    if changed:
        changes.append("configs: " + ", ".join(changed))
    if not changes and plan.live_bad and plan.fingerprint == plan.live_fingerprint:
        changes.append("the live release is marked bad (it failed on this host): a deploy builds a new one")
    if not changes:
        changes.append("the settings, environment or templates differ from the live release's"
                       if plan.live_fingerprint else "the live release records no fingerprint")
    return changes


# --- the step ---------------------------------------------------------------------

def plan_host(run: "HostRun", rel: LocalRelease, fingerprint: str = "") -> HostPlan:
    """Read the host's live state in one read-only script and work out what a deploy of
    ``rel`` would do there. Takes no lock, creates and writes nothing on the host.

    ``fingerprint`` is the deploy's on this host (`fingerprint.release_fingerprint`): when the
    live release has the same, the deploy would do nothing (`HostPlan.no_op`)."""
    app, layout = run.stage.app, run.layout
    # The file names do not depend on the host's user, which the script reads.
    names = list(_render(run, rel, LiveState()))
    live_paths = {name: f"{layout.live_config_dir}/{name}" for name in names}
    # The site is compared with the one the front server has, not the release's copy.
    live_paths[run.proxy.site_file] = run.proxy.site_path(run.proxy_settings, app.name)
    units = unit_files(run)  # under systemd: the units, compared with /etc/systemd/system's
    live_paths.update({name: path for name, (path, _) in units.items()})
    body = plan_commands.read_live_state(layout, app.python, live_paths,
                                         sudo=bool(getattr(run.proxy_settings, "sudo", False)),
                                         fingerprint_path=f"{layout.live_config_dir}/{FINGERPRINT_FILE}",
                                         app_user=run.app_user, app_user_always=run.app_user_always,
                                         extra=tls_state.read_script(app))
    stdout = _run_read_only(run, body)
    state = parse_live_state(stdout)
    problem = python_problem(app.source, app.python, state.python_version)  # requires-python
    install, problems = None, [problem] if problem else []
    if state.python_version:
        try:
            install = plan_install(app, layout.release(rel.release_id), state.python_version, rel.source_hash)
        except SourceError as exc:
            problems.append(str(exc))
    configs = _render(run, rel, state)
    configs.update({name: text for name, (_, text) in units.items()})
    plan = build_plan(run.alias, rel, state, install, configs, live_paths, layout.root, app.python,
                      problems, fingerprint, getattr(app, "installer", "pip"))
    note = tls_state.plan_note(app, parse_facts(stdout))
    plan = replace(plan, environment=environment_summary(app), package=bool(install and install.package),
                   static=static_summary(rel.static_dir, app.static_url))
    return replace(plan, notes=(*plan.notes, note)) if note else plan


def _render(run: "HostRun", rel: LocalRelease, state: LiveState) -> dict[str, str]:
    """The configs a deploy would write into the release (as `steps.check_step` does), with the host's
    users as ``state`` found them."""
    app = run.stage.app
    # The site as the deploy leaves it: over HTTPS with [app.tls] (acme gets its certificate first), naming
    # the local certificate files (files mode: the deploy uploads them when they differ).
    context = template_context(app, run.layout, rel.release_id, rel.static_dir, run.stage.host_vars(run.host),
                               state.user, state.group, state.app_user, state.app_group,
                               tls_files=tls_state.local_files_digest(app))
    try:
        return render_release_configs(context, app.templates)
    except jinja2.TemplateError as exc:
        raise StepFailed(run.alias, "plan", f"a template does not render: {exc}") from None


def unit_files(run: "HostRun") -> dict[str, tuple[str, str]]:
    """The systemd units a deploy would install (name: (path, text)); none when the app server is not
    one wsgideploy runs under systemd (``supervisor = "none"``, mod_wsgi, CGI, FastCGI behind Apache)."""
    server, ctx = run.server, run.server_context
    if not isinstance(server, Supervised) or not server.server.runs_under_systemd(ctx):  # type: ignore[attr-defined]
        return {}
    app = run.stage.app
    units = {unit_name(app.name): server.unit_text(ctx),
             **{process_unit(app.name, name): server.process_unit_text(ctx, name) for name in ctx.processes}}
    return {name: (f"{UNIT_DIR}/{name}", text) for name, text in units.items()}


def _run_read_only(run: "HostRun", body: str) -> str:
    """Run the read-only script as the host's ``plan`` step; return its output."""
    with run.out.step(run.alias, "plan") as step:
        try:
            result = run.conn.run_script(body)
        except CommandTimeout as exc:
            raise StepFailed(run.alias, "plan", str(exc)) from None
        except ConnectError as exc:
            raise StepFailed(run.alias, "plan", str(exc), ExitCode.CONNECT) from None
        if not result.ok:
            raise StepFailed(run.alias, "plan", result.stderr.strip() or f"exit code {result.exit_code}")
        current = parse_facts(result.stdout).get("current")
        step.detail = f"read the live state (live release {current or 'none'}); nothing changed"
        return result.stdout
