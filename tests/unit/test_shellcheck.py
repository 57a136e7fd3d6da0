"""Every shell file of the repository passes shellcheck: the host recipes (tasks/recipes/*.sh, bash
function libraries) and the scripts that set machines up and run the tests and the quickstart.

Without shellcheck this fails under ``CI=true`` (``.ci/install-deps.sh`` installs it) and skips elsewhere.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def shell_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.sh"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.split()
    found = {ROOT / name for name in listed} | set((ROOT / "tasks" / "recipes").glob("*.sh"))
    golden = ROOT / "tests" / "unit" / "golden"  # composed scripts kept for their diff, not sources
    return sorted(path for path in found if path.is_file() and golden not in path.parents)


def test_the_recipes_are_found() -> None:
    names = {path.name for path in shell_files()}
    recipes = {f"{name}.sh" for name in ("process", "pidfile", "app_check", "gunicorn", "uwsgi", "standalone",
                                          "fastcgi", "mod_wsgi", "cgi", "site", "nginx", "lighttpd")}
    assert recipes | {"run.sh", "install-deps.sh"} <= names, names


@pytest.mark.parametrize("path", shell_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shellcheck_passes(path: Path) -> None:
    if shutil.which("shellcheck") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("shellcheck is not installed (CI=true): apt-get install shellcheck")
        pytest.skip("shellcheck is not installed")
    result = subprocess.run(["shellcheck", "--severity=style", str(path)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout
