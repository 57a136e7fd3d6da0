"""The release archive: a gzipped tar of the files that ship, and the hash of its contents. Pure.

Both ways of getting a release's files (the working tree on disk, or a git commit)
end here, so the same files always give the same archive members and the same
source hash, whatever they were read from.
"""
from __future__ import annotations

import hashlib
import io
import posixpath
import tarfile
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Entry:
    """One file of a release: its path inside the release, its mode and bytes, or a symlink's target."""

    path: str                # release-relative, with '/' separators
    mode: int                # permission bits only (0o644, 0o755, 0o777 for a link)
    data: bytes = b""
    link: str | None = None  # the target of a symlink, None for a regular file
    mtime: int = 0


def entry_order(entry: Entry) -> list[str]:
    """Sort by path components, as sorting the `Path` objects of a directory walk does
    (``a/b`` before ``a.txt``), so that hashes of releases built before stay the same."""
    return entry.path.split("/")


def pack(entries: Iterable[Entry]) -> tuple[bytes, str]:
    """A gzipped tar of ``entries`` and the sha256 of their names, modes and bytes.

    Ownership is dropped and timestamps stay out of the hash, so the same files
    always hash the same (the no-op redeploy relies on it).
    """
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for entry in sorted(entries, key=entry_order):
            info = tarfile.TarInfo(entry.path)
            info.mode, info.mtime = entry.mode, entry.mtime
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            digest.update(entry.path.encode() + b"\0" + oct(entry.mode).encode() + b"\0")
            if entry.link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, entry.link
                digest.update(entry.link.encode())
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                digest.update(hashlib.sha256(entry.data).digest())
                tar.addfile(info, io.BytesIO(entry.data))
    return buffer.getvalue(), digest.hexdigest()


def escaping_links(entries: Iterable[Entry]) -> list[str]:
    """The symlinks among ``entries`` that lead out of the release, as ``path -> target``: an absolute
    target, or a relative one that climbs above the release's top (``..``). Pure: nothing is resolved on
    disk (the release's own links are followed as the host would)."""
    found = []
    for entry in entries:
        if entry.link is None:
            continue
        target = posixpath.normpath(posixpath.join(posixpath.dirname(entry.path), entry.link))
        if entry.link.startswith("/") or target == ".." or target.startswith("../"):
            found.append(f"{entry.path} -> {entry.link}")
    return found
