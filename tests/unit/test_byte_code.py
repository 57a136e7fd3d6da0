"""Byte-code caches for the modules a task imports (issue 16: start-up).

Invoke's program turns Python's byte-code writing off (``sys.dont_write_bytecode``) so that no ``.pyc`` of
the tasks file lands beside it, and leaves it off for the whole run: every module imported later (wsgideploy's
own, Jinja2) was compiled again by every command wherever its install had no caches (``uv tool install``
compiles none; an editable install neither). Both commands, ``wsgideploy`` and ``fab`` through the two-line
fabfile, give Python its own setting back once the tasks are loaded.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MAKE = {"wsgideploy": "from wsgideploy.program import make_program\nprogram = make_program()",
        "fab": "from fabric.main import program"}
PROBE = """
import sys
{make}
program.create_config()
program.parse_core([{name!r}, "--list"])
assert sys.dont_write_bytecode, "Invoke: no .pyc for the tasks file"
program.parse_collection()
program.parse_tasks()
print(sys.dont_write_bytecode)
"""


@pytest.mark.parametrize("name", list(MAKE))
@pytest.mark.parametrize("python_setting, expected", [(None, "False"), ("1", "True")], ids=["default", "-B"])
def test_a_task_s_imports_are_cached_as_python_itself_would(tmp_path: Path, name: str,
                                                            python_setting: str | None, expected: str) -> None:
    (tmp_path / "fabfile.py").write_text("from wsgideploy.fab import ns  # noqa: F401\n")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    if python_setting:
        env["PYTHONDONTWRITEBYTECODE"] = python_setting  # the person's own setting is kept
    done = subprocess.run([sys.executable, "-c", PROBE.format(make=MAKE[name], name=name)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
