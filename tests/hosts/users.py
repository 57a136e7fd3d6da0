"""The login user of the loopback test hosts and of the local sandbox, with passwordless sudo."""
import contextlib
import os
import pwd
import re
from pathlib import Path

from .processes import ProvisionError, run

SUDOERS_DIR = Path("/etc/sudoers.d")


# --- users ---------------------------------------------------------------------------


def user_exists(name: str) -> bool:
    """Whether the local account ``name`` exists."""
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def sudoers_path(name: str) -> Path:
    """The sudoers drop-in this module installs for ``name`` (no '.' in it: sudo skips such files)."""
    return SUDOERS_DIR / f"wsgideploy-{name}"


def _shadow_password(name: str) -> str | None:
    try:
        with open("/etc/shadow", encoding="utf-8") as fh:
            for line in fh:
                fields = line.rstrip("\n").split(":")
                if fields and fields[0] == name:
                    return fields[1] if len(fields) > 1 else ""
    except OSError:
        return None
    return None


def ensure_deploy_user(name: str = "deploy") -> None:
    """Make ``name`` a login user with passwordless sudo that sshd accepts for key auth. Idempotent.

    - ``useradd -m -s /bin/bash`` if the user is missing;
    - ``/etc/sudoers.d/wsgideploy-<name>`` = ``<name> ALL=(ALL) NOPASSWD:ALL``, mode 0440,
      checked with ``visudo -cf`` before it is installed;
    - a password field of ``!`` (what useradd leaves) marks the account *locked*, and with
      ``UsePAM no`` sshd then refuses even key authentication; it is set to ``*`` (no
      password, not locked). A locked account that has a real password hash is left alone.
    """
    if not re.fullmatch(r"[a-z_][a-z0-9_-]*", name):
        raise ProvisionError(f"not a safe user name: {name!r}")
    if not user_exists(name):
        run(["useradd", "-m", "-s", "/bin/bash", name])
    if _shadow_password(name) in ("!", "!!", "!*", ""):
        run(["usermod", "-p", "*", name])
    target = sudoers_path(name)
    content = f"# Installed by wsgideploy (tests/hosts/users.py).\n{name} ALL=(ALL) NOPASSWD:ALL\n"
    try:
        if target.read_text() == content and (target.stat().st_mode & 0o777) == 0o440:
            return
    except OSError:
        pass
    # The temporary name contains a '.', so sudo ignores it should we die before the rename.
    tmp = SUDOERS_DIR / f".wsgideploy-{name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o440)
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
        os.chown(tmp, 0, 0)
        os.chmod(tmp, 0o440)
        run(["visudo", "-cf", str(tmp)])
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def remove_deploy_user(name: str, remove_user: bool = True) -> list[str]:
    """Remove the sudoers drop-in and (if ``remove_user``) the user with ``userdel -r``.

    Returns what was removed, for the caller to report. Idempotent.
    """
    removed: list[str] = []
    target = sudoers_path(name)
    if target.exists():
        target.unlink()
        removed.append(str(target))
    if remove_user and user_exists(name):
        home = pwd.getpwnam(name).pw_dir
        proc = run(["userdel", "-r", name], check=False)
        # userdel exits 12 when it could not remove the home or mail spool; the user is gone anyway.
        if proc.returncode not in (0, 12):
            raise ProvisionError(f"userdel -r {name}: exit {proc.returncode}: {proc.stderr.strip()}")
        removed.append(f"user {name} (home {home})")
    return removed
