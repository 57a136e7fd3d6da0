"""`HostRun`: the work on one host during one run (its stage, connection, facts and reporter),
and how a step's script is run there: one error mapping for every script, one round trip for several steps.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .commands import lock
from .commands.shell import script
from .commands.mod_wsgi import ModWsgi
from .commands.systemd import Supervised, app_user_of, supervised
from .errors import ExitCode, StepFailed
from .inventory import Host, Stage
from .layout import Layout
from .modes import AppServer, FrontServer, ServerContext, app_server, front_server
from .output import Reporter, StepRecord
from .protocol import FACTS_MARK, SOFT_ERROR_MARK, STEP_MARK, parse_facts, soft_error, step_index
from .transport import CommandTimeout, ConnectError, HostConnection, RemoteResult

if TYPE_CHECKING:
    from .steps import HostReleases


@dataclass(frozen=True)
class Step:
    """One named step's script, for `HostRun.remote_steps` (several steps, one round trip).

    A ``soft`` step's failure is a warning: the script goes on, and so does the run.
    """

    name: str
    body: str
    describe: Callable[[dict[str, str]], str] | None = None
    announce: bool = False
    soft: bool = False


def combined_script(steps: list[Step]) -> str:
    """The ONE script of several steps: each step's marker, then its body (see `_step_script`). It exports
    ``WSGIDEPLOY_T0``, when it began (a soft ``finish`` step counts the run's time from it)."""
    return script("exec 3>&1", "export WSGIDEPLOY_T0=$EPOCHREALTIME",
                  *(_step_script(i, step) for i, step in enumerate(steps)))


SOFT_END = "WSGIDEPLOY_SOFT_STEP_END"  # the end of a soft step's here-document


def _step_script(index: int, step: Step) -> str:
    """A step inside a combined script: its start marker, then its body in a subshell (a failure
    ends the script) or, for a soft step, in a bash of its own whose errors become warnings.
    (``set -e`` does not hold inside a subshell tested with ``if``: hence the separate bash, which reads the
    body from a here-document.)"""
    if not step.soft:
        return f'echo "{STEP_MARK}{index}"\n(\n{step.body.strip()}\n)'
    if f"\n{SOFT_END}\n" in f"\n{step.body}\n":
        raise ValueError(f"a soft step's script may not hold the line {SOFT_END}")
    # The body goes to the nested bash as a here-document (in the script's file), never as an argument.
    return (f'echo "{STEP_MARK}{index}"\n'
            f"if ! wsgideploy_err=$(bash -s 2>&1 1>&3 <<'{SOFT_END}'\n{step.body.strip()}\n{SOFT_END}\n); then\n"
            f'  printf "%s\\n" "${{wsgideploy_err:-exit code $?}}" | sed "s/^/{SOFT_ERROR_MARK}/"\n'
            f'fi')


def _failure_message(result: RemoteResult) -> str:
    """What a failed script said: its stderr, else the end of its stdout (without markers)."""
    stdout = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("wsgideploy-"))
    return result.stderr.strip() or stdout.strip()[-2000:] or f"exit code {result.exit_code}"


class _Batch:
    """The progress of the steps of one combined script, as its marker lines arrive: which step
    runs, its reporter line, and each step's facts and warnings."""

    def __init__(self, run: HostRun, steps: list[Step]) -> None:
        self.run, self.steps = run, steps
        self.index = -1
        self.record: StepRecord | None = None
        self.facts: list[dict[str, str]] = [{} for _ in steps]
        self.warnings: list[list[str]] = [[] for _ in steps]

    @property
    def step_name(self) -> str:
        return self.steps[max(self.index, 0)].name

    def begin(self, index: int) -> None:
        self.index = index
        self.record = self.run.out.begin(self.run.alias, self.steps[index].name, self.steps[index].announce)

    def close(self, ok: bool) -> None:
        if self.record is None:
            return
        step, warnings = self.steps[self.index], self.warnings[self.index]
        ok = ok and not warnings
        if ok and step.describe:
            self.record.detail = step.describe(self.facts[self.index])
        self.run.out.end(self.record, ok)
        if warnings:
            self.run.out.line(self.run.alias, f"warning: {step.name} failed, and the run goes on: "
                                              + "\n".join(warnings))
        self.record = None

    def on_line(self, line: str) -> None:
        index, warning = step_index(line), soft_error(line)
        if index is not None:
            if index != self.index:
                self.close(ok=True)
                self.begin(index)
        elif line.startswith(FACTS_MARK) and self.index >= 0:
            self.facts[self.index].update(parse_facts(line))
        elif warning is not None and self.index >= 0:
            self.warnings[self.index].append(warning)


