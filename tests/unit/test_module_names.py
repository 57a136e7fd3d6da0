"""No module of the repository binds a name at its top level that it has imported (pyflakes' "redefinition
of an import"): the later binding hides the import from every line below it, and from the code that runs
only when something fails. test_https_deploy once imported stock's FRONTS and defined a FRONTS of its own;
its failure message then raised AttributeError and hid the deploy's output on CI."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for folder in ("tasks", "tests", "benchmarks", "examples") for p in (ROOT / folder).rglob("*.py")
                 if "golden" not in p.parts) + [ROOT / "fabfile.py"]


def imported_then_bound(tree: ast.Module) -> list[tuple[str, int]]:
    """(name, line) of each top-level binding of a name an earlier top-level import bound."""
    imported: dict[str, int] = {}
    found: list[tuple[str, int]] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                if name != "*":
                    imported[name] = node.lineno
            continue
        bound: list[str] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        found += [(name, node.lineno) for name in bound if name in imported]
    return found


def test_the_check_finds_an_import_bound_again() -> None:
    tree = ast.parse("from .stock import FRONTS, get\nimport os.path\nFRONTS: dict = {}\ndef get(): pass\nx = 1\n")
    assert imported_then_bound(tree) == [("FRONTS", 3), ("get", 4)]


def test_no_module_binds_a_name_it_imported() -> None:
    assert len(SOURCES) > 100, SOURCES
    found = {str(path.relative_to(ROOT)): hits for path in SOURCES
             if (hits := imported_then_bound(ast.parse(path.read_text(), str(path))))}
    assert not found, f"a top-level name bound again after its import (rename one): {found}"
