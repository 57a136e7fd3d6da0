"""The app each deployer ships: a private copy of examples/hello (``large`` and ``floorlarge``:
benchmarks/large_app) that the scenarios edit.

The ``pyproject`` deployer's copy is the same app as a pyproject-only package: requirements.txt becomes
``[project] dependencies`` (setuptools, ``py-modules = ["app"]``), and a requirements change edits them.

Each copy also answers ``/work?ms=N`` after N milliseconds (the load scenario's requests).

Every deploy gets a version of its own (``VERSION = "bench-<deployer>-<n>"`` in app.py), so the
check after it can tell over HTTP which release is serving. A requirements change appends
a line that pip resolves to the packages already installed (an exclusion of a version that
does not exist), so the venv key changes and a new venv is built, with nothing new to fetch.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
EXAMPLE = PROJECT / "examples" / "hello"
LARGE = PROJECT / "benchmarks" / "large_app"  # about 50 pinned dependencies
_VERSION_LINE = re.compile(r'^VERSION = "[^"\n]*"$', re.MULTILINE)
_BENCH_PIN = "# benchmark requirements change"
# The load scenario's requests: each takes ``ms`` milliseconds of a worker (a stand-in for a real app's work).
WORK_ROUTE = '''

@app.route("/work")
def work():
    import time
    time.sleep(int(request.args.get("ms", "100")) / 1000)
    return "done\\n"
'''
_MAIN = '\n\nif __name__ == "__main__":'


@dataclass
class AppCopy:
    """``examples/hello`` copied to ``path``, and the versions deployed from it, in order."""

    path: Path
    deployer: str
    counter: int = 0
    requirement_changes: int = 0
    history: list[str] = field(default_factory=list)  # versions deployed, oldest first

    @classmethod
    def create(cls, path: Path, deployer: str, pyproject: bool = False, example: Path = EXAMPLE) -> "AppCopy":
        shutil.rmtree(path, ignore_errors=True)
        shutil.copytree(example, path, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        app_py = path / "app.py"
        if _MAIN not in app_py.read_text():
            raise ValueError(f"{app_py}: no `if __name__ == \"__main__\":` to put the /work route before")
        app_py.write_text(app_py.read_text().replace(_MAIN, WORK_ROUTE + _MAIN))
        if pyproject:
            requirements = path / "requirements.txt"
            write_pyproject(path, [ln.strip() for ln in requirements.read_text().splitlines()
                                   if ln.strip() and not ln.startswith("#")])
            requirements.unlink()
        return cls(path=path, deployer=deployer)

    def next_version(self) -> str:
        """Write a new ``VERSION`` into app.py (a code-only change) and return it."""
        self.counter += 1
        version = f"bench-{self.deployer}-{self.counter}"
        app_py = self.path / "app.py"
        text, count = _VERSION_LINE.subn(f'VERSION = "{version}"', app_py.read_text())
        if count != 1:
            raise ValueError(f"{app_py}: expected one VERSION line")
        app_py.write_text(text)
        return version

    def change_requirements(self) -> None:
        """Give requirements.txt (or pyproject's dependencies) content it never had, so its venv key is new."""
        self.requirement_changes += 1
        pin = f"itsdangerous>=2,!=0.0.{self.requirement_changes}"
        if (self.path / "pyproject.toml").is_file():
            write_pyproject(self.path, [*EXAMPLE.joinpath("requirements.txt").read_text().split(), pin])
            return
        req = self.path / "requirements.txt"
        lines = [ln for ln in req.read_text().splitlines() if not ln.startswith(("itsdangerous", _BENCH_PIN))]
        lines += [_BENCH_PIN, pin]
        req.write_text("\n".join(lines) + "\n")

    def deployed(self, version: str) -> None:
        self.history.append(version)

    def rolled_back(self) -> str:
        """The version a rollback from the newest release goes back to (the one before it)."""
        if len(self.history) < 2:
            raise ValueError("nothing to roll back to")
        return self.history[-2]


def write_pyproject(path: Path, dependencies: list[str]) -> None:
    """``path/pyproject.toml`` making the example (one module, app.py) a package with ``dependencies``."""
    listed = ", ".join(f'"{d}"' for d in dependencies)
    (path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "hello"\nversion = "1.0"\ndependencies = [{listed}]\n\n'
        '[tool.setuptools]\npy-modules = ["app"]\n')


def release_id() -> str:
    """A UTC timestamp id like wsgideploy's (``20261121T101500Z``)."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
