"""A static check of the app source: no development server may start at import time.

Under gunicorn the app module is imported, never run as ``__main__``. A bare
``app.run()`` at module level would start Flask's development server inside a
worker and block it forever, so the deploy refuses such a release.

This module is pure: it parses files with :mod:`ast` and never imports the app.

What counts as an *unguarded run call*
--------------------------------------
A call that executes at import time: a statement of the module body, or of a
module-level ``if``/``elif``/``else``, ``try``/``except``/``else``/``finally``,
``with``, ``for``, ``while`` or ``match`` block, or a statement directly in a
class body (class bodies run at import too). Not flagged:

* anything in a function or method body, or in a ``lambda`` (runs only when called;
  calls are not followed);
* the body of ``if __name__ == "__main__":`` (or ``"__main__" == __name__``, or
  ``__name__ == "__main__" and ...``), and the ``else`` of ``if __name__ != "__main__":``.

Which calls, so that ``subprocess.run()`` and friends stay quiet:

* ``run_simple(...)``, under any import path or alias
  (``werkzeug.serving.run_simple``, ``from werkzeug.serving import run_simple as serve``);
* ``X.run(...)`` where X is a name or an attribute chain and one of:
  - X was assigned at import time from an *app factory* call
    (``server = Flask(__name__)``, ``wsgi = create_app()``);
  - the last word of X's last name is ``app`` or ``application``
    (``app``, ``application``, ``flask_app``, ``pkg.webApp``; not ``mapper``,
    ``app_runner``);
* ``F(...).run(...)`` where F is an app factory (``create_app().run()``).

An *app factory* is a callable whose (import-resolved) last name is ``Flask``,
``Quart`` or ``Dash``, or has ``app``/``application`` among its words
(``create_app``, ``make_app``, ``FlaskApp``, ``get_wsgi_application``). Words
split snake_case and CamelCase, so ``wrapper`` or ``mapper`` never match.
Receivers rooted in ``subprocess``, ``asyncio``, ``os``, ``trio``, ``anyio``,
``uvloop`` or ``curio`` (after import aliases) are never flagged.

Files that do not parse are skipped: the import check reports them.
"""
from __future__ import annotations

import ast
import os
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

APP_NAME_WORDS = frozenset({"app", "application"})
APP_FACTORIES = frozenset({"Flask", "Quart", "Dash"})
NEVER_APPS = frozenset({"subprocess", "asyncio", "os", "trio", "anyio", "uvloop", "curio"})
SKIPPED_DIRS = frozenset({"tests", "test", "venv", ".venv", "node_modules", "__pycache__"})

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_TRY_STATEMENTS = (ast.Try, ast.TryStar) if hasattr(ast, "TryStar") else (ast.Try,)
_MAX_CODE = 120


@dataclass(frozen=True)
class RunCall:
    """An unguarded development-server call: where it is and what it says."""

    path: str  # release-relative posix path
    line: int
    code: str  # the call's source text, on one line


def python_files(source: Path, exclude: Callable[[str], bool] | None = None) -> list[Path]:
    """The ``*.py`` files of ``source`` that the app may import, sorted.

    Skips test files (``test_*.py``, ``*_test.py``, ``conftest.py``), directories
    named ``tests``, ``test``, ``venv``, ``.venv``, ``node_modules`` or
    ``__pycache__``, hidden directories (never importable packages) and any
    directory holding a ``pyvenv.cfg`` (a virtualenv of another name).
    ``exclude`` gets release-relative posix paths of directories and files;
    a directory it excludes is not descended into.
    """
    found = []
    for root, dirs, names in os.walk(source):
        root_path = Path(root)
        rel_root = root_path.relative_to(source).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        dirs[:] = sorted(d for d in dirs
                         if d not in SKIPPED_DIRS and not d.startswith(".")
                         and not (root_path / d / "pyvenv.cfg").exists()
                         and not (exclude and exclude(prefix + d)))
        for name in names:
            if not name.endswith(".py") or _is_test_file(name):
                continue
            if (exclude and exclude(prefix + name)) or not (root_path / name).is_file():
                continue
            found.append(root_path / name)
    return sorted(found)


