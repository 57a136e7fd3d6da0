"""What ``wsgideploy init`` learns about an app from its repository, without importing it.

Pure: files are read and parsed with :mod:`ast` and :mod:`tomllib`; no app code runs
(an import could need a database, secrets or packages that are not installed here).

The WSGI target, in this order (the first match wins; later matches are kept in
`Detected.others` so that ``init`` can show them):

1. Django: ``manage.py`` names its settings module (``DJANGO_SETTINGS_MODULE``, e.g.
   ``proj.settings``), and ``proj/wsgi.py`` binds ``application`` -> ``proj.wsgi:application``.
2. Flask-shaped modules, in the repository root and then in ``src/`` when it holds
   packages (a src layout, where ``src/<pkg>/`` is imported as ``<pkg>``): ``wsgi.py``,
   ``app.py``, ``application.py``, ``main.py``; then each package (a folder with
   ``__init__.py``, by name, skipping tests, docs and virtualenvs): ``<pkg>/__init__.py``,
   then ``<pkg>/wsgi.py``, ``app.py``, ``application.py``, ``main.py``.

In one file, a module-level app object wins over a factory:

* ``app = Flask(__name__)``, ``application = create_app()``: a name bound to a call of
  `APP_CALLS` (any import path: ``flask.Flask``) -> ``module:app`` (``app`` first, then
  ``application``, then other names in file order);
* in a ``wsgi.py``, ``from shop import app`` (or ``application``) -> ``wsgi:app``;
* ``def create_app(...)`` or ``def make_app(...)`` callable without arguments
  -> ``module:create_app()``.
"""
from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODULE_NAMES = ("wsgi", "app", "application", "main")
OBJECT_NAMES = ("app", "application")
FACTORY_NAMES = ("create_app", "make_app")
# Calls whose result is a WSGI app: Flask itself, the usual factories, Django's handler.
APP_CALLS = frozenset({"Flask", *FACTORY_NAMES, "get_wsgi_application"})
# Folders that hold no app: looked at by nobody, so a test's `app = Flask(...)` never wins.
SKIPPED_DIRS = frozenset({"tests", "test", "docs", "doc", "venv", ".venv", "env", "node_modules",
                          "build", "dist", "migrations", "deploy", "inventories", "site-packages"})

_NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_VERSION = re.compile(r"^(?:python-?)?3\.(\d+)(?:[.\s].*)?$")
_REQUIRES = re.compile(r"(?:>=|~=|==|\^)\s*3\.(\d+)")


class DetectError(Exception):
    """No WSGI app was found. The message lists what was searched."""

    def __init__(self, root: Path, searched: tuple[str, ...]) -> None:
        self.root = root
        self.searched = searched
        looked_at = ", ".join(searched) if searched else "no candidate files (none of them exists)"
        super().__init__(
            f"no WSGI app found in {root}: looked at {looked_at}. Looked for: manage.py naming "
            f"<project>/wsgi.py (Django); {', '.join(m + '.py' for m in MODULE_NAMES)} and "
            f"<package>/__init__.py, <package>/{{{','.join(MODULE_NAMES)}}}.py (also under src/) binding "
            f"`app = Flask(...)` / `application = ...` or defining create_app() / make_app(). "
            f"Write deploy/<stage>.toml by hand (see docs/inventory.md)")


@dataclass(frozen=True)
class Detected:
    """The facts ``init`` writes into a stage file. Paths are relative to ``root``, with '/'."""

    root: Path
    name: str                       # the app name, fit for app.name
    wsgi: str                       # "pkg:create_app()", "module:app", "proj.wsgi:application"
    framework: str                  # "django" or "flask" (everything else is Flask-shaped)
    wsgi_file: str                  # the file the target was found in
    others: tuple[str, ...] = ()    # later candidates, "target (file)", not chosen
    requirements: str | None = None     # "requirements.txt", "pyproject.toml" or None
    static_dir: str | None = None       # Flask's static folder; None for Django (STATIC_ROOT)
    python: str | None = None           # "3.11"
    python_source: str | None = None    # ".python-version" or "pyproject.toml"
    searched: tuple[str, ...] = ()      # every candidate file read, in order


@dataclass(frozen=True)
class _Candidate:
    """One WSGI target found in one file."""

    target: str
    file: Path
    framework: str


def detect(root: Path) -> Detected:
    """Detect the app in the repository at ``root``; `DetectError` when there is no WSGI app."""
    root = root.resolve()
    pyproject = _read_toml(root / "pyproject.toml")
    searched: list[str] = []
    found = _django_candidates(root, searched) + _flask_candidates(root, searched)
    # Django's proj/wsgi.py also looks like a module-level app: keep each target once.
    candidates: list[_Candidate] = []
    for candidate in found:
        if all(candidate.target != kept.target for kept in candidates):
            candidates.append(candidate)
    if not candidates:
        raise DetectError(root, tuple(dict.fromkeys(searched)))
    chosen = candidates[0]
    python, python_source = detect_python(root, pyproject)
    return Detected(
        root=root, name=app_name(pyproject, root.name), wsgi=chosen.target, framework=chosen.framework,
        wsgi_file=_rel(chosen.file, root),
        others=tuple(f"{c.target} ({_rel(c.file, root)})" for c in candidates[1:]),
        requirements=detect_requirements(root),
        static_dir=None if chosen.framework == "django" else _static_dir(chosen.file, root),
        python=python, python_source=python_source, searched=tuple(dict.fromkeys(searched)))


