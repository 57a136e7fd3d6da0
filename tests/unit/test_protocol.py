"""The output protocol has one owner (`wsgideploy.protocol`): no other module types a marker out, and
the recipes print facts only through process.sh's ``fact``, which prints `protocol.FACTS_MARK`."""
from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

from wsgideploy import protocol
from wsgideploy.commands.recipe import recipe

TASKS = Path(protocol.__file__).resolve().parent
MARKERS = [protocol.FACTS_MARK, protocol.STEP_MARK, protocol.SOFT_ERROR_MARK, protocol.SESSION_MARK,
           protocol.LOG_MARK, protocol.VENV_MARK, protocol.FILE_MARK, protocol.MISSING_MARK]
MARKER = re.compile("|".join(re.escape(m) for m in MARKERS))


def docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes of a module, its classes and functions (prose may name markers)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


@pytest.mark.parametrize("path", sorted(p for p in TASKS.rglob("*.py") if p.name != "protocol.py"),
                         ids=lambda p: str(p.relative_to(TASKS)))
def test_no_module_but_protocol_types_a_marker_out(path: Path) -> None:
    tree = ast.parse(path.read_text())
    skip = docstrings(tree)
    typed = [node.lineno for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
             and MARKER.search(node.value)]
    assert not typed, f"{path.name} types a marker out on line(s) {typed}: use wsgideploy.protocol"


def test_recipes_print_facts_only_through_fact() -> None:
    for path in sorted((TASKS / "recipes").glob("*.sh")):
        lines = [n for n, line in enumerate(path.read_text().splitlines(), 1)
                 if MARKER.search(line) and not line.startswith("#")]
        expected = [5] if path.name == "process.sh" else []
        assert lines == expected, f"{path.name}: markers typed out on lines {lines}; call `fact key value`"


def test_fact_prints_the_protocols_fact_lines() -> None:
    out = subprocess.run(["bash", "-c", recipe("process") + '\nfact action "already running"\nfact pid ""\n'],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    assert protocol.parse_facts(out) == {"action": "already running", "pid": ""}
    assert out.splitlines()[0] == protocol.FACTS_MARK + "action=already running"
