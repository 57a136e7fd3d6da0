"""Which files a release ships: a git commit's, or the working tree's outside git, minus
excludes, secrets and shared paths. Pure, apart from reading the source and asking git."""
from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .archive import Entry, entry_order, pack
from .git_source import (Checkout, GitError, changes, check_expected_sha, commit_entries, describe_changes,
                         find_checkout, resolve_commit)
from .inventory import App

# Never uploaded, wherever they are (any path component matches): VCS data, caches,
# local virtualenvs, and secrets (they reach a host on purpose, through app.env_file
# and app.env, never by accident): dotenv files, keys, credentials of pip, AWS and SSH.
DEFAULT_EXCLUDES = (".git", ".hg", ".svn", "__pycache__", "*.pyc", "*.pyo", ".venv", "venv",
                    ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules",
                    ".wsgideploy", "*.egg-info", ".DS_Store",
                    ".env", ".env.*", "*.pem", "*.key", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
                    ".netrc", ".pypirc", ".aws", ".ssh")
# SSH keys by the names ssh-keygen gives them (id_rsa, id_ed25519.pub, ...), not ``id_*``:
# that would also drop ``id_utils.py`` or a package ``id_codes/``.
# The deploy's own configuration, when it sits at the top of the source: never part of the app.
ROOT_EXCLUDES = ("fabfile.py", "fabric.yaml", "fabric.yml", "inventories")


class SourceError(Exception):
    """The local source cannot be deployed as configured."""


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


def _under(rel: str, paths: tuple[str, ...]) -> bool:
    return any(rel == p or rel.startswith(p + "/") for p in paths)


def inventory_excludes(source: Path, inventory: Path | None) -> tuple[str, ...]:
    """Patterns for the stage files when they sit inside the source: every ``*.toml`` of the
    stage file's folder (``deploy/*.toml``: the other stages' files are inventories too), or
    the stage file alone when it is at the top of the source (beside ``pyproject.toml``)."""
    if inventory is None:
        return ()
    try:
        rel = inventory.resolve().relative_to(source.resolve())
    except (ValueError, OSError):
        return ()
    folder = rel.parent.as_posix()
    return (rel.as_posix(),) if folder == "." else (f"{folder}/*.toml",)


def is_excluded(app: App, rel: str, inventory: Path | None = None) -> bool:
    """Whether the release-relative path ``rel`` stays out of the upload (``inventory``: the
    stage file, left out too when it is inside the source)."""
    shared = tuple(s.rstrip("/") for s in app.shared)
    return (_excluded(rel, DEFAULT_EXCLUDES + app.exclude + inventory_excludes(app.source, inventory))
            or _under(rel, ROOT_EXCLUDES) or _under(rel, shared))


def release_files(app: App, inventory: Path | None = None) -> list[Path]:
    """The files of the source directory to upload, sorted, minus excludes and shared paths."""
    files = []
    for path in sorted(app.source.rglob("*")):
        rel = path.relative_to(app.source).as_posix()
        if is_excluded(app, rel, inventory):
            continue
        if path.is_file() or path.is_symlink():
            files.append(path)
    return files


def disk_entries(app: App, inventory: Path | None = None) -> list[Entry]:
    """The release's files as they are on disk now (the working tree)."""
    entries = []
    for path in release_files(app, inventory):
        rel, info = path.relative_to(app.source).as_posix(), path.lstat()
        mode, mtime = stat.S_IMODE(info.st_mode), int(info.st_mtime)
        if path.is_symlink():
            entries.append(Entry(rel, mode, link=os.readlink(path), mtime=mtime))
        else:
            entries.append(Entry(rel, mode, path.read_bytes(), mtime=mtime))
    return entries


def build_archive(app: App, inventory: Path | None = None) -> tuple[bytes, str]:
    """A gzipped tar of the source directory as it is on disk, and the sha256 of its
    contents (names, modes, bytes; timestamps left out, so an unchanged source always
    hashes the same)."""
    return pack(disk_entries(app, inventory))


@dataclass(frozen=True)
class SourceOptions:
    """What the command line asks of the source: ``--ref``, ``--allow-dirty``, ``--expect-sha``."""

    ref: str | None = None
    allow_dirty: bool = False
    expect_sha: str | None = None


@dataclass(frozen=True)
class SourceContent:
    """The files a release ships, and where they come from."""

    entries: tuple[Entry, ...]
    commit: str | None = None   # the full sha shipped (or HEAD, when a dirty tree ships); None outside git
    dirty: bool = False         # the working tree shipped, with its changes (--allow-dirty)
    checkout: Checkout | None = None

    @property
    def from_git(self) -> bool:
        """Whether the files come from a commit rather than from the directory on disk."""
        return self.checkout is not None and not self.dirty

    @property
    def revision(self) -> str | None:
        """What the deploy log and the JSON document call the source: the full sha, ``+dirty``
        when the working tree shipped with changes, None outside git."""
        return None if self.commit is None else self.commit + ("+dirty" if self.dirty else "")

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(e.path for e in sorted(self.entries, key=entry_order))


def read_source(app: App, options: SourceOptions = SourceOptions(), inventory: Path | None = None) -> SourceContent:
    """The files of the next release: in a git work tree, those of the commit HEAD (or
    ``options.ref``); outside git, those of the directory on disk. Excludes, secrets and
    shared paths are left out either way.

    A SourceError (exit 2) for a tree with changes that would ship (unless
    ``allow_dirty``: then the working tree ships as it is), a ``ref`` that is no
    commit, and a commit other than ``expect_sha``.
    """
    if options.ref and options.allow_dirty:
        raise SourceError("--ref and --allow-dirty do not go together: --ref deploys a commit, "
                          "never the working tree")
    checkout = find_checkout(app.source)
    if checkout is None:
        given = [flag for flag, value in (("--ref", options.ref), ("--expect-sha", options.expect_sha)) if value]
        if given:
            raise SourceError(f"{app.source} is not in a git repository: {' and '.join(given)} need one")
        return SourceContent(tuple(disk_entries(app, inventory)))
    try:
        return _read_commit(app, checkout, options, inventory)
    except GitError as exc:
        raise SourceError(f"{app.source}: {exc}") from None


def _read_commit(app: App, checkout: Checkout, options: SourceOptions, inventory: Path | None) -> SourceContent:
    try:
        commit: str | None = resolve_commit(checkout, options.ref or "HEAD")
    except GitError as exc:
        if options.ref:
            raise
        if not options.allow_dirty:
            raise GitError(f"{exc}: commit, or deploy the working tree as it is with --allow-dirty") from None
        commit = None  # a repository without a commit yet: only the working tree can ship
    dirty = commit is None
    if not options.ref and commit is not None:
        # A change to a file that never ships (a local .env, an untracked venv) changes no release.
        found = [c for c in changes(checkout) if not is_excluded(app, c.rel, inventory)]
        if found and not options.allow_dirty:
            raise SourceError(f"{app.source}: the working tree has changes that are not committed:\n"
                              f"{describe_changes(found)}\n"
                              f"a deploy ships the commit HEAD ({commit[:12]}): commit them, or deploy "
                              "the working tree as it is with --allow-dirty")
        dirty = bool(found)
    if options.expect_sha:
        check_expected_sha(commit, options.expect_sha, dirty)
    if dirty:
        return SourceContent(tuple(disk_entries(app, inventory)), commit=commit, dirty=True, checkout=checkout)
    assert commit is not None
    entries = tuple(e for e in commit_entries(checkout, commit) if not is_excluded(app, e.path, inventory))
    return SourceContent(entries, commit=commit, checkout=checkout)
