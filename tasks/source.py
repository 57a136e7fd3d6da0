"""The local app source: what gets uploaded, and what it needs on the host.

Pure local work: pack the release's files (which ones: see
`wsgideploy.source_files`), check them, find the static folder, and compute the
key of the virtualenv the release needs.
"""
from __future__ import annotations

import functools
import json
import hashlib
import importlib.util
import re
import tempfile
import tomllib
import types
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from .archive import Entry, escaping_links, pack
from .detect import static_dir_of
from .inventory import App
from .modes import app_server
from .source_files import SourceContent, SourceError, disk_entries, is_excluded
from .static_check import describe, find_unguarded_run_calls, python_files


@dataclass(frozen=True)
class Install:
    """What pip installs into the venv a release links (its key names it), and into the release itself.

    ``kind``: ``requirements`` (requirements.txt), ``dependencies`` (pyproject.toml's ``[project]
    dependencies``) or ``package`` (the whole source: a package whose dependencies pyproject.toml does not
    list, so the venv holds its code too and follows every change). ``package``: the release directory whose
    own package is installed into the release (``.wsgideploy/site``, no dependencies), or None.
    """

    kind: str
    pip_args: tuple[str, ...]
    key: str
    package: str | None = None


# What builds a package that names no build backend (pip's own fallback, PEP 517).
SETUPTOOLS_DEFAULT = ("setuptools>=40.8.0", "wheel")


def plan_install(app: App, release_dir: str, python_version: str, source_hash: str) -> Install:
    """Decide how the venv is built and compute its reuse key.

    The shared venv holds the dependencies; its key hashes what decides them (the Python, the app server,
    the requirements files, or pyproject's ``[project] dependencies`` and its ``[build-system]``), never the
    app's code, so code-only deploys reuse it. An app that is a package (pyproject.toml with ``[project]`` or
    ``[build-system]``, or setup.py) also gets its build requirements in that venv, and its own package is
    installed into each release without dependencies (`Install.package`). A package whose dependencies are
    not static (``dynamic = ["dependencies"]``, setup.py alone) is installed whole: its key follows the source.
    """
    # The app server always lands in the venv, even when the app does not list it.
    server = app_server(app.server).packages
    h = hashlib.sha256(f"python={python_version}\nserver={' '.join(server)}\n".encode())
    kind, inputs = install_inputs(app.source)
    project = _pyproject(app.source)
    packaged = is_package(app.source, project)
    build = _build_requires(project) if packaged else ()
    if kind == "requirements":
        h.update(b"requirements\n")
        for name, data in inputs:
            h.update(name.encode() + b"\0" + data)
        h.update(json.dumps(project.get("build-system", {}), sort_keys=True).encode() if packaged else b"")
        args: tuple[str, ...] = ("-r", f"{release_dir}/requirements.txt", *build, *server)
    elif kind == "package" and packaged and (dependencies := _static_dependencies(project)) is not None:
        kind = "dependencies"
        h.update(b"dependencies\n" + json.dumps([dependencies, project.get("build-system", {})],
                                                  sort_keys=True).encode())
        args = (*dependencies, *build, *server)
    elif kind == "package":  # installed whole: the venv holds the code, and its key follows it
        h.update(b"package\n" + source_hash.encode())
        packaged, args = False, (release_dir, *server)
    else:
        raise SourceError(f"{app.source} has neither requirements.txt nor pyproject.toml: "
                          "there is nothing to tell pip what the app needs")
    return Install(kind=kind, pip_args=args, key=f"py{python_version}-{h.hexdigest()[:16]}",
                   package=release_dir if packaged else None)


def install_inputs(source: Path) -> tuple[str, tuple[tuple[str, bytes], ...]]:
    """What pip installs from, as `plan_install` reads it in ``source``: ``requirements`` with the
    name and bytes of requirements.txt and each file it includes, ``package``, or ``none``."""
    requirements = source / "requirements.txt"
    if requirements.is_file():
        return "requirements", tuple((f.name, f.read_bytes()) for f in requirement_files(requirements))
    return ("package" if (source / "pyproject.toml").is_file() or (source / "setup.py").is_file()
            else "none"), ()


