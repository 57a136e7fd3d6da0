"""The app source as a git commit: which commit, what differs in the working tree, the commit's files.

Everything runs on the controller with the local ``git``; the hosts never need it.
Which of these files ship (excludes, shared paths) is decided by `wsgideploy.source`.
"""
from __future__ import annotations

import io
import re
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .archive import Entry

GIT_TIMEOUT = 60            # seconds; an archive of a large tree takes a while
SHOWN_CHANGES = 20          # a dirty tree lists this many changed files, then "and N more"
_SHA_PREFIX = re.compile(r"[0-9a-f]{7,40}")


class GitError(Exception):
    """git says no: not a commit, no such path in it, or git itself failed."""


@dataclass(frozen=True)
class Checkout:
    """Where the app source sits in a git work tree."""

    source: Path   # the app's source directory
    top: Path      # the work tree's top directory
    prefix: str    # the source's path from ``top`` ('' when the source is the top), no trailing '/'

    def treeish(self, commit: str) -> str:
        """The tree of the source in ``commit``: ``<commit>:<prefix>`` for a subdirectory."""
        return f"{commit}:{self.prefix}" if self.prefix else commit


@dataclass(frozen=True)
class Change:
    """A path that ``git status`` reports in the source: modified, staged, deleted or untracked."""

    status: str    # git's two letters: ' M', 'A ', '??', ...
    path: str      # from the work tree's top, as ``git status`` prints it
    rel: str       # from the source directory (what it would be called in the release)


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, timeout=GIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took more than {GIT_TIMEOUT}s in {cwd}") from None


def _stderr(result: subprocess.CompletedProcess[bytes]) -> str:
    lines = result.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit {result.returncode}"


def find_checkout(source: Path) -> Checkout | None:
    """The git work tree that holds ``source``, or None (not in one, or no ``git`` installed)."""
    try:
        result = _git(source, "rev-parse", "--show-toplevel", "--show-prefix")
    except (OSError, GitError):
        return None
    lines = result.stdout.decode(errors="surrogateescape").splitlines()
    if result.returncode != 0 or not lines:
        return None
    prefix = lines[1] if len(lines) > 1 else ""
    return Checkout(source=source, top=Path(lines[0]), prefix=prefix.rstrip("/"))


def resolve_commit(checkout: Checkout, ref: str) -> str:
    """The full sha of the commit ``ref`` names (a branch, tag, sha, ``HEAD~2``, ...)."""
    result = _git(checkout.top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if result.returncode != 0:
        if ref == "HEAD":
            raise GitError(f"the git repository {checkout.top} has no commit yet")
        raise GitError(f"--ref {ref}: no such commit in the git repository {checkout.top}")
    return result.stdout.decode().strip()


def changes(checkout: Checkout) -> list[Change]:
    """What ``git status`` reports under the source: modified, staged and untracked files.

    Ignored files are not changes. Untracked files are listed one by one (not as a folder
    ``dir/``), so that what never ships (a new ``deploy/production.toml``, a local
    ``venv/``) can be told apart from a new module that would be missing from the release.
    """
    result = _git(checkout.source, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".")
    if result.returncode != 0:
        raise GitError(f"git status failed in {checkout.source}: {_stderr(result)}")
    fields = result.stdout.decode(errors="surrogateescape").split("\0")
    found, index = [], 0
    base = checkout.prefix + "/" if checkout.prefix else ""
    while index < len(fields):
        field = fields[index]
        index += 1
        if len(field) < 4:
            continue
        status, path = field[:2], field[3:]
        if status[0] in "RC":  # a rename or copy: the next field is where it came from
            index += 1
        if path.startswith(base):
            found.append(Change(status=status, path=path, rel=path[len(base):].rstrip("/")))
    return found


def describe_changes(found: list[Change], limit: int = SHOWN_CHANGES) -> str:
    """The changed paths as ``git status --short`` lines, at most ``limit`` of them."""
    lines = [f"  {change.status} {change.path}" for change in found[:limit]]
    if len(found) > limit:
        lines.append(f"  and {len(found) - limit} more")
    return "\n".join(lines)


def commit_entries(checkout: Checkout, commit: str) -> list[Entry]:
    """The files of the source in ``commit`` (``git archive`` of its tree), every one of them.

    Modes are those git records: 0644, or 0755 for an executable; links stay links.
    """
    result = _git(checkout.top, "archive", "--format=tar", checkout.treeish(commit))
    if result.returncode != 0:
        where = (f"{checkout.prefix} is not in commit {commit[:12]} (a folder that is ignored, or not committed yet?)"
                 if checkout.prefix else _stderr(result))
        raise GitError(f"git archive of {commit[:12]} failed: {where}")
    entries = []
    with tarfile.open(fileobj=io.BytesIO(result.stdout), mode="r:") as tar:
        for member in tar:
            if member.issym():
                entries.append(Entry(member.name, 0o777, link=member.linkname, mtime=int(member.mtime)))
            elif member.isfile():
                data = tar.extractfile(member)
                entries.append(Entry(member.name, 0o755 if member.mode & 0o100 else 0o644,
                                     data.read() if data else b"", mtime=int(member.mtime)))
    return entries


def check_expected_sha(commit: str | None, expected: str, dirty: bool = False) -> None:
    """Refuse unless the release is exactly the commit ``expected`` names (its full sha, or a
    prefix of at least 7 hex digits). A working tree with changes is no commit at all."""
    wanted = expected.strip().lower()
    if not _SHA_PREFIX.fullmatch(wanted):
        raise GitError(f"--expect-sha {expected!r} is not a commit sha (7 to 40 hex digits)")
    if commit is None:
        raise GitError(f"--expect-sha {expected}: the source is not a git commit")
    if not commit.startswith(wanted):
        raise GitError(f"--expect-sha {expected}: the commit to deploy is {commit}, not {expected}")
    if dirty:
        raise GitError(f"--expect-sha {expected}: the working tree of {commit} has changes, "
                       "and --allow-dirty would deploy them")