def app_name(pyproject: dict[str, Any], directory_name: str) -> str:
    """``[project].name`` of pyproject.toml, else the directory name, made to fit app.name
    (``^[a-z0-9][a-z0-9_-]*$``): lowercase, other characters become '-'; "app" if nothing is left."""
    project = pyproject.get("project")
    raw = project.get("name") if isinstance(project, dict) else None
    name = raw if isinstance(raw, str) and raw.strip() else directory_name
    name = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).lstrip("-_").rstrip("-")
    return name if _NAME_RULE.fullmatch(name) else "app"


def detect_requirements(root: Path) -> str | None:
    """How the app brings its dependencies: ``requirements.txt`` (which the deploy prefers),
    else ``pyproject.toml``, else None."""
    for name in ("requirements.txt", "pyproject.toml"):
        if (root / name).is_file():
            return name
    return None


def detect_python(root: Path, pyproject: dict[str, Any]) -> tuple[str | None, str | None]:
    """The app's Python as ``("3.11", where)``: the first line of ``.python-version``
    (``3.11.7`` -> 3.11), else the lower bound of ``requires-python`` (``>=3.11`` -> 3.11);
    ``(None, None)`` when neither says."""
    version_file = root / ".python-version"
    if version_file.is_file():
        lines = version_file.read_text(errors="replace").splitlines()
        match = _VERSION.match(lines[0].strip()) if lines else None
        if match:
            return f"3.{match.group(1)}", ".python-version"
    project = pyproject.get("project")
    requires = project.get("requires-python") if isinstance(project, dict) else None
    if isinstance(requires, str):
        match = _REQUIRES.search(requires)
        if match:
            return f"3.{match.group(1)}", "pyproject.toml"
    return None, None


# --- Django ---------------------------------------------------------------------


def _django_candidates(root: Path, searched: list[str]) -> list[_Candidate]:
    """``<project>.wsgi:application`` for the project that ``manage.py`` names."""
    manage = root / "manage.py"
    tree = _parse(manage, root, searched)
    if tree is None:
        return []
    settings = _settings_module(tree)
    projects = [settings.split(".")[0]] if settings else []
    # Without a literal settings module, any top-level folder with wsgi.py and settings will do.
    projects += sorted(p.parent.name for p in root.glob("*/wsgi.py")
                       if (p.parent / "settings.py").is_file() or (p.parent / "settings").is_dir())
    for project in dict.fromkeys(projects):
        wsgi_file = root / project / "wsgi.py"
        wsgi_tree = _parse(wsgi_file, root, searched)
        if wsgi_tree is not None and "application" in _bound_names(wsgi_tree):
            return [_Candidate(f"{project}.wsgi:application", wsgi_file, "django")]
    return []


def django_project(root: Path) -> str | None:
    """The Django project package that ``manage.py`` names (``mysite``), None for another app."""
    candidates = _django_candidates(root, [])
    return candidates[0].target.split(".", 1)[0] if candidates else None


def _settings_module(tree: ast.Module) -> str | None:
    """The literal of ``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and len(node.args) == 2 and all(
                isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
            key, value = (a.value for a in node.args)  # type: ignore[attr-defined]
            if key == "DJANGO_SETTINGS_MODULE":
                return value
    return None


# --- Flask and other module-level apps ------------------------------------------


def import_roots(root: Path) -> list[Path]:
    """Where imports start: the repository root, and ``src/`` when it holds a package (a src
    layout: ``src/<pkg>`` is installed into the venv and imported as ``<pkg>``)."""
    src = root / "src"
    return [root, src] if src.is_dir() and any(_packages(src)) else [root]


def _packages(directory: Path) -> Iterator[Path]:
    """The packages directly in ``directory``, by name, minus `SKIPPED_DIRS` and hidden folders."""
    for path in sorted(directory.iterdir()):
        if (path.is_dir() and path.name not in SKIPPED_DIRS and path.name.isidentifier()
                and (path / "__init__.py").is_file()):
            yield path


def candidate_files(root: Path) -> list[tuple[Path, str]]:
    """The files that may hold the app, in the documented order, as ``(path, module name)``."""
    files = []
    for base in import_roots(root):
        files += [(base / f"{name}.py", name) for name in MODULE_NAMES]
        for package in _packages(base):
            files.append((package / "__init__.py", package.name))
            files += [(package / f"{name}.py", f"{package.name}.{name}") for name in MODULE_NAMES]
    return [(path, module) for path, module in files if path.is_file()]


def _flask_candidates(root: Path, searched: list[str]) -> list[_Candidate]:
    """Every target found in `candidate_files`, in order."""
    found = []
    for path, module in candidate_files(root):
        tree = _parse(path, root, searched)
        if tree is not None:
            found += [_Candidate(f"{module}:{attr}", path, "flask")
                      for attr in app_attributes(tree, is_wsgi_file=path.name == "wsgi.py")]
    return found


def app_attributes(tree: ast.Module, is_wsgi_file: bool = False) -> list[str]:
    """The app targets a module offers, best first: app objects (``app``, ``application``,
    then others in file order), then factories as ``create_app()``."""
    objects = []
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call) \
                and _call_name(node.value) in APP_CALLS:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            objects += [t.id for t in targets if isinstance(t, ast.Name)]
        elif is_wsgi_file and isinstance(node, ast.ImportFrom):
            objects += [a.asname or a.name for a in node.names if (a.asname or a.name) in OBJECT_NAMES]
    def rank(name: str) -> int:  # app, application, then the rest (a stable sort keeps file order)
        return OBJECT_NAMES.index(name) if name in OBJECT_NAMES else len(OBJECT_NAMES)
    objects = sorted(dict.fromkeys(objects), key=rank)
    factories = [node.name for node in tree.body
                 if isinstance(node, ast.FunctionDef) and node.name in FACTORY_NAMES and _callable_bare(node)]
    return objects + [f"{name}()" for name in factories]


def _call_name(call: ast.Call) -> str | None:
    """The last name of what is called: ``Flask`` for ``flask.Flask(...)`` and ``Flask(...)``."""
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _callable_bare(func: ast.FunctionDef) -> bool:
    """Whether ``func()`` works: every positional and keyword-only argument has a default."""
    args = func.args
    positional = args.posonlyargs + args.args
    return len(args.defaults) == len(positional) and all(d is not None for d in args.kw_defaults)


def _bound_names(tree: ast.Module) -> set[str]:
    """Names a module binds at its top level by assignment or import."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


