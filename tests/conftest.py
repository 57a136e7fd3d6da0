"""Test-suite policy shared by unit and integration tests.

- Every test under ``tests/integration`` is marked ``integration`` (declared in pyproject.toml),
  so ``pytest -m "not integration"`` runs the pure unit tests only.
- The tests of an integration module go to one xdist worker together (``xdist_group`` by module, run
  with ``--dist loadgroup``): a module boots its Debian servers once (module-scoped), not once per
  worker that got one of its tests, and a test may rely on what an earlier one of its module deployed.
  Unit tests are spread one by one.
- Skips are summarised with their reasons. When ``CI=true``, a single skipped test makes the
  session FAIL: in CI a skip means the integration environment is broken (not root, no sshd,
  no nginx...), and a green run that tested nothing must not pass.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
INTEGRATION_DIR = PROJECT / "tests" / "integration"

# `tests` (and `benchmarks`) import from the project root; `wsgideploy` itself is the installed
# (editable) package, built from tasks/ and templates/ (see pyproject.toml).
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.path)).resolve().is_relative_to(INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.xdist_group(Path(str(item.path)).stem))


def _skips(config: pytest.Config) -> list[tuple[str, str]]:
    """(test id, reason) of every skipped test, from the terminal reporter's stats."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return []
    out = []
    for report in reporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        out.append((report.nodeid, reason.removeprefix("Skipped: ")))
    return out


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller decides
        return
    skips = _skips(session.config)
    if _in_ci() and skips and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        session.config.stash[_CI_FAILED] = True
        if session.config.pluginmanager.get_plugin("terminalreporter") is None:
            print(f"CI=true: {len(skips)} test(s) skipped; skips fail the run in CI.", file=sys.stderr)


_CI_FAILED = pytest.StashKey[bool]()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    skips = _skips(config)
    if not skips:
        return
    failing = config.stash.get(_CI_FAILED, False) or _in_ci()
    terminalreporter.write_sep("=", f"{len(skips)} skipped test(s)", red=failing, yellow=not failing)
    for nodeid, reason in skips:
        terminalreporter.write_line(f"SKIPPED {nodeid}: {reason}")
    if failing:
        terminalreporter.write_line(
            "CI=true: skipped tests FAIL the run (a skip in CI means the test environment is broken).",
            red=True, bold=True)
    else:
        terminalreporter.write_line("(outside CI skips are allowed; with CI=true they fail the run)")
