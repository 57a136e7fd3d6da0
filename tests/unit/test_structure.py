"""The shape of the package, kept true by tests: small modules, no import cycle, settings that
import no command builder, and every server class named once in its registry."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

from wsgideploy import modes
from wsgideploy.commands.app_server import AppServer
from wsgideploy.commands.front import FrontServer

PACKAGE = Path(__file__).resolve().parents[2] / "tasks"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(("wsgideploy", *(p for p in parts if p != "__init__")))


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def runtime_imports(name: str) -> set[str]:
    """The package's modules that ``name`` imports when it loads: its top-level imports, not those
    under ``if TYPE_CHECKING:`` nor those inside functions."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in MODULES and m != name}


def test_no_module_is_over_400_lines() -> None:
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these modules (over {MAX_LINES} lines): {long}"


def test_no_import_cycle() -> None:
    graph = {name: runtime_imports(name) for name in MODULES}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt] if nxt in path else [name, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[name] = 2

    for name in MODULES:
        if name not in state:
            visit(name, [name])


def test_the_settings_import_nothing_from_the_command_builders_or_the_registry() -> None:
    for name in ("wsgideploy.settings", "wsgideploy.checks"):
        seen, todo = set(), [name]
        while todo:  # everything it loads, transitively
            for imported in runtime_imports(todo.pop()):
                if imported not in seen:
                    seen.add(imported)
                    todo.append(imported)
        builders = sorted(m for m in seen if m.startswith("wsgideploy.commands") or m == "wsgideploy.modes")
        assert not builders, f"{name} loads {builders}"


def test_every_server_class_is_named_once_in_its_registry() -> None:
    classes: dict[type, list[type]] = {AppServer: [], FrontServer: []}
    for name in MODULES:
        if not name.startswith("wsgideploy.commands."):
            continue
        module = __import__(name, fromlist=["_"])
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or inspect.isabstract(cls):
                continue
            for base in classes:
                if issubclass(cls, base) and cls is not base and "name" in vars(cls):
                    classes[base].append(cls)
    registered = {AppServer: modes.APP_SERVERS, FrontServer: modes.FRONT_SERVERS}
    for base, found in classes.items():
        in_registry = sorted(type(instance).__name__ for instance in registered[base].values())
        assert sorted(cls.__name__ for cls in found) == in_registry
        assert all(key == instance.name for key, instance in registered[base].items())
    for server in modes.APP_SERVERS.values():
        assert server.fronts and set(server.fronts) <= set(modes.FRONT_SERVERS), server.name