def is_package(source: Path, project: Mapping[str, object]) -> bool:
    """Whether the app is a package pip can install: pyproject.toml with ``[project]`` or ``[build-system]``
    (not one that only configures tools), or a setup.py."""
    return "project" in project or "build-system" in project or (source / "setup.py").is_file()


def _pyproject(source: Path) -> dict[str, object]:
    """pyproject.toml's tables ({} without one); one that does not parse is an error naming it."""
    path = source / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(errors="replace"))
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(f"{path}: pyproject.toml is not valid TOML ({exc}): pip could not read it either") from None


def _static_dependencies(project: Mapping[str, object]) -> tuple[str, ...] | None:
    """``[project] dependencies`` (``()`` when it lists none), or None when they are not in the file: no
    ``[project]``, or ``dynamic`` names them (a build backend computes them)."""
    table = project.get("project")
    if not isinstance(table, dict) or "dependencies" in (table.get("dynamic") or ()):
        return None
    dependencies = table.get("dependencies", [])
    return tuple(str(d) for d in dependencies) if isinstance(dependencies, list) else None


def _build_requires(project: Mapping[str, object]) -> tuple[str, ...]:
    """``[build-system] requires``: installed into the shared venv, so that the package builds there with no
    index and no isolation; setuptools and wheel when pyproject names no backend."""
    build = project.get("build-system")
    requires = build.get("requires") if isinstance(build, dict) else None
    if not isinstance(requires, list):
        return SETUPTOOLS_DEFAULT
    names = [re.split(r"[\s<>=!~;\[(]", str(r), maxsplit=1)[0].lower() for r in requires]
    backend = str(build.get("build-backend", "setuptools")) if isinstance(build, dict) else "setuptools"
    # setuptools before 70.1 asks for wheel through a hook that an install without isolation never runs
    extra = ("wheel",) if backend.startswith("setuptools") and "wheel" not in names else ()
    return (*(str(r) for r in requires), *extra)


_INCLUDE = re.compile(r"^\s*(-r|--requirement|-c|--constraint)(\s*=\s*|\s+)(\S+)")


def requirement_files(path: Path, seen: set[Path] | None = None) -> list[Path]:
    """``path`` and every file it includes with ``-r``/``-c``, recursively, in order."""
    seen = seen if seen is not None else set()
    path = path.resolve()
    if path in seen or not path.is_file():
        return []
    seen.add(path)
    files = [path]
    for line in path.read_text(errors="replace").splitlines():
        match = _INCLUDE.match(line)
        if match:
            files += requirement_files(path.parent / match.group(3), seen)
    return files


def find_static_dir(app: App) -> str | None:
    """The release-relative folder nginx serves at ``static_url``, if there is one.

    ``static_dir`` in the inventory wins (for a Django project: STATIC_ROOT, django_settings.py); then the
    ``static_folder`` of the ``Flask(...)`` call that the WSGI module makes or imports from this repository;
    otherwise a ``static/`` beside the WSGI module, in its top-level package, or under ``src/``. The check
    compares this with the loaded app's own ``static_folder`` (`steps.check_step`).
    """
    if app.static_dir:
        return app.static_dir.strip("/")
    module = app.wsgi.split(":", 1)[0]
    # The folder of the Flask(...) call that the module makes or imports (detect.py), then the usual places.
    found = static_dir_of(app.source, module)
    if found:
        return found
    parts = module.split(".")
    package = "/".join(parts[:-1])
    candidates = ["static", f"{package}/static" if package else "", f"{parts[0]}/static",
                  f"src/{parts[0]}/static", f"src/{package}/static" if package else ""]
    for rel in candidates:
        if rel and not rel.startswith("/") and (app.source / rel).is_dir():
            return rel
    return None


