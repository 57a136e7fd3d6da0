"""The ``wsgideploy`` command: Invoke's `Program` with wsgideploy's tasks built in.

``wsgideploy -H web1 deploy`` is ``fab -H web1 deploy`` without a fabfile. It does not
import Fabric's CLI (nor paramiko): listing tasks stays fast, and the connections are
made by `wsgideploy.transport` when a task needs them.

The command-line contract (docs/exit-codes.md): a usage error (an unknown task, stage or
option, a missing or bad value) exits 2 with one line that says what was wrong and what
exists, never a traceback. `UsageErrorsExit2` gives the same to ``fab`` (see `wsgideploy.fab`).
"""
from __future__ import annotations

import re
import sys
from typing import Any, Iterable, Sequence

from invoke import Argument, Config, Program
from invoke.exceptions import Exit, ParseError

from . import __version__
from .errors import ExitCode
from .executor import NOT_APPLICABLE, InventoryExecutor
from .output import stop_writing_stdout

# Fabric's short flags, so that `wsgideploy -i key` says what to do instead.
FAB_SHORT_FLAGS = {"-i": "identity", "-t": "connect-timeout", "-S": "ssh-config"}

_NO_IDEA = re.compile(r"^No idea what '(?P<token>.*)' is!$")
_NEEDS_VALUE = re.compile(r"^Flag <Argument: (?P<name>[\w-]+).*needed value and was not given one!$")
_BAD_INT = re.compile(r"^invalid literal for int\(\) with base 10: '(?P<value>.*)'$")


class WsgideployConfig(Config):
    """Invoke's config, read from ``wsgideploy.yaml`` files and ``WSGIDEPLOY_*`` variables."""

    prefix = "wsgideploy"


def usage_message(problem: str, argv: Sequence[str], task_names: Iterable[str], stages: Iterable[str],
                  task_flags: Sequence[str] = ()) -> str:
    """One line for a parser error: what was wrong, and what exists instead.

    ``problem`` is Invoke's message (or a value error's), ``argv`` the command line after
    the program name, ``task_flags`` the flags of the task being parsed, when known.
    """
    from .inventory import did_you_mean  # imported late: most runs never need it

    names = sorted(set(task_names))
    stage_list = sorted(set(stages))
    match = _NO_IDEA.match(problem)
    if match and match["token"].startswith("-"):
        flag = match["token"].split("=", 1)[0]
        fab_flag = FAB_SHORT_FLAGS.get(flag, flag.lstrip("-"))
        if fab_flag in NOT_APPLICABLE:
            return f"{flag} does not apply to wsgideploy: {NOT_APPLICABLE[fab_flag]}"
        known = ", ".join(task_flags) if task_flags else "see `wsgideploy --help`"
        return f"unknown option {flag}{did_you_mean(flag, task_flags)}; options here: {known}"
    if match:
        token = match["token"]
        return (f"unknown task or stage {token!r}{did_you_mean(token, names + stage_list)}; "
                f"tasks: {', '.join(names)}; stages: {', '.join(stage_list) or 'none found'}")
    match = _NEEDS_VALUE.match(problem)
    if match:
        return f"--{match['name']} needs a value"
    match = _BAD_INT.match(problem)
    if match:
        value = match["value"]
        flag = next((argv[i - 1] for i, token in enumerate(argv) if token == value and i > 0), "")
        flag = flag or next((t.split("=", 1)[0] for t in argv if t.endswith("=" + value)), "an option")
        return f"{flag} takes a whole number, not {value!r}"
    return problem.rstrip("!")


