"""A cgroup of its own for each server's systemd-nspawn.

With ``--keep-unit`` nspawn uses the cgroup it was started in and creates ``payload/`` (the container's
systemd, which makes its ``system.slice/...`` below it) and ``supervisor/`` there. This machine's PID 1 is not
systemd and every process sits in the root cgroup, so servers started from one process shared one
``payload/``: measured here, about one server in ten booted ``degraded`` when several booted at once, with an
early unit (systemd-sysusers, systemd-sysctl, systemd-remount-fs, systemd-network-generator) failing with
``Failed at step CGROUP ... No such file or directory`` because another server's systemd had removed "its"
cgroup. So each nspawn is moved, before it execs, into ``wsgideploy-servers/<id>/`` of every hierarchy
that systemd writes to: the ``name=systemd`` v1 hierarchy and the v2 (``cgroup2``) one, whichever are
mounted (this machine: ``/sys/fs/cgroup/systemd`` and ``/sys/fs/cgroup/unified``, cgroup v1 "hybrid").
After nspawn exits, `remove` deletes those cgroups (an rmdir fails while any process is left in one).
"""
from __future__ import annotations

import os
from pathlib import Path

PARENT = "wsgideploy-servers"


def writable_roots() -> list[Path]:
    """Mount points of the cgroup hierarchies that a container's systemd creates cgroups in."""
    roots = []
    for line in Path("/proc/mounts").read_text().splitlines():
        _, point, fstype, options = line.split()[:4]
        if fstype == "cgroup2" or (fstype == "cgroup" and "name=systemd" in options.split(",")):
            roots.append(Path(point))
    return roots


def create(ident: str) -> list[Path]:
    """``<root>/wsgideploy-servers/<ident>/`` in each writable hierarchy (created, empty)."""
    made = []
    for root in writable_roots():
        path = root / PARENT / ident
        path.mkdir(parents=True, exist_ok=True)
        made.append(path)
    return made


def wrap(argv: list[str], cgroups: list[Path]) -> list[str]:
    """``argv`` behind a shell that moves itself into ``cgroups`` and then execs it (same pid)."""
    script = ('while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; '
              'shift; exec "$@"')
    return ["sh", "-c", script, "sh", *(str(c) for c in cgroups), "--", *argv]


def procs(cgroup: Path) -> list[int]:
    """Pids in ``cgroup`` and every cgroup below it."""
    found: list[int] = []
    for dirpath, _, files in os.walk(cgroup):
        if "cgroup.procs" in files:
            try:
                found += [int(p) for p in Path(dirpath, "cgroup.procs").read_text().split()]
            except OSError:
                continue
    return found


def remove(cgroup: Path) -> list[str]:
    """rmdir ``cgroup`` and everything below it, deepest first; return what could not be removed."""
    problems = []
    if not cgroup.exists():
        return problems
    for dirpath, _, _ in sorted(os.walk(cgroup), key=lambda entry: -entry[0].count("/")):
        try:
            os.rmdir(dirpath)
        except OSError as exc:
            problems.append(f"cgroup {dirpath}: {exc.strerror}")
    return problems


def existing(ident: str) -> list[Path]:
    """The cgroups named ``ident`` that exist (one per writable hierarchy)."""
    return [root / PARENT / ident for root in writable_roots() if (root / PARENT / ident).is_dir()]


def of_session(bridge: str) -> list[Path]:
    """The cgroups of every server of the session on ``bridge`` (named ``<bridge>-<server>``)."""
    return [c for root in writable_roots() for c in sorted((root / PARENT).glob(f"{bridge}-*"))]