def static_summary(static_dir: str | None, static_url: str) -> str:
    """What deploy and plan say about static files: ``staticfiles at /static``, or that none is served."""
    return f"{static_dir} at {static_url}" if static_dir else "none (set app.static_dir)"


def shared_kinds(app: App) -> dict[str, str]:
    """Map each shared path to ``"file"`` or ``"dir"``.

    A path is a file when the source has a file there, or when its name looks
    like one (an extension, or ``.env``); otherwise it is a directory.
    """
    kinds = {}
    for raw in app.shared:
        rel = raw.rstrip("/")
        local = app.source / rel
        looks_like_file = not raw.endswith("/") and (Path(rel).suffix != "" or Path(rel).name.startswith(".env"))
        kinds[rel] = "file" if local.is_file() or (not local.is_dir() and looks_like_file) else "dir"
    return kinds


@dataclass(frozen=True)
class LocalRelease:
    """A release prepared locally, once per run, for every host."""

    release_id: str
    archive: bytes
    source_hash: str
    file_count: int
    static_dir: str | None
    shared: dict[str, str]
    commit: str | None = None      # the full sha of the commit shipped, None outside git
    revision: str | None = None    # the commit, with ``+dirty`` when the working tree shipped
    files: tuple[str, ...] = ()    # release-relative paths, sorted


class RefusedSourceError(SourceError):
    """The source holds what must never be deployed (a check failure: exit 1, not a usage error)."""


class DevServerError(RefusedSourceError):
    """The source starts Flask's development server at import time."""


def check_links(app: App, entries: Iterable[Entry]) -> None:
    """Refuse symlinks that lead out of the release: uploaded as they are, the front server would serve what
    they point to (``static/passwd -> /etc/passwd``; a link to ``shared/.env``)."""
    found = escaping_links(entries)
    if found:
        raise RefusedSourceError(
            f"{app.source}: {len(found)} symbolic link(s) lead out of the release, and the front server or the app "
            "would follow them on the host: " + "; ".join(found[:10]) + (" ..." if len(found) > 10 else "")
            + ". Make each a file, or a link inside the release, or add it to [app] exclude")


def check_for_dev_server(app: App) -> None:
    """Refuse a source whose code starts Flask's development server at import time."""
    calls = find_unguarded_run_calls(app.source, python_files(app.source, lambda rel: is_excluded(app, rel)))
    if calls:
        raise DevServerError("an unguarded app.run() would start a development server inside gunicorn:\n"
                             + describe(calls))


@contextmanager
def release_tree(app: App, content: SourceContent) -> Iterator[Path]:
    """A directory that holds exactly the release's files: the source itself for a working
    tree, else the commit's files written to a temporary directory (removed afterwards)."""
    if not content.from_git:
        yield app.source
        return
    with tempfile.TemporaryDirectory(prefix="wsgideploy-release-") as tmp:
        root = Path(tmp)
        for entry in content.entries:
            path = root / entry.path
            path.parent.mkdir(parents=True, exist_ok=True)
            if entry.link is not None:
                path.symlink_to(entry.link)
            else:
                path.write_bytes(entry.data)
        yield root


def prepare_release(app: App, release_id: str, content: SourceContent | None = None) -> LocalRelease:
    """Pack the release's files and work out what the hosts need to know about them.

    The checks read the files that ship (the commit's, for a git source): a
    `DevServerError` for an unguarded ``app.run()``, a `SourceError` when the venv
    would be planned from other requirements than the release's (see below).
    """
    content = content if content is not None else SourceContent(tuple(disk_entries(app)))
    check_links(app, content.entries)
    with release_tree(app, content) as tree:
        shipped = replace(app, source=tree)
        check_for_dev_server(shipped)
        # The venv key is computed on each host from the requirements in app.source
        # (plan_install): they must be the commit's, or the venv would not match the code.
        if tree != app.source and install_inputs(tree) != install_inputs(app.source):
            raise SourceError(f"{app.source}: requirements.txt (or a file it includes) or pyproject.toml "
                              f"differs between the commit {(content.commit or '')[:12]} and the working tree, "
                              "and the venv is planned from the working tree's: check that commit out "
                              "(git switch --detach) and deploy from there")
        static_dir = find_static_dir(shipped)
    archive, source_hash = pack(content.entries)
    return LocalRelease(release_id=release_id, archive=archive, source_hash=source_hash,
                        file_count=len(content.entries), static_dir=static_dir, shared=shared_kinds(app),
                        commit=content.commit, revision=content.revision, files=content.paths)


