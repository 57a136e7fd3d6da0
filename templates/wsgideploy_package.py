"""Install the app's own package into its release: ``python -c <this file> RELEASE TARGET``.

Run by wsgideploy's ``venv`` step (tasks/commands/venv.py) with the python of the release's venv, which
holds the app's dependencies and its build requirements. It builds the release's wheel in this process,
through the build backend that pyproject.toml names (PEP 517; setuptools' legacy backend without one), with
no index and no isolation, and unpacks it into TARGET (``releases/<id>/.wsgideploy/site``): the package and
its ``.dist-info``, without its dependencies. That is what ``pip install --no-deps --target`` does, without
pip's own start-up and its two backend processes (0.2 s instead of 0.7 s here). A wheel that installs more
than libraries (a ``.data`` folder: scripts, headers, data files) is handed to pip, which knows those.
"""
import importlib
import os
import subprocess
import sys
import tempfile
import zipfile

try:
    import tomllib
except ImportError:  # Python < 3.11: pip's own copy of tomli (this runs in a venv that has pip)
    from pip._vendor import tomli as tomllib


def backend(release):
    """The build backend object that pyproject.toml names (its ``backend-path`` first on sys.path)."""
    try:
        with open(os.path.join(release, "pyproject.toml"), "rb") as fh:
            build = tomllib.load(fh).get("build-system", {})
    except FileNotFoundError:
        build = {}
    for path in build.get("backend-path", []):
        sys.path.insert(0, os.path.join(release, path))
    module, _, attribute = build.get("build-backend", "setuptools.build_meta:__legacy__").partition(":")
    found = importlib.import_module(module)
    for part in filter(None, attribute.split(".")):
        found = getattr(found, part)
    return found


def main(release, target):
    os.chdir(release)
    with tempfile.TemporaryDirectory() as out:
        wheel = os.path.join(out, backend(release).build_wheel(out))
        with zipfile.ZipFile(wheel) as archive:
            if any(name.split("/", 1)[0].endswith(".data") for name in archive.namelist()):
                subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--no-compile",
                                "--target", target, wheel], check=True)
            else:
                archive.extractall(target)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python wsgideploy_package.py RELEASE TARGET")
    main(sys.argv[1], sys.argv[2])
