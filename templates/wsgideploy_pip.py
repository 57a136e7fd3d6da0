"""The pip that fills a new venv, without ``python -m venv`` installing pip into every venv (its ensurepip
step was 1.8 s of a 2.5 s venv build on a 2-core host).

Run by the new venv's own python (the venv made with ``--without-pip``). It finds the wheels this Python
bundles for ensurepip (Debian: /usr/share/python-wheels, else ensurepip/_bundled), unpacks pip once into
the folder argv[1] names (``pip-<version>/``, kept for the next venvs) and puts that copy on the venv's
path with the .pth file argv[2] names (``venv/bin/python -m pip`` works). It prints the other wheel
ensurepip would install (setuptools, up to Python 3.11), or nothing, for the caller to install the way
ensurepip does.
Exit status 1 when this Python bundles no pip wheel: the caller then runs ensurepip.
"""
from __future__ import annotations

import glob
import os
import shutil
import sys
import sysconfig
import zipfile


def newest(folder: str, name: str) -> str | None:
    """The newest ``<name>-<version>-*.whl`` in ``folder``, or None."""
    def version(path: str) -> tuple[int, ...]:
        return tuple(int(part) if part.isdigit() else -1 for part in os.path.basename(path).split("-")[1].split("."))
    found = glob.glob(os.path.join(glob.escape(folder), f"{name}-*.whl"))
    return max(found, key=version) if found else None


def bundled_pip() -> str | None:
    """The pip wheel ensurepip would install: from the distribution's folder if it set one, else its own."""
    folders = [sysconfig.get_config_var("WHEEL_PKG_DIR") or ""]
    try:
        import ensurepip
        folders.append(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled"))
    except ImportError:
        pass
    for folder in folders:
        wheel = newest(folder, "pip") if folder else None
        if wheel:
            return wheel
    return None


def unpacked(wheel: str, into: str) -> str:
    """``into/<wheel's name>``, the wheel unpacked there once (atomically: a half-unpacked copy is never used)."""
    target = os.path.join(into, os.path.basename(wheel)[:-len(".whl")])
    if os.path.isfile(os.path.join(target, "pip", "__main__.py")):
        return target
    os.makedirs(into, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)  # an incomplete copy
    partial = f"{target}.partial.{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(partial)
    try:
        os.rename(partial, target)
    except OSError:  # another build made it meanwhile
        shutil.rmtree(partial, ignore_errors=True)
    return target


def main() -> int:
    wheel = bundled_pip()
    if wheel is None:
        return 1
    with open(os.path.join(sysconfig.get_path("purelib"), sys.argv[2]), "w", encoding="utf-8") as pth:
        pth.write(unpacked(wheel, sys.argv[1]) + "\n")
    setuptools = newest(os.path.dirname(wheel), "setuptools") if sys.version_info < (3, 12) else None
    if setuptools:
        print(setuptools)
    return 0


if __name__ == "__main__":
    sys.exit(main())
