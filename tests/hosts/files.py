"""Files, folders and locks of the loopback test hosts."""
import contextlib
import fcntl
import os
import pwd
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from .processes import ProvisionError


@contextlib.contextmanager
def file_lock(path: Path | str, timeout: float = 120.0) -> Iterator[None]:
    """An exclusive ``fcntl.flock`` on ``path`` (created if missing), for cross-process safety."""
    fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ProvisionError(f"timed out waiting for the lock {path}") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock



def write_file(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to ``path`` atomically, root-owned with ``mode``."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)



# --- directories --------------------------------------------------------------------------


def make_dir(path: Path, owner: str | None = None, mode: int = 0o755) -> None:
    """``mkdir -p`` then set ``mode`` and (if given) the owner of ``path`` itself."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    if owner is not None:
        entry = pwd.getpwnam(owner)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def remove_tree(path: Path) -> bool:
    """``rm -rf path``; returns whether it existed."""
    if not path.exists() and not path.is_symlink():
        return False
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return True
