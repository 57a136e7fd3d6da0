"""A pip build that needs a compiler the host lacks says what to install (found on Debian's stock server)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wsgideploy.commands import venv
from wsgideploy.layout import Layout

KEY = "py3.11.2-0123456789abcdef"
# A stand-in python: "-m venv --without-pip DIR" makes a venv whose python finds a bundled pip (-c: the
# finder, templates/wsgideploy_pip.py) and whose "-m pip install" fails the way pip does where a package compiles.
FAKE_PYTHON = """#!/bin/bash
[ "$1" = -m ] && [ "$2" = venv ] && [ "$3" = --without-pip ] || exit 2
mkdir -p "$4/bin"
printf '#!/bin/bash\\nif [ "$1" = -c ]; then exit 0; fi\\necho %q\\nexit 1\\n' "$PIP_SAYS" > "$4/bin/python"
chmod +x "$4/bin/python"
"""


def build(tmp_path: Path, pip_says: str) -> subprocess.CompletedProcess[str]:
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    layout = Layout(str(tmp_path / "app"))
    for folder in (".deploy", "venvs"):
        (tmp_path / "app" / folder).mkdir(parents=True)
    text = venv.ensure_venv(layout, KEY, str(python), ["uwsgi"])
    return subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "PIP_SAYS": pip_says})


@pytest.mark.parametrize("pip_says", [
    'Exception: you need a C compiler to build uWSGI',
    "error: command 'x86_64-linux-gnu-gcc' failed: No such file or directory",
    "error: command '/usr/bin/gcc' failed with exit code 1",
    "src/module.c:1:10: fatal error: Python.h: No such file or directory",
])
def test_a_build_without_a_compiler_or_headers_names_the_packages_to_install(tmp_path: Path, pip_says: str) -> None:
    result = build(tmp_path, pip_says)
    assert result.returncode == 1
    assert pip_says in result.stderr, "the log tail still goes to stderr"
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"pip install failed: {venv.BUILD_TOOLS_HINT} (full log on the host: "), last
    assert not (tmp_path / "app" / "venvs" / KEY).exists()


def test_another_pip_failure_gets_no_compiler_hint(tmp_path: Path) -> None:
    result = build(tmp_path, "ERROR: No matching distribution found for no-such-package")
    assert result.returncode == 1
    assert "build-essential" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("pip install failed (full log on the host: ")
