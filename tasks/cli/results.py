"""Where a run's results go: progress lines, the closing summary and line, and the ``--json`` document."""
from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from invoke.exceptions import Exit

from ..errors import ExitCode
from ..output import Reporter
from ..runlog import run_reporter

if TYPE_CHECKING:
    from ..fleet import Fleet

INTERRUPTED = 130  # what a shell reports for Ctrl-C


class RunOutput:
    """One run's output. With ``--json`` the document goes to stdout and progress to stderr."""

    def __init__(self, action: str, to_stdout: bool = False, path: str | None = None, config: Any = None) -> None:
        self.action = action
        self.to_stdout = to_stdout
        self.path = Path(path) if path else None
        # ``config`` (the task's ``c.config``) carries ``-v``; without it WSGIDEPLOY_VERBOSE does
        self.out: Reporter = run_reporter(action, stream=sys.stderr if to_stdout else sys.stdout, config=config)
        self.commits: dict[str, str | None] = {}  # host alias -> the git commit a deploy sends it
        self.started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._clock = time.monotonic()

    @contextmanager
    def on_usage_error(self) -> Iterator[None]:
        """Before any host is touched: an `Exit` still leaves a JSON document saying why."""
        from ..report import SCHEMA_VERSION
        try:
            yield
        except Exit as exc:
            self.write({"wsgideploy": SCHEMA_VERSION, "action": self.action, "release": None,
                        "result": "invalid" if exc.code == ExitCode.USAGE else "failed",
                        "exit_code": exc.code, "started": self.started,
                        "seconds": round(time.monotonic() - self._clock, 3), "hosts": {},
                        "error": str(exc.message or "").removeprefix("wsgideploy: ")})
            self.out.close()  # no host was touched: no closing line (and no log: nothing was printed)
            raise

    @contextmanager
    def finishing(self, fleet: Fleet, release: str = "") -> Iterator[None]:
        """Run the body, then print the summary and write the document, however it ended."""
        from ..report import RunFacts, document, summary_lines
        code: int = ExitCode.OK
        errored = False
        try:
            yield
            code = fleet.first_failure_code()
        except KeyboardInterrupt:
            code = INTERRUPTED
            raise
        except BaseException:
            errored = True
            raise
        finally:
            facts = RunFacts(self.action, release, self.started, time.monotonic() - self._clock,
                             ExitCode.FAILED if code == INTERRUPTED else ExitCode(code))
            doc = document(fleet, self.out.records, facts)
            if code == INTERRUPTED:
                doc["result"], doc["exit_code"] = "interrupted", INTERRUPTED
            if len(fleet.slots) > 1 or self.path or self.to_stdout:
                for line in summary_lines(fleet, self.out.records, facts):
                    self.out.line("", line)
            self.write(doc)
            close_run(self.out, fleet, self.action, facts.seconds, interrupted=code == INTERRUPTED, errored=errored)

    def write(self, doc: dict[str, Any]) -> None:
        if self.commits:  # a deploy's document also names the commit each host was sent
            from ..report import with_commits
            doc = with_commits(doc, self.commits)
        text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(text)
        if self.to_stdout:
            sys.stdout.write(text)
            sys.stdout.flush()


def close_run(out: Reporter, fleet: Fleet, action: str = "", seconds: float | None = None,
              interrupted: bool = False, errored: bool = False) -> None:
    """End a run's output with its closing line (once: later calls do nothing), naming the
    local log when the run failed."""
    from ..report import fleet_closing_line
    if out.closed:
        return
    elapsed = time.monotonic() - out.started if seconds is None else seconds
    log_path = out.log.shown_path() if out.log is not None else ""
    text, word = fleet_closing_line(action or out.task or "run", fleet, elapsed, interrupted, errored, log_path)
    out.close(text, word)
