"""``requires-python`` against the host's Python (`python_version`), as data."""
from __future__ import annotations

from pathlib import Path

import pytest

from wsgideploy.python_version import python_problem, satisfies

CASES = [
    ("3.11.2", ">=3.11", True), ("3.11.2", ">=3.12", False), ("3.12.0", ">=3.12", True),
    ("3.11.2", ">=3.9,<4", True), ("3.11.2", ">=3.8, <3.11", False), ("3.11.2", "<3.11.3", True),
    ("3.11.2", "==3.11.*", True), ("3.12.1", "==3.11.*", False), ("3.11.2", "!=3.11.*", False),
    ("3.11.2", "~=3.10", True), ("3.11.2", "~=3.12", False), ("3.11.2", "~=3.11.1", True), ("3.12.0", "~=3.11.1", False),
    ("3.11.2", ">3.11", True), ("3.11.0", ">3.11", False), ("3.11.2", "==3.11.2", True), ("3.11.2", "<=3.10", False),
    ("3.11.2", ">=3.9,!=3.11.2", False), ("3.11.2", "===3.11.2", True),  # a clause not read here holds
]


@pytest.mark.parametrize("version, specifier, expected", CASES)
def test_a_version_against_a_specifier(version: str, specifier: str, expected: bool) -> None:
    assert satisfies(version, specifier) is expected


def test_the_problem_names_both_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "a"\nrequires-python = ">=3.12"\n')
    assert python_problem(tmp_path, "python3", "3.11.2") == (
        "the app requires Python >=3.12 (pyproject.toml requires-python) and the host's python3 is 3.11.2: "
        "set [app] python to a version that meets it (e.g. \"3.12\": the host's python3.12, else installed with uv)")
    assert python_problem(tmp_path, "python3.12", "3.12.1") is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "a"\n')
    assert python_problem(tmp_path, "python3", "3.11.2") is None