def find_unguarded_run_calls(source: Path, files: Iterable[Path]) -> list[RunCall]:
    """Every call in ``files`` that would start a development server at import time.

    ``files`` are paths under ``source`` (or relative to it); the result names them
    relative to ``source``, in the order given, each file's calls by position.
    Unreadable and unparsable files are skipped, never raised.
    """
    calls: list[RunCall] = []
    seen: set[str] = set()
    for path in files:
        try:
            rel = path.relative_to(source).as_posix()
        except ValueError:
            rel, path = path.as_posix(), source / path
        if rel in seen:
            continue
        seen.add(rel)
        parsed = _parse(path)
        if parsed is None:
            continue
        text, module = parsed
        calls.extend(RunCall(rel, call.lineno, _code(text, call)) for call in _dev_server_calls(module))
    return calls


def describe(calls: list[RunCall]) -> str:
    """A message for people: one line per call, with the fix. Empty when there is none."""
    return "\n".join(
        f"{call.path}:{call.line}: {call.code} runs at import time and would start "
        f"{_server_of(call.code)} development server inside the app server; "
        f'put it under `if __name__ == "__main__":`'
        for call in calls)


# -- reading ------------------------------------------------------------------

def _is_test_file(name: str) -> bool:
    return name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py")


def _parse(path: Path) -> tuple[str, ast.Module] | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        encoding, _ = tokenize.detect_encoding(iter(data.splitlines(keepends=True)).__next__)
        text = data.decode(encoding, errors="replace")
    except (SyntaxError, LookupError):
        text = data.decode("utf-8", errors="replace")
    try:
        return text, ast.parse(text, filename=str(path))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # ValueError: null bytes (Python < 3.12). The import check reports broken files.
        return None


def _code(text: str, call: ast.Call) -> str:
    segment = ast.get_source_segment(text, call) or ast.unparse(call)
    if "\n" in segment:
        segment = re.sub(r",?\s+\)$", ")", re.sub(r"\(\s+", "(", " ".join(segment.split())))
    return segment if len(segment) <= _MAX_CODE else segment[:_MAX_CODE - 1] + "…"


def _server_of(code: str) -> str:
    return "Werkzeug's" if code.split("(", 1)[0].endswith("run_simple") else "Flask's"


# -- what runs at import time ---------------------------------------------------

def _main_guard(test: ast.expr) -> str | None:
    """Which branch of ``if test:`` runs only as ``__main__``: "body", "orelse" or None."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        sides = {_name_or_main(test.left), _name_or_main(test.comparators[0])}
        if sides == {"__name__", "'__main__'"}:
            if isinstance(test.ops[0], ast.Eq):
                return "body"
            if isinstance(test.ops[0], ast.NotEq):
                return "orelse"
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return {"body": "orelse", "orelse": "body"}.get(_main_guard(test.operand) or "")
    if isinstance(test, ast.BoolOp):
        # `main and x` runs its body only as main; `not-main or x` runs its else only as main.
        wanted = "body" if isinstance(test.op, ast.And) else "orelse"
        if any(_main_guard(value) == wanted for value in test.values):
            return wanted
    return None


def _name_or_main(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name) and node.id == "__name__":
        return "__name__"
    if isinstance(node, ast.Constant) and node.value == "__main__":
        return "'__main__'"
    return None


def _executed_statements(body: list[ast.stmt], *, class_bodies: bool) -> Iterator[ast.stmt]:
    """The statements of ``body`` that run on import, nested blocks included."""
    for stmt in body:
        yield stmt
        for block in _executed_blocks(stmt, class_bodies=class_bodies):
            yield from _executed_statements(block, class_bodies=class_bodies)


def _executed_blocks(stmt: ast.stmt, *, class_bodies: bool) -> list[list[ast.stmt]]:
    if isinstance(stmt, ast.If):
        guarded = _main_guard(stmt.test)
        return [block for block, branch in ((stmt.body, "body"), (stmt.orelse, "orelse")) if branch != guarded]
    if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
        return [stmt.body, stmt.orelse]
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return [stmt.body]
    if isinstance(stmt, _TRY_STATEMENTS):
        return [stmt.body, *(handler.body for handler in stmt.handlers), stmt.orelse, stmt.finalbody]
    if isinstance(stmt, ast.Match):
        return [case.body for case in stmt.cases]
    if isinstance(stmt, ast.ClassDef) and class_bodies:
        return [stmt.body]
    return []  # function bodies run only when called


def _evaluated_parts(stmt: ast.stmt) -> list[ast.AST]:
    """The parts of ``stmt`` itself (not its blocks) that are evaluated when it runs."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return [*stmt.decorator_list, *stmt.args.defaults, *(d for d in stmt.args.kw_defaults if d)]
    if isinstance(stmt, ast.ClassDef):
        return [*stmt.decorator_list, *stmt.bases, *stmt.keywords]
    if isinstance(stmt, (ast.If, ast.While)):
        return [stmt.test]
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return [stmt.iter]
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return [item.context_expr for item in stmt.items]
    if isinstance(stmt, _TRY_STATEMENTS):
        return [handler.type for handler in stmt.handlers if handler.type]
    if isinstance(stmt, ast.Match):
        return [stmt.subject, *(case.guard for case in stmt.cases if case.guard)]
    return [stmt]