class UsageErrorsExit2:
    """Mixin for a `Program` (``wsgideploy``'s and ``fab``'s): parser errors and bad values exit 2 with
    `usage_message`."""

    argv: list[str]
    collection: Any
    parser: Any

    def _usage_exit(self, exc: Exception) -> Exit:
        from .targets import stage_names
        context = getattr(exc, "context", None)
        in_task = context is not None and getattr(context, "name", None)
        flags = sorted(name for name in context.flags if name.startswith("--")) if in_task else []
        collection = getattr(self, "collection", None)
        stages = stage_names()
        tasks = [name for name in (collection.task_names if collection is not None else ()) if name not in stages]
        message = usage_message(str(exc), self.argv[1:], tasks, stages, flags)
        return Exit(f"wsgideploy: {message}", code=ExitCode.USAGE)

    def parse_core(self, argv: list[str] | None) -> None:
        try:
            super().parse_core(argv)  # type: ignore[misc]
        except (ParseError, ValueError) as exc:
            raise self._usage_exit(exc) from None

    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()  # type: ignore[misc]
        except (ParseError, ValueError) as exc:
            raise self._usage_exit(exc) from None

    def parse_cleanup(self) -> None:
        try:
            super().parse_cleanup()  # type: ignore[misc]  (--list and --help print here)
        except (ParseError, ValueError) as exc:
            raise self._usage_exit(exc) from None
        except BrokenPipeError:  # `wsgideploy --list | head`: the reader has all it wanted
            stop_writing_stdout()
            raise Exit(code=0) from None

    def no_tasks_given(self) -> None:
        if self.core.remainder:  # type: ignore[attr-defined]
            raise Exit("wsgideploy: runs tasks, not raw commands after '--' (use ssh for that)",
                       code=ExitCode.USAGE)
        super().no_tasks_given()  # type: ignore[misc]


class TaskImportsCached:
    """Mixin for a `Program` (``wsgideploy``'s and ``fab``'s): the modules a task imports get byte-code caches as
    Python itself would write them. Invoke turns byte-code writing off so that no .pyc of the tasks file lands
    beside it, and left it off for the whole run: an install without caches (`uv tool install`, an editable
    one) compiled wsgideploy's modules and Jinja2 on every command. The tasks file is loaded by `parse_tasks`;
    -B and PYTHONDONTWRITEBYTECODE still turn writing off."""

    def parse_tasks(self) -> None:
        sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)
        super().parse_tasks()  # type: ignore[misc]


class WsgideployProgram(TaskImportsCached, UsageErrorsExit2, Program):
    """``wsgideploy``: the tasks built in, ``-H`` for inventory aliases, ``-v`` to stream remote output."""

    def core_args(self) -> list[Argument]:
        # Invoke's flags for `c.run` (-e, -w, -p, -T, ...) stay parseable, and the executor
        # refuses them when given: no wsgideploy task runs local commands.
        return super().core_args() + [
            Argument(names=("hosts", "H"),
                     help="Comma-separated host aliases from the inventories (deploy/*.toml), e.g. -H web1,web2."),
            Argument(names=("verbose", "v"), kind=bool,
                     help="Stream the remote output of every step (it always goes to the run's local log)."),
        ]

    def update_config(self, merge: bool = True) -> None:
        super().update_config(merge=False)
        if self.args.verbose.value:
            self.config._overrides["wsgideploy_verbose"] = True  # noqa: SLF001 (Invoke's documented override level)
        if merge:
            self.config.merge()


def make_program() -> WsgideployProgram:
    """The ``wsgideploy`` program with the collection of `wsgideploy.collection` built in."""
    from .collection import build_namespace
    return WsgideployProgram(name="wsgideploy", binary="wsgideploy", binary_names=["wsgideploy"],
                             version=__version__, namespace=build_namespace(),
                             executor_class=InventoryExecutor, config_class=WsgideployConfig)


def main(argv: list[str] | None = None) -> None:
    """The console script: ``wsgideploy [--core-opts] task1 [--task1-opts] ...``."""
    try:
        make_program().run(argv if argv is not None else sys.argv)
    except BrokenPipeError:  # output piped into a reader that closed early (`| head`)
        stop_writing_stdout()
