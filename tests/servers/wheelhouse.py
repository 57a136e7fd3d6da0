"""A wheelhouse of the compiled packages the deploys install (uWSGI), built once on a booted server.

uWSGI has no binary wheel on PyPI: every venv build on a fresh server compiles it (16-57 s on the 2-core
machine), and needs ``build-essential`` and ``python3-dev``, which Debian's stock server (the image) does
not have. `ensure_wheelhouse` builds the wheels once, in a server booted from the same image, and keeps
them OUTSIDE the clone beside the image: ``<cache>/wheelhouse/<image name>/`` (``*.whl`` and
``constraints.txt``, which pins each package to the version of its wheel). Built once under a lock, into a
temporary folder renamed when complete.

A lab made with ``ServerLab(binds=[bind_spec(wheelhouse)])`` mounts it read-only at `MOUNT` in every
server, and `use_wheelhouse(server)` writes ``/etc/pip.conf`` (``find-links`` and ``constraint``) so that
every pip on that server, the deploy's included, installs uWSGI from that wheel instead of compiling it.
That stands in for what an operator does on a fleet: a wheel built once, not a compiler on every host.

The wheel links ``libpython3.11.so.1.0``, which Debian's stock server lacks: the build also downloads
Debian's ``libpython3.11`` package, at the version of the image's Python, into ``debs/``, and
`use_wheelhouse` installs it with ``dpkg -i`` (no apt-get update: 1 s instead of 25 s through the proxy).

Measured on the 2-core machine: the build, once, 1 min 45 s (apt installs the compiler, pip compiles uWSGI
2.0.31); with the wheelhouse, a first deploy of uWSGI on a fresh server takes about 13 s, as other modes do.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .image import PACKAGES, ImageError, build_lock, cache_root, image_path
from .lab import ServerLab
from .machine import Server

WHEELS = ("uwsgi",)
BUILD_DEBS = ("build-essential", "python3-dev")
RUNTIME_DEBS = ("libpython3.11",)  # at the version of the image's libpython3.11-stdlib
MOUNT = "/opt/wsgideploy-wheelhouse"
CONSTRAINTS = "constraints.txt"
BUILD_TIMEOUT = 1200.0


def wheelhouse_path(packages: tuple[str, ...] = PACKAGES) -> Path:
    """Where the wheelhouse for the image of ``packages`` lives (built or not)."""
    return cache_root() / "wheelhouse" / image_path(packages).name


def bind_spec(wheelhouse: Path) -> str:
    """``--bind-ro=`` value for `ServerLab(binds=...)`: the wheelhouse at `MOUNT`."""
    return f"{wheelhouse}:{MOUNT}"


def constraints_for(wheel_names: list[str]) -> str:
    """``name==version`` lines from wheel file names (``uWSGI-2.0.28-cp311-cp311-linux_x86_64.whl``)."""
    lines = []
    for name in sorted(wheel_names):
        project, version = name.split("-")[:2]
        lines.append(f"{project.lower()}=={version}")
    return "\n".join(lines) + "\n"


def ensure_wheelhouse(packages: tuple[str, ...] = PACKAGES) -> Path:
    """The wheelhouse folder, built first (in a booted server of its own) if it is not cached yet."""
    final = wheelhouse_path(packages)
    if _complete(final):
        return final
    with build_lock(final.parent / ".lock", timeout=BUILD_TIMEOUT + 60):
        if _complete(final):
            return final
        shutil.rmtree(final, ignore_errors=True)  # an older kind of wheelhouse
        temp = final.parent / f"{final.name}.building-{os.getpid()}"
        shutil.rmtree(temp, ignore_errors=True)
        try:
            with ServerLab(packages) as lab:
                builder = lab.boot_server("wheels")
                # The runtime packages first, at the image's own versions (the build may upgrade Python).
                version = "$(dpkg-query -W -f='${Version}' libpython3.11-stdlib)"
                runtime = " ".join(f"{deb}={version}" for deb in RUNTIME_DEBS)
                builder.run(f"apt-get update -qq && install -d /root/wheelhouse/debs && cd /root/wheelhouse/debs "
                            f"&& apt-get download -qq {runtime} && DEBIAN_FRONTEND=noninteractive "
                            f"apt-get install -y -qq --no-install-recommends {' '.join(BUILD_DEBS)} >/dev/null",
                            timeout=BUILD_TIMEOUT)
                builder.run(f"python3 -m venv /root/build && /root/build/bin/pip wheel -q --no-deps --use-pep517 "
                            f"-w /root/wheelhouse {' '.join(WHEELS)}", timeout=BUILD_TIMEOUT)
                shutil.copytree(builder.root / "root" / "wheelhouse", temp)
            if len(list(temp.glob("debs/*.deb"))) != len(RUNTIME_DEBS):
                raise ImageError(f"the wheelhouse build did not download {RUNTIME_DEBS}")
            wheels = [p.name for p in temp.glob("*.whl")]
            if len(wheels) != len(WHEELS):
                raise ImageError(f"the wheelhouse build made {wheels}, expected one wheel each of {WHEELS}")
            (temp / CONSTRAINTS).write_text(constraints_for(wheels))
            for folder in (temp, temp / "debs"):
                folder.chmod(0o755)
            os.rename(temp, final)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    return final


def _complete(wheelhouse: Path) -> bool:
    return (wheelhouse / CONSTRAINTS).is_file() and any(wheelhouse.glob("debs/*.deb"))


def use_wheelhouse(server: Server) -> None:
    """Make every pip on ``server`` look in the mounted wheelhouse first and keep to its versions."""
    server.run(f"""set -eu
test -f {MOUNT}/{CONSTRAINTS}
printf '[global]\\nfind-links = {MOUNT}\\nconstraint = {MOUNT}/{CONSTRAINTS}\\n' > /etc/pip.conf
ldconfig -p | grep -q libpython3.11.so.1.0 || dpkg -i {MOUNT}/debs/*.deb >/dev/null
""", timeout=600)
