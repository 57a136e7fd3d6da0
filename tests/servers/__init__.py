"""Real Debian 12 test servers: booted with systemd as PID 1 by ``systemd-nspawn``, reached over ssh.

Modules, each named for what it holds:

- ``image``: the cached root file system (debootstrap + ``customize-image.sh``), outside the clone.
- ``layers``: cached layers over it with Debian's nginx, apache2 or lighttpd (one front server per server).
- ``network``: the session's bridge ``wsgdbr<N>`` and its range ``10.213.<N>.0/24``.
- ``proxy``: tinyproxy on the bridge address, the servers' only way to the package registries.
- ``cgroups``: a cgroup of its own for each nspawn (servers booted together otherwise break each other).
- ``machine``: `Server`, one overlay booted by nspawn: ``run``, ``wait_running``, ``reboot``, ``poweroff``, ``stop``.
- ``lab``: `ServerLab`, the context manager that ties them together and asserts a clean teardown.
- ``fixtures``: the ``server_lab`` pytest fixture (fails under ``CI=true`` when servers cannot boot).

Needs root, ``systemd-nspawn`` (Debian ``systemd-container``), ``debootstrap``, ``tinyproxy``, iproute2,
the overlay file system, ``ssh`` and ``ssh-keygen``. `unavailable_reason` says which is missing.
See docs/test-servers.md for the measured times and the cache location.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .lab import LabError, ServerLab
from .machine import Server, ServerError

__all__ = ["LabError", "Server", "ServerError", "ServerLab", "unavailable_reason"]

REQUIRED_PROGRAMS = ("systemd-nspawn", "debootstrap", "tinyproxy", "ip", "mount", "umount", "ssh",
                     "ssh-keygen", "chroot")


def unavailable_reason() -> str | None:
    """Why this machine cannot boot test servers, or None when it can (as far as can be seen up front)."""
    if os.geteuid() != 0:
        return "booting test servers needs root (overlay mounts, bridges, systemd-nspawn)"
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    missing = [p for p in REQUIRED_PROGRAMS if shutil.which(p, path=path) is None]
    if missing:
        return (f"booting test servers needs {', '.join(missing)} "
                "(apt-get install systemd-container debootstrap tinyproxy iproute2 openssh-client)")
    filesystems = Path("/proc/filesystems").read_text().split()
    if "overlay" not in filesystems:
        return "booting test servers needs the overlay file system (modprobe overlay)"
    return None
