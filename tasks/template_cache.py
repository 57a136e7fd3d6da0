"""The compiled templates, kept between runs: Jinja2's bytecode cache in the user's own cache folder,
``$XDG_CACHE_HOME/wsgideploy/templates`` (default ``~/.cache/wsgideploy/templates``).

Compiling the templates of a deploy took about 25 ms of every run (24 bundled templates, about 80 ms);
loading them from here takes about 1 ms. Jinja2 keys each entry by the template's name and file, and checks
it against the template's source and against Jinja2's and Python's versions: a changed template is compiled
again. The entries are code the run executes, so the folder is used only when it is a folder (not a link) of
this user's that nobody else may write; otherwise, and on any error reading or writing an entry, templates are
compiled as before. The cache can make a run faster, never fail it. It keeps the `KEEP` entries used last:
an entry is keyed by its template's file, so every checkout or folder of templates adds its own.
"""
from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import jinja2

KEEP = 200  # entries, about 10 KB each (the bundled templates are 24)


class _Forgiving(jinja2.FileSystemBytecodeCache):
    """Jinja2's file cache, where an entry that cannot be read (cut short, unreadable) is compiled again and one
    that cannot be written (a full disk, a read-only home) is not kept. An entry read is marked used (its
    time); writing one removes the least used beyond `KEEP`."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # pickle and marshal raise several kinds on a damaged entry
            bucket.reset()
            return
        if bucket.code is not None:
            with contextlib.suppress(OSError):
                os.utime(self._get_cache_filename(bucket))

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
            trim(Path(self.directory), KEEP)
        except Exception:  # a cache that cannot be written only costs the compile next time
            pass


def trim(folder: Path, keep: int) -> None:
    """Remove the entries of ``folder`` beyond the ``keep`` used last (an entry gone meanwhile is skipped)."""
    used: list[tuple[float, Path]] = []
    for entry in folder.glob("__jinja2_*.cache"):
        try:
            used.append((entry.stat().st_mtime, entry))
        except OSError:
            continue
    used.sort(reverse=True)
    for _, entry in used[keep:]:
        entry.unlink(missing_ok=True)


def cache_folder() -> Path | None:
    """``$XDG_CACHE_HOME/wsgideploy/templates`` (an absolute XDG_CACHE_HOME only, as the spec says), else
    ``~/.cache/wsgideploy/templates``; None where there is no home to find."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    try:
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    except RuntimeError:  # no HOME and no password entry
        return None
    return base / "wsgideploy" / "templates"


def private_folder(path: Path) -> bool:
    """Make ``path`` (mode 0700) if it is missing; whether it is a folder, not a link, owned by this user, that
    neither its group nor others may use."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o077


def bytecode_cache() -> jinja2.BytecodeCache | None:
    """The cache for a Jinja2 environment, or None (compile every time) where `private_folder` refuses it."""
    folder = cache_folder()
    if folder is None or not private_folder(folder):
        return None
    return _Forgiving(str(folder))
