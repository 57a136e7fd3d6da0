"""What fills an app's venv, and what is installed into each release: `source.plan_install`, as data.

The shared venv holds the dependencies, keyed by what decides them (requirements files, pyproject's
``[project] dependencies``, the build backend, the Python, the app server); the app's own package, when it
is one, is installed into each release without its dependencies, so a code change reuses the venv and a
rollback still runs its own code and metadata.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from wsgideploy.source import SourceError, plan_install

RELEASE = "/srv/hello/releases/20261121T101500Z"
FLIT = '[build-system]\nrequires = ["flit_core>=3.2,<4"]\nbuild-backend = "flit_core.buildapi"\n'
HATCH = '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
PROJECT = '[project]\nname = "shop"\nversion = "1.0"\ndependencies = ["flask>=3", "rq==1.16.2"]\n'
SETUPTOOLS_DEFAULT = ("setuptools>=40.8.0", "wheel")

CASES = [
    # (files, kind, pip_args (release dir as {r}), package installed into the release)
    ({"requirements.txt": "flask\n"}, "requirements", ("-r", "{r}/requirements.txt", "gunicorn"), False),
    ({"requirements.txt": "flask\n", "pyproject.toml": "[tool.black]\nline-length = 100\n"},
     "requirements", ("-r", "{r}/requirements.txt", "gunicorn"), False),
    ({"requirements.txt": "flask\n", "pyproject.toml": PROJECT + FLIT},
     "requirements", ("-r", "{r}/requirements.txt", "flit_core>=3.2,<4", "gunicorn"), True),
    ({"requirements.txt": "flask\n", "setup.py": "from setuptools import setup\nsetup()\n"},
     "requirements", ("-r", "{r}/requirements.txt", *SETUPTOOLS_DEFAULT, "gunicorn"), True),
    ({"pyproject.toml": PROJECT + HATCH}, "dependencies", ("flask>=3", "rq==1.16.2", "hatchling", "gunicorn"), True),
    ({"pyproject.toml": '[project]\nname = "shop"\nversion = "1"\n'}, "dependencies", (*SETUPTOOLS_DEFAULT, "gunicorn"),
     True),
    ({"pyproject.toml": '[project]\nname = "shop"\ndynamic = ["version", "dependencies"]\n' + HATCH},
     "package", ("{r}", "gunicorn"), False),
    ({"pyproject.toml": "[tool.black]\n", "setup.py": "setup()\n"}, "package", ("{r}", "gunicorn"), False),
]


@pytest.mark.parametrize("files, kind, pip_args, package", CASES,
                         ids=["requirements", "requirements+tool-only pyproject", "requirements+flit package",
                              "requirements+setup.py", "pyproject dependencies", "pyproject without dependencies",
                              "dynamic dependencies", "setup.py only"])
def test_what_fills_the_venv_and_what_each_release_installs(make_app, write_tree, tmp_path: Path,
                                                           files: dict[str, str], kind: str,
                                                           pip_args: tuple[str, ...], package: bool) -> None:
    write_tree(tmp_path / "src", files)
    install = plan_install(make_app(), RELEASE, "3.11.7", "hash-a")
    assert (install.kind, install.pip_args) == (kind, tuple(a.format(r=RELEASE) for a in pip_args))
    assert install.package == (RELEASE if package else None)


def key_of(make_app, write_tree, tmp_path: Path, pyproject: str, source_hash: str = "a",
           python: str = "3.11.7") -> str:
    write_tree(tmp_path / "src", {"pyproject.toml": pyproject, "shop/__init__.py": source_hash})
    return plan_install(make_app(), RELEASE, python, source_hash).key


def test_a_packaged_apps_venv_key_ignores_its_code_and_version(make_app, write_tree, tmp_path: Path) -> None:
    key = key_of(make_app, write_tree, tmp_path, PROJECT + HATCH)
    assert key_of(make_app, write_tree, tmp_path, PROJECT.replace('"1.0"', '"1.1"') + HATCH, "b") == key
    extras = '[project.optional-dependencies]\ndev = ["pytest"]\n'  # extras are not installed
    assert key_of(make_app, write_tree, tmp_path, PROJECT + HATCH + extras) == key


@pytest.mark.parametrize("change", [
    lambda text: text.replace("rq==1.16.2", "rq==1.16.3"),
    lambda text: text.replace('"hatchling"', '"hatchling>=1.20"'),
    lambda text: text.replace("hatchling.build", "hatchling.ouroboros"),
], ids=["a dependency", "the build requirements", "the build backend"])
def test_a_packaged_apps_venv_key_follows_what_decides_its_dependencies(make_app, write_tree, tmp_path: Path,
                                                                       change) -> None:
    key = key_of(make_app, write_tree, tmp_path, PROJECT + HATCH)
    assert key_of(make_app, write_tree, tmp_path, change(PROJECT + HATCH)) != key
    assert key_of(make_app, write_tree, tmp_path, PROJECT + HATCH, python="3.12.1") != key


def test_a_pyproject_that_does_not_parse_is_named(make_app, write_tree, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"pyproject.toml": "[project\n"})
    with pytest.raises(SourceError, match=r"pyproject.toml is not valid TOML"):
        plan_install(make_app(), RELEASE, "3.11.7", "a")


def test_a_setuptools_backend_gets_wheel_beside_it(make_app, write_tree, tmp_path: Path) -> None:
    setuptools = '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
    write_tree(tmp_path / "src", {"pyproject.toml": PROJECT + setuptools})
    install = plan_install(make_app(), RELEASE, "3.11.7", "a")
    assert install.pip_args == ("flask>=3", "rq==1.16.2", "setuptools>=61", "wheel", "gunicorn")