def _calls_in(node: ast.AST) -> Iterator[ast.Call]:
    """Calls evaluated with ``node``: not in lambda bodies, nor in a generator's lazy parts."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Lambda):
            stack.extend([*current.args.defaults, *(d for d in current.args.kw_defaults if d)])
            continue
        if isinstance(current, ast.GeneratorExp):
            stack.append(current.generators[0].iter)
            continue
        if isinstance(current, ast.Call):
            yield current
        stack.extend(ast.iter_child_nodes(current))


# -- which calls start a server -------------------------------------------------

@dataclass
class _ModuleNames:
    """Import aliases and the names bound to apps at import time, for one module."""

    aliases: dict[str, str] = field(default_factory=dict)
    apps: set[str] = field(default_factory=set)

    def resolve(self, dotted: str) -> str:
        head, _, rest = dotted.partition(".")
        full = self.aliases.get(head, head)
        return f"{full}.{rest}" if rest else full

    def is_app_factory(self, func: ast.expr) -> bool:
        dotted = _dotted(func)
        if dotted is None:
            return False
        resolved = self.resolve(dotted)
        last = resolved.rsplit(".", 1)[-1]
        return (_root(resolved) not in NEVER_APPS
                and (last in APP_FACTORIES or not APP_NAME_WORDS.isdisjoint(_words(last))))


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a name or an attribute chain of names, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _root(dotted: str) -> str:
    return dotted.lstrip(".").split(".", 1)[0]


def _words(name: str) -> list[str]:
    return [word.lower() for word in _WORDS.findall(name)]


def _module_names(module: ast.Module) -> _ModuleNames:
    names = _ModuleNames()
    for stmt in _executed_statements(module.body, class_bodies=False):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    names.aliases[alias.asname] = alias.name
                else:
                    head = alias.name.split(".", 1)[0]
                    names.aliases[head] = head
        elif isinstance(stmt, ast.ImportFrom):
            base = "." * stmt.level + (stmt.module or "")
            for alias in stmt.names:
                joiner = "" if base.endswith(".") or not base else "."
                names.aliases[alias.asname or alias.name] = f"{base}{joiner}{alias.name}"
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            if _is_app_value(stmt.value, names):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                names.apps.update(d for d in map(_dotted, targets) if d)
    return names


def _is_app_value(value: ast.expr, names: _ModuleNames) -> bool:
    if isinstance(value, ast.Call):
        return names.is_app_factory(value.func)
    return _dotted(value) in names.apps  # `application = app`


def _starts_dev_server(call: ast.Call, names: _ModuleNames) -> bool:
    func = call.func
    dotted = _dotted(func)
    if dotted and names.resolve(dotted).rsplit(".", 1)[-1] == "run_simple":
        return True
    if not (isinstance(func, ast.Attribute) and func.attr == "run"):
        return False
    receiver = func.value
    if isinstance(receiver, ast.Call):
        return names.is_app_factory(receiver.func)
    receiver_name = _dotted(receiver)
    if receiver_name is None:
        return False
    resolved = names.resolve(receiver_name)
    if _root(resolved) in NEVER_APPS:
        return False
    if receiver_name in names.apps:
        return True
    words = _words(resolved.rsplit(".", 1)[-1])
    return bool(words) and words[-1] in APP_NAME_WORDS


def _dev_server_calls(module: ast.Module) -> list[ast.Call]:
    names = _module_names(module)
    found = [call
             for stmt in _executed_statements(module.body, class_bodies=True)
             for part in _evaluated_parts(stmt)
             for call in _calls_in(part)
             if _starts_dev_server(call, names)]
    return sorted(found, key=lambda call: (call.lineno, call.col_offset))
