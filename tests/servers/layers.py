"""Cached layers on top of the image: one front server each, installed by Debian's apt as Debian ships it.

A server boots with ``lowerdir=<layer>:<image>``: the layer is the upper directory of an overlay in which
``apt-get install --no-install-recommends <packages>`` ran in a chroot of the image (this machine's network,
the way debootstrap fetched the image; the servers themselves still reach apt only through the proxy). During
the install ``/usr/sbin/policy-rc.d`` says 101, so nothing starts on this machine; the packages' own
postinst enables their services, so in a booted server systemd starts the front server on port 80 with
Debian's default site. One front server per layer, because two would fight over port 80.

`TOOLS` adds layers for the ACME tests (tests/servers/acme.py): Debian's ``pebble`` alone (the ACME test CA,
on a server of its own), and each front server with Debian's ``certbot`` (its postinst enables
``certbot.timer``). A layer is one apt run over the image, never stacked on another layer: two layers would
each carry their own ``/var/lib/dpkg/status`` and the upper one would hide the other's packages.

Layers live beside the image: ``images/bookworm-<image key>-<front>-<layer key>/`` (the key hashes the
package list); built once under the same kind of lock, into a temporary folder renamed when complete.

Measured here: the three layers build in parallel in about 25 s, once (apt-get update + install in a chroot).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from .image import BUILD_TIMEOUT, ImageError, build_lock, run_step
from .machine import mounts_under

FRONTS: dict[str, tuple[str, ...]] = {
    "nginx": ("nginx",),
    "apache2": ("apache2", "libapache2-mod-wsgi-py3", "libapache2-mod-fcgid"),
    "lighttpd": ("lighttpd",),
}
TOOLS: dict[str, tuple[str, ...]] = {
    "pebble": ("pebble",),
    "nginx+certbot": ("nginx", "certbot"),
    "apache2+certbot": (*FRONTS["apache2"], "certbot"),
    "lighttpd+certbot": ("lighttpd", "lighttpd-mod-openssl", "certbot"),  # mod_openssl is a package of its own
}
LAYERS: dict[str, tuple[str, ...]] = {**FRONTS, **TOOLS}
POLICY_RC_D = "usr/sbin/policy-rc.d"


def layer_path(image: Path, front: str) -> Path:
    """Where the layer ``front`` (a key of `LAYERS`: a front server, or one of `TOOLS`) over ``image`` lives."""
    if front not in LAYERS:
        raise ImageError(f"no layer named {front!r}; known: {', '.join(LAYERS)}")
    key = hashlib.sha256(",".join(LAYERS[front]).encode()).hexdigest()[:8]
    return image.parent / f"{image.name}-{front}-{key}"


def _install(merged: Path, packages: tuple[str, ...], log: Path) -> None:
    policy = merged / POLICY_RC_D
    policy.write_text("#!/bin/sh\n# nothing starts while the layer is built\nexit 101\n")
    policy.chmod(0o755)
    resolv = merged / "etc/resolv.conf"
    saved = resolv.read_bytes() if resolv.exists() else None
    shutil.copyfile("/etc/resolv.conf", resolv)
    subprocess.run(["mount", "-t", "proc", "proc", str(merged / "proc")], check=True, capture_output=True,
                   timeout=30)
    try:
        chroot = ["chroot", str(merged), "/usr/bin/env", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8"]
        run_step("apt-get update", [*chroot, "apt-get", "-q", "update"], log)
        run_step("apt-get install", [*chroot, "apt-get", "-q", "-y", "--no-install-recommends", "install",
                                 *packages], log)
        run_step("apt-get clean", [*chroot, "apt-get", "clean"], log)
    finally:
        subprocess.run(["umount", str(merged / "proc")], capture_output=True, timeout=30, check=False)
        policy.unlink(missing_ok=True)
        if saved is not None:
            resolv.write_bytes(saved)
    lists = merged / "var/lib/apt/lists"
    for entry in lists.iterdir():
        if entry.is_file():
            entry.unlink()


def ensure_layer(image: Path, front: str) -> Path:
    """The layer ``front`` (a key of `LAYERS`) over ``image``, built first if it is not cached yet (needs root)."""
    final = layer_path(image, front)
    if final.is_dir():
        return final
    if os.geteuid() != 0:
        raise ImageError("building a test server layer needs root (overlay mount, chroot)")
    with build_lock(final.parent / f".{front}.lock", timeout=BUILD_TIMEOUT + 60):
        if final.is_dir():
            return final
        for stale in final.parent.glob(f"{final.name}.building-*"):  # a killed build; the lock says none runs
            _remove(stale)
        temp = final.parent / f"{final.name}.building-{os.getpid()}"
        for sub in ("upper", "work", "merged"):
            (temp / sub).mkdir(parents=True)
        log = final.parent / f"{final.name}.log"
        log.write_text(f"building {final.name}: {','.join(LAYERS[front])} over {image.name}\n")
        options = f"lowerdir={image},upperdir={temp / 'upper'},workdir={temp / 'work'}"
        try:
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(temp / "merged")],
                           check=True, capture_output=True, timeout=30)
            try:
                _install(temp / "merged", LAYERS[front], log)
            finally:
                subprocess.run(["umount", str(temp / "merged")], check=True, capture_output=True, timeout=30)
            os.rename(temp / "upper", final)
        finally:
            _remove(temp)
    return final


def _remove(folder: Path) -> None:
    """Unmount whatever is mounted below ``folder`` (innermost first), then delete it if nothing is left."""
    for point in reversed(mounts_under(folder)):
        subprocess.run(["umount", point], capture_output=True, timeout=30, check=False)
    if not mounts_under(folder):
        shutil.rmtree(folder, ignore_errors=True)
