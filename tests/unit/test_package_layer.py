"""The app's own package, installed into its release (`venv.install_package`), run for real with pip.

A venv that has the build backend (here: the test Python's setuptools, through --system-site-packages)
installs a src-layout package into ``releases/<id>/.wsgideploy/site`` with no index and no isolation, and the
release's entry finds it there; a package that does not build fails with pip's words and the log's place.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_safety_commands import R, layout, run_bash  # noqa: F401
from wsgideploy.commands import venv
from wsgideploy.layout import Layout

PYPROJECT = ('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
             '[project]\nname = "task-app"\nversion = "{version}"\n'
             '[tool.setuptools.packages.find]\nwhere = ["src"]\n')


@pytest.fixture(scope="module")
def shared_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with setuptools (the test Python's own), as a dependency venv holds the build requirements."""
    pytest.importorskip("setuptools")
    path = tmp_path_factory.mktemp("venvs") / "deps"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(path)], check=True, timeout=120)
    return path


def release(layout: Layout, shared_venv: Path, release_id: str, version: str, pyproject: str = PYPROJECT) -> Path:  # noqa: F811
    path = Path(layout.release(release_id))
    (path / "src" / "task_app").mkdir(parents=True)
    (path / "pyproject.toml").write_text(pyproject.format(version=version))
    (path / "src" / "task_app" / "__init__.py").write_text(f"VERSION = {version!r}\n")
    (path / ".wsgideploy").mkdir()
    os.symlink(shared_venv, path / "venv")
    return path


def test_each_release_gets_its_own_package_and_metadata(layout: Layout, shared_venv: Path,  # noqa: F811
                                                       tmp_path: Path) -> None:
    for release_id, version in ((R[0], "1.0"), (R[1], "2.0")):
        path = release(layout, shared_venv, release_id, version)
        done = run_bash(venv.install_package(layout, release_id), tmp_path, timeout=180)
        assert done.returncode == 0, done.stderr
        assert "wsgideploy-fact:package=installed" in done.stdout
    for release_id, version in ((R[0], "1.0"), (R[1], "2.0")):
        site = Path(layout.release(release_id)) / ".wsgideploy" / "site"
        code = ("import site, sys; site.addsitedir(sys.argv[1]); import task_app, importlib.metadata as m; "
                "print(task_app.VERSION, m.version('task-app'), task_app.__file__)")
        seen = subprocess.run([str(shared_venv / "bin" / "python"), "-c", code, str(site)], capture_output=True,
                              text=True, timeout=60, cwd="/", check=True).stdout.split()
        assert seen == [version, version, f"{site}/task_app/__init__.py"], "its own code, not another release's"


def test_a_package_that_does_not_build_fails_with_pips_words_and_the_log(layout: Layout,  # noqa: F811
                                                                        shared_venv: Path, tmp_path: Path) -> None:
    release(layout, shared_venv, R[2], "1.0", PYPROJECT.replace('"setuptools.build_meta"', '"no_such_backend"'))
    done = run_bash(venv.install_package(layout, R[2]), tmp_path, timeout=180)
    assert done.returncode == 1
    assert "no_such_backend" in done.stderr
    assert (f"the app's own package did not build or install (its build backend, no dependencies; full log on the host: "
            f"{layout.deploy_dir}/package-{R[2]}.log)") in done.stderr


def test_a_wheel_with_more_than_libraries_is_installed_by_pip(layout: Layout, shared_venv: Path,  # noqa: F811
                                                             tmp_path: Path) -> None:
    """A ``.data`` folder in the wheel (here a script: setuptools' script-files) is pip's to lay out."""
    path = release(layout, shared_venv, R[3], "3.0", PYPROJECT + 'script-files = ["bin/task-hello"]\n'
                   .replace("script-files", "[tool.setuptools]\nscript-files"))
    (path / "bin").mkdir()
    (path / "bin" / "task-hello").write_text("#!/bin/sh\necho hello\n")
    done = run_bash(venv.install_package(layout, R[3]), tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    site = path / ".wsgideploy" / "site"
    assert (site / "task_app" / "__init__.py").is_file() and (site / "bin" / "task-hello").is_file()