# --- the static folder ----------------------------------------------------------


def module_file(root: Path, module: str) -> Path | None:
    """The file that ``import module`` loads from the repository at ``root`` (an import root: the top, or
    ``src/``), None when it is not in the repository."""
    for base in import_roots(root):
        path = base.joinpath(*module.split("."))
        for candidate in (path.with_suffix(".py"), path / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def static_dir_of(root: Path, module: str) -> str | None:
    """Flask's static folder for the app that ``module`` makes or imports (`_static_dir`), or None."""
    app_file = module_file(root.resolve(), module)
    return _static_dir(app_file, root.resolve()) if app_file else None


def _static_dir(app_file: Path, root: Path) -> str | None:
    """Flask's static folder for the app of ``app_file``, relative to ``root``, if it exists.

    Flask looks beside the module that creates it (a package's own folder): the file's
    ``Flask(..., static_folder="...")`` literal, else ``static/``. When the file does not
    call Flask itself (``wsgi.py``: ``from shop import create_app``), the local modules it
    imports from are looked at too, one level deep.
    """
    for path in [app_file, *_local_imports(app_file, root)]:
        tree = _parse(path, root, [])
        if tree is None:
            continue
        folder = _static_folder(tree)
        if folder is None:
            continue
        # The first file that calls Flask decides; static_folder=None ("") serves no static files.
        static = (path.parent / folder).resolve()
        return _rel(static, root) if folder and static.is_dir() and static.is_relative_to(root) else None
    return None


def _static_folder(tree: ast.Module) -> str | None:
    """For a module that calls ``Flask(...)``: its ``static_folder`` literal, "" for
    ``static_folder=None``, else ``"static"``; None when it does not call Flask."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) == "Flask":
            for keyword in node.keywords:
                if keyword.arg == "static_folder" and isinstance(keyword.value, ast.Constant):
                    value = keyword.value.value
                    if value is None:
                        return ""
                    if isinstance(value, str) and not value.startswith("/"):
                        return value
            return "static"
    return None


def _local_imports(app_file: Path, root: Path) -> list[Path]:
    """The files of this repository that ``app_file`` imports from (``from shop import x``)."""
    tree = _parse(app_file, root, [])
    if tree is None:
        return []
    found = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level <= 1:
            # `from shop import x` starts at an import root, `from .views import x` beside the file.
            bases = [app_file.parent] if node.level == 1 else import_roots(root)
            for base in bases:
                path = base.joinpath(*node.module.split("."))
                found += [candidate for candidate in (path / "__init__.py", path.with_suffix(".py"))
                          if candidate.is_file() and candidate != app_file]
    return found


# --- helpers ----------------------------------------------------------------------


def _parse(path: Path, root: Path, searched: list[str]) -> ast.Module | None:
    """The AST of ``path`` (recorded in ``searched``), or None if it is missing or does not parse."""
    if not path.is_file():
        return None
    rel = _rel(path, root)
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        searched.append(f"{rel} (does not parse)")
        return None
    searched.append(rel)
    return tree


def _read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's data; {} when it is missing or invalid (the deploy reports that, not init)."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, with '/' (as it appears in the stage file)."""
    return path.resolve().relative_to(root).as_posix()


def repository_root(start: Path) -> Path:
    """The directory from ``start`` upwards that holds ``.git`` (as git finds it); ``start`` without one."""
    start = start.resolve()
    return next((d for d in (start, *start.parents) if (d / ".git").exists()), start)
