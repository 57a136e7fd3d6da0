"""The local app source: what gets uploaded, and what it needs on the host.

Pure local work: build the release archive, find the static folder, and
compute the key of the virtualenv the release needs.
"""
from __future__ import annotations

import fnmatch
import functools
import hashlib
import importlib.util
import io
import re
import subprocess
import tarfile
import types
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from .inventory import App
from .modes import app_server
from .static_check import describe, find_unguarded_run_calls, python_files

# Never uploaded: VCS data, caches, local virtualenvs, and a local .env
# (secrets reach a host on purpose, never by accident).
DEFAULT_EXCLUDES = (".git", ".hg", ".svn", "__pycache__", "*.pyc", "*.pyo", ".venv", "venv",
                    ".env", ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules",
                    ".wsgideploy", "*.egg-info", ".DS_Store")



class SourceError(Exception):
    """The local source cannot be deployed as configured."""


def new_release_id(now: datetime | None = None) -> str:
    """A UTC timestamp id, shared by every host of one run: ``20261121T101500Z``."""
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def _excluded(rel: str, patterns: tuple[str, ...]) -> bool:
    parts = rel.split("/")
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if "/" in pattern:
            if rel == pattern or rel.startswith(pattern + "/") or fnmatch.fnmatch(rel, pattern):
                return True
        elif any(fnmatch.fnmatch(part, pattern) for part in parts):
            return True
    return False


def is_excluded(app: App, rel: str) -> bool:
    """Whether the release-relative path ``rel`` stays out of the upload."""
    shared = tuple(s.rstrip("/") for s in app.shared)
    return _excluded(rel, DEFAULT_EXCLUDES + app.exclude) or any(
        rel == s or rel.startswith(s + "/") for s in shared)


def release_files(app: App) -> list[Path]:
    """The files of the source to upload, sorted, minus excludes and shared paths."""
    files = []
    for path in sorted(app.source.rglob("*")):
        rel = path.relative_to(app.source).as_posix()
        if is_excluded(app, rel):
            continue
        if path.is_file() or path.is_symlink():
            files.append(path)
    return files


def build_archive(app: App) -> tuple[bytes, str]:
    """A gzipped tar of the release and the sha256 of its contents (names, modes, bytes).

    The hash ignores timestamps, so an unchanged source always hashes the same.
    """
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for path in release_files(app):
            rel = path.relative_to(app.source).as_posix()
            info = tar.gettarinfo(str(path), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            digest.update(rel.encode() + b"\0" + oct(info.mode).encode() + b"\0")
            if info.issym():
                digest.update(info.linkname.encode())
                tar.addfile(info)
            else:
                data = path.read_bytes()
                digest.update(hashlib.sha256(data).digest())
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), digest.hexdigest()


@dataclass(frozen=True)
class Install:
    """What pip installs into the release's venv, and the key of that venv."""

    kind: str               # "requirements" or "package"
    pip_args: tuple[str, ...]
    key: str


def plan_install(app: App, release_dir: str, python_version: str, source_hash: str) -> Install:
    """Decide how the venv is built and compute its reuse key.

    A ``requirements.txt`` app: the venv depends only on that file, so the key
    hashes it (plus Python version and server package) and code-only deploys
    reuse it. A ``pyproject.toml``-only package is installed with ``pip install .``,
    so its venv holds the code too and the key hashes the whole source.
    """
    # The app server always lands in the venv, even when the app does not list it.
    server = app_server(app.server).PACKAGES
    requirements = app.source / "requirements.txt"
    pyproject = app.source / "pyproject.toml"
    h = hashlib.sha256(f"python={python_version}\nserver={' '.join(server)}\n".encode())
    if requirements.is_file():
        h.update(b"requirements\n")
        for included in requirement_files(requirements):
            h.update(included.name.encode() + b"\0" + included.read_bytes())
        args = ("-r", f"{release_dir}/requirements.txt", *server)
        kind = "requirements"
    elif pyproject.is_file():
        h.update(b"package\n" + source_hash.encode())
        args = (release_dir, *server)
        kind = "package"
    else:
        raise SourceError(f"{app.source} has neither requirements.txt nor pyproject.toml: "
                          "there is nothing to tell pip what the app needs")
    return Install(kind=kind, pip_args=args, key=f"py{python_version}-{h.hexdigest()[:16]}")


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

    ``static_dir`` in the inventory wins; otherwise look beside the WSGI module,
    in its top-level package, and under ``src/``.
    """
    if app.static_dir:
        return app.static_dir.strip("/")
    module = app.wsgi.split(":", 1)[0]
    parts = module.split(".")
    package = "/".join(parts[:-1])
    candidates = ["static", f"{package}/static" if package else "", f"{parts[0]}/static",
                  f"src/{parts[0]}/static", f"src/{package}/static" if package else ""]
    for rel in candidates:
        if rel and not rel.startswith("/") and (app.source / rel).is_dir():
            return rel
    return None


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


def check_for_dev_server(app: App) -> None:
    """Refuse a source whose code starts Flask's development server at import time."""
    calls = find_unguarded_run_calls(app.source, python_files(app.source, lambda rel: is_excluded(app, rel)))
    if calls:
        raise SourceError("an unguarded app.run() would start a development server inside gunicorn:\n"
                          + describe(calls))


def prepare_release(app: App, release_id: str) -> LocalRelease:
    """Pack the source and work out what the hosts need to know about it."""
    archive, source_hash = build_archive(app)
    return LocalRelease(release_id=release_id, archive=archive, source_hash=source_hash,
                        file_count=len(release_files(app)), static_dir=find_static_dir(app),
                        shared=shared_kinds(app))


def env_file_content(app: App, environ: Mapping[str, str]) -> tuple[bytes, list[str]] | None:
    """The ``.env`` to upload: ``app.env_file`` then ``app.env`` variables from ``environ``.

    Returns the content and the variable names (names may be shown; values never
    are), or None when the inventory asks for no ``.env``. A variable missing from
    ``environ`` is an error: a deploy never asks for a secret.
    """
    if not app.env_file and not app.env:
        return None
    text = app.env_file.read_text() if app.env_file else ""
    names = list(dotenv_parser().parse(text))  # the names the host's loader will read
    missing = [name for name in app.env if name not in environ]
    if missing:
        raise SourceError(f"app.env names environment variables that are not set: {', '.join(missing)}")
    if text and not text.endswith("\n"):
        text += "\n"
    for name in app.env:
        value = environ[name]
        if not any(ch in value for ch in "'\n\r"):
            text += f"{name}='{value}'\n"  # taken literally by the loader
        else:
            escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                       .replace("\r", "\\r"))
            text += f'{name}="{escaped}"\n'
        names.append(name)
    return text.encode(), names


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


def source_revision(source: Path) -> str | None:
    """The git commit of ``source`` (with ``+dirty`` for local changes), if it is in git."""
    try:
        head = subprocess.run(["git", "-C", str(source), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None