def env_file_content(app: App, environ: Mapping[str, str]) -> tuple[bytes, list[str]] | None:
    """The ``.env`` to upload: ``app.environment`` (plain settings), then ``app.env_file``, then the
    ``app.env`` variables from ``environ``.

    Returns the content and the variable names (names may be shown; values of ``env_file`` and ``env``
    never are), or None when the inventory asks for no ``.env``. A variable missing from ``environ`` is an
    error: a deploy never asks for a secret. So is a name that both ``environment`` and ``env_file`` set
    (``env`` against ``environment`` is the inventory's check).
    """
    if not app.env_file and not app.env and not app.environment:
        return None
    secret_text = app.env_file.read_text() if app.env_file else ""
    secret_names = list(dotenv_parser().parse(secret_text))  # the names the host's loader will read
    both = [name for name in secret_names if name in app.environment]
    if both:
        raise SourceError(f"{both[0]} is in both [app.environment] and app.env_file ({app.env_file}): "
                          "a variable comes from one place")
    missing = [name for name in app.env if name not in environ]
    if missing:
        raise SourceError(f"app.env names environment variables that are not set: {', '.join(missing)}")
    if secret_text and not secret_text.endswith("\n"):
        secret_text += "\n"
    text = "".join(_env_line(name, value) for name, value in app.environment.items()) + secret_text
    text += "".join(_env_line(name, environ[name]) for name in app.env)
    return text.encode(), [*app.environment, *secret_names, *app.env]


def environment_summary(app: App) -> tuple[str, ...]:
    """What plan shows of ``shared/.env``: each plain setting as ``NAME=value`` (a value with a line break
    or a quote as a JSON string), then each secret's name with ``(secret)``; never a secret's value."""
    plain = tuple(f"{name}={value}" if value.isprintable() and '"' not in value else f"{name}={json.dumps(value)}"
                  for name, value in app.environment.items())
    secret_names = list(dotenv_parser().parse(app.env_file.read_text())) if app.env_file else []
    return plain + tuple(f"{name} (secret)" for name in [*secret_names, *app.env])


def _env_line(name: str, value: str) -> str:
    """``NAME='value'`` (taken literally by the loader), or double-quoted with escapes when the value
    holds a quote or a line break."""
    if not any(ch in value for ch in "'\n\r"):
        return f"{name}='{value}'\n"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'{name}="{escaped}"\n'


@functools.cache
def dotenv_parser() -> types.ModuleType:
    """``templates/wsgideploy_env.py``, the loader the hosts run, to read .env text the same way."""
    from .render import TEMPLATES_DIR
    path = TEMPLATES_DIR / "wsgideploy_env.py"
    spec = importlib.util.spec_from_file_location("wsgideploy_env", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pip_command(install: Install, installer: str = "pip") -> str:
    """What a venv build runs, with release-relative paths: ``pip install -r requirements.txt gunicorn``."""
    release_dir = install.package or (install.pip_args[1].rsplit("/", 1)[0] if install.kind == "requirements"
                                      else install.pip_args[0])
    shown = [a.replace(release_dir + "/", "").replace(release_dir, ".") for a in install.pip_args]
    return " ".join([*(["uv", "pip"] if installer == "uv" else ["pip"]), "install", *shown])
