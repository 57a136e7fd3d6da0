"""Where a run's results go: progress lines, the closing summary and the ``--json`` document."""
from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from invoke.exceptions import Exit

from ..errors import ExitCode
from ..fleet import Fleet
from ..output import Reporter
from ..report import SCHEMA_VERSION, RunFacts, document, summary_lines

INTERRUPTED = 130  # what a shell reports for Ctrl-C


class RunOutput:
    """One run's output. With ``--json`` the document goes to stdout and progress to stderr."""

    def __init__(self, action: str, to_stdout: bool = False, path: str | None = None) -> None:
        self.action = action
        self.to_stdout = to_stdout
        self.path = Path(path) if path else None
        self.out = Reporter(stream=sys.stderr if to_stdout else sys.stdout)
        self.started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._clock = time.monotonic()

    @contextmanager
    def on_usage_error(self) -> Iterator[None]:
        """Before any host is touched: an `Exit` still leaves a JSON document saying why."""
        try:
            yield
        except Exit as exc:
            self.write({"wsgideploy": SCHEMA_VERSION, "action": self.action, "release": None,
                        "result": "invalid" if exc.code == ExitCode.USAGE else "failed",
                        "exit_code": exc.code, "started": self.started,
                        "seconds": round(time.monotonic() - self._clock, 3), "hosts": {},
                        "error": str(exc.message or "").removeprefix("wsgideploy: ")})
            raise

    @contextmanager
    def finishing(self, fleet: Fleet, release: str = "") -> Iterator[None]:
        """Run the body, then print the summary and write the document, however it ended."""
        code: int = ExitCode.OK
        try:
            yield
            code = fleet.first_failure_code()
        except KeyboardInterrupt:
            code = INTERRUPTED
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

    def write(self, doc: dict[str, Any]) -> None:
        text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(text)
        if self.to_stdout:
            sys.stdout.write(text)
            sys.stdout.flush()
