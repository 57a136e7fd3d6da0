"""The cached Debian 12 root file system that every test server boots from.

Built once with ``debootstrap --variant=minbase --include=<PACKAGES> bookworm`` and customised by
``customize-image.sh`` (this machine's CA certificates, systemd-networkd and ssh enabled, no host keys,
key-only root login, apt's daily timers off, an empty machine-id). It lives OUTSIDE the clone, in
``$WSGIDEPLOY_CACHE/images/bookworm-<key>/`` (default ``~/.cache/wsgideploy``), so it survives fresh
clones; ``<key>`` hashes the package list, the customisation script and the CA files, so changing any of
them builds a new image next to the old one. Servers never write into it: each boots an overlay of it.

Parallel pytest workers build it once: they serialise on ``images/.lock`` (fcntl), the build goes to a
temporary directory next to the final one and is renamed into place only when complete, so a killed build
leaves no half image that looks finished (its temporary directory is removed by the next build).

Measured on this 2-core machine (Debian 12, deb.debian.org): debootstrap 54 s, customisation under 1 s,
231 MB on disk (apt lists and .deb files removed).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.hosts.files import file_lock

SUITE = "bookworm"
PACKAGES: tuple[str, ...] = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "python3", "python3-venv", "curl",
    "ca-certificates", "iproute2", "procps", "acl",
)
CUSTOMIZE_SCRIPT = Path(__file__).with_name("customize-image.sh")
CA_DIR = Path("/usr/local/share/ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BUILD_TIMEOUT = 1200.0


class ImageError(RuntimeError):
    """The image could not be built; the message says which step failed and its output's tail."""


def cache_root() -> Path:
    """``$WSGIDEPLOY_CACHE`` or ``$XDG_CACHE_HOME/wsgideploy`` or ``~/.cache/wsgideploy``."""
    explicit = os.environ.get("WSGIDEPLOY_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "wsgideploy"


def _ca_files() -> list[Path]:
    return sorted(CA_DIR.glob("*.crt")) if CA_DIR.is_dir() else []


def image_key(packages: tuple[str, ...] = PACKAGES) -> str:
    """12 hex digits of sha256 over the suite, the packages, the customisation script and the CA files."""
    digest = hashlib.sha256()
    digest.update(f"{SUITE}\n{','.join(sorted(packages))}\n".encode())
    digest.update(CUSTOMIZE_SCRIPT.read_bytes())
    for ca in _ca_files():
        digest.update(ca.name.encode() + b"\0" + ca.read_bytes())
    return digest.hexdigest()[:12]


def image_path(packages: tuple[str, ...] = PACKAGES) -> Path:
    """Where the image for ``packages`` lives (whether or not it is built yet)."""
    return cache_root() / "images" / f"{SUITE}-{image_key(packages)}"


@contextlib.contextmanager
def build_lock(path: Path, timeout: float) -> Iterator[None]:
    """One builder at a time across pytest workers: `file_lock` on ``path`` (its folder made first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path, timeout):
        yield


def run_step(step: str, argv: list[str], log: Path) -> None:
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=BUILD_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise ImageError(f"{step} took more than {BUILD_TIMEOUT:.0f} s (log: {log})") from None
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise ImageError(f"{step} failed with exit {done.returncode} (log: {log}):\n{tail}")


def ensure_image(packages: tuple[str, ...] = PACKAGES) -> Path:
    """The image directory, built first if it is not cached yet. Needs root, debootstrap and the mirror.

    The mirror is ``$WSGIDEPLOY_DEBIAN_MIRROR`` or deb.debian.org; this machine reaches it directly
    (the servers themselves reach it only through the proxy).
    """
    final = image_path(packages)
    if final.is_dir():
        return final
    if os.geteuid() != 0:
        raise ImageError("building the test server image needs root (debootstrap, chroot)")
    debootstrap = shutil.which("debootstrap", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if debootstrap is None:
        raise ImageError("debootstrap is not installed (apt-get install debootstrap)")
    with build_lock(final.parent / ".lock", timeout=BUILD_TIMEOUT + 60):
        if final.is_dir():  # another worker built it while this one waited
            return final
        for stale in final.parent.glob(f"{final.name}.building-*"):
            shutil.rmtree(stale, ignore_errors=True)  # a build that was killed; the lock says none runs
        temp = final.parent / f"{final.name}.building-{os.getpid()}"
        log = final.parent / f"{final.name}.log"
        log.write_text(f"building {final.name}: {SUITE} with {','.join(packages)}\n")
        mirror = os.environ.get("WSGIDEPLOY_DEBIAN_MIRROR", DEFAULT_MIRROR)
        try:
            run_step("debootstrap", [debootstrap, "--variant=minbase", f"--include={','.join(packages)}",
                                 SUITE, str(temp), mirror], log)
            run_step("customize-image.sh", ["bash", str(CUSTOMIZE_SCRIPT), str(temp), str(CA_DIR)], log)
            os.rename(temp, final)
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
    return final