@dataclass
class HostRun:
    """One host during one run: what it is, how to reach it, where to report."""

    stage: Stage
    host: Host
    conn: HostConnection
    out: Reporter
    facts: dict[str, str] = field(default_factory=dict)
    peers: tuple[Host, ...] = ()  # every host selected in this run (for hooks that run once)
    releases: HostReleases | None = None  # what is on the host, when a step read it
    last_stdout: str = ""  # what the last `remote` step printed

    def __post_init__(self) -> None:
        # Every line the host's scripts print reaches the reporter: the run log keeps it, -v shows it.
        if hasattr(self.conn, "on_output"):
            self.conn.on_output = lambda text: self.out.remote_line(self.alias, text)

    @property
    def alias(self) -> str:
        return self.host.alias

    @property
    def layout(self) -> Layout:
        return Layout(self.stage.app.root)

    @property
    def server(self) -> AppServer:
        return supervised(app_server(self.stage.app.server), self.stage.app.supervisor)

    @property
    def app_user(self) -> str:
        """The app's own user (`systemd.app_user_of`) where it runs as one: under systemd (a `Supervised`
        mode), or in mod_wsgi's daemon processes (``[vars] app_user`` there, if set); "" for a mode that
        runs under its pidfile only, or as the front server's user (CGI)."""
        if isinstance(self.server, Supervised):
            return app_user_of(self.stage.app)
        if isinstance(self.server, ModWsgi):
            return str(self.stage.host_vars(self.host).get("app_user") or app_user_of(self.stage.app))
        return ""

    @property
    def app_user_always(self) -> bool:
        """Whether the app runs as `app_user` on any host (mod_wsgi, ``supervisor = "systemd"``), not only
        where systemd runs."""
        return isinstance(self.server, ModWsgi) or self.stage.app.supervisor == "systemd"

    @property
    def proxy(self) -> FrontServer:
        return front_server(self.stage.app.proxy)

    @property
    def proxy_settings(self) -> object:
        """The inventory table of this app's front server (``[nginx]``, ...)."""
        return getattr(self.stage, self.stage.app.proxy)

    @property
    def server_context(self) -> ServerContext:
        """What the app server's commands need: paths, app, front server, timeouts."""
        graceful = float(self.stage.host_vars(self.host).get("graceful_timeout", 30))
        return ServerContext(layout=self.layout, app=self.stage.app, proxy=self.proxy_settings,
                             timeout=self.stage.app.health.timeout + 30, graceful_timeout=graceful,
                             processes=self.stage.processes)

    def run_script(self, step: Callable[[], str], body: str, stdin: bytes | None = None,
                   timeout: float | None = None,
                   on_line: Callable[[str], None] | None = None) -> RemoteResult:
        """Run ``body``; every way it can fail becomes `StepFailed` for the step ``step()`` names
        (the exit code says which way: connection, lock, or the script's own failure)."""
        try:
            result = self.conn.run_script(body, stdin=stdin, timeout=timeout, on_line=on_line)
        except CommandTimeout as exc:
            raise StepFailed(self.alias, step(), str(exc)) from None
        except ConnectError as exc:
            raise StepFailed(self.alias, step(), str(exc), ExitCode.CONNECT) from None
        if not result.ok:
            code = ExitCode.LOCKED if result.exit_code == lock.LOCKED_EXIT else ExitCode.FAILED
            raise StepFailed(self.alias, step(), _failure_message(result), code, parse_facts(result.stdout))
        return result

    def remote(self, step: str, body: str, stdin: bytes | None = None,
               timeout: float | None = None, announce: bool = False,
               describe: Callable[[dict[str, str]], str] | None = None) -> dict[str, str]:
        """Run one step's script; return the facts it printed or raise `StepFailed`.

        ``describe`` turns the facts into the short detail shown on the step's line.
        """
        with self.out.step(self.alias, step, announce=announce) as record:
            result = self.run_script(lambda: step, body, stdin=stdin, timeout=timeout)
            self.last_stdout = result.stdout
            facts = parse_facts(result.stdout)
            if describe:
                record.detail = describe(facts)
            return facts

    def remote_steps(self, steps: list[Step], stdin: bytes | None = None,
                     timeout: float | None = None) -> list[dict[str, str]]:
        """Run several steps as ONE remote script (one round trip); each still gets its own line.

        The script prints a marker as each step starts; the steps' lines are timed and
        printed as the markers arrive. A failing step stops the script, and its
        `StepFailed` names it. Returns each step's facts, in order.
        """
        batch = _Batch(self, steps)
        batch.begin(0)  # the first step starts now, with the upload of stdin (before its marker comes back)
        try:
            self.run_script(lambda: batch.step_name, combined_script(steps), stdin=stdin, timeout=timeout,
                            on_line=batch.on_line)
        except BaseException:
            batch.close(ok=False)
            raise
        batch.close(ok=True)
        return batch.facts


