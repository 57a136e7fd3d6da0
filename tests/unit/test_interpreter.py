"""``[app] python`` found on the host (tasks/recipes/python.sh, python_uv.sh), run here with bash.

A command must exist; a version is the host's ``python3.X``, else uv's interpreter under ``<root>/.python``,
which a deploy installs with uv and plan only reports. uv here is a stand-in script that records its
arguments and environment and "installs" a link to this machine's Python: what is tested is the script's
logic (which uv calls, where, and what it says); a real uv installs on booted servers
(tests/integration/test_real_apps.py).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wsgideploy.commands.interpreter import find_python, is_version
from wsgideploy.commands.shell import script
from wsgideploy.layout import Layout
from wsgideploy.protocol import parse_facts

FAKE_UV = """#!/bin/sh
echo "$* UV_PYTHON_INSTALL_DIR=$UV_PYTHON_INSTALL_DIR" >> "$UV_CALLS"
case "$1 $2" in
  "python find") [ -x "$UV_PYTHON_INSTALL_DIR/cpython/bin/python3" ] && echo "$UV_PYTHON_INSTALL_DIR/cpython/bin/python3" && exit 0; exit 2 ;;
  "python install") [ -n "$UV_FAIL" ] && { echo "error: failed to download: dns error" >&2; exit 1; }
    mkdir -p "$UV_PYTHON_INSTALL_DIR/cpython/bin" && ln -s "$REAL_PYTHON" "$UV_PYTHON_INSTALL_DIR/cpython/bin/python3" ;;
esac
"""


def run(tmp_path: Path, python: str, install: bool, uv: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if uv:
        (bin_dir / "uv").write_text(FAKE_UV)
        (bin_dir / "uv").chmod(0o755)
    (bin_dir / "python3").unlink(missing_ok=True)
    (bin_dir / "python3").symlink_to(sys.executable)
    text = script(find_python(python, Layout(str(tmp_path / "app")), install))
    environ = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "UV_CALLS": str(tmp_path / "calls"),
               "REAL_PYTHON": sys.executable, **env}
    return subprocess.run(["bash", "-c", text], env=environ, capture_output=True, text=True, timeout=30)


def calls(tmp_path: Path) -> list[str]:
    path = tmp_path / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_a_version_is_told_from_a_command() -> None:
    assert is_version("3.12") and is_version("3.9")
    assert not is_version("python3.12") and not is_version("/usr/bin/python3") and not is_version("3")


def test_a_command_on_path_gives_its_path_and_version(tmp_path: Path) -> None:
    result = run(tmp_path, "python3", install=True)
    facts = parse_facts(result.stdout)
    assert result.returncode == 0, result.stderr
    assert facts["python"] == str(tmp_path / "bin" / "python3")
    assert facts["python_version"] == "%d.%d.%d" % sys.version_info[:3]
    assert calls(tmp_path) == [], "uv is not asked for a command"


def test_a_missing_command_fails_naming_it(tmp_path: Path) -> None:
    result = run(tmp_path, "python3.99", install=True)
    assert result.returncode == 1 and "python3.99 is not installed on the host" in result.stderr


def test_a_version_the_host_has_is_its_own_python(tmp_path: Path) -> None:
    version = "%d.%d" % sys.version_info[:2]
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / f"python{version}").symlink_to(sys.executable)
    result = run(tmp_path, version, install=True)
    assert result.returncode == 0, result.stderr
    assert parse_facts(result.stdout)["python"] == str(tmp_path / "bin" / f"python{version}")
    assert "python_installed" not in parse_facts(result.stdout) and calls(tmp_path) == []


def test_a_missing_version_is_installed_with_uv_under_the_app_root_once(tmp_path: Path) -> None:
    first = run(tmp_path, "3.98", install=True)
    assert first.returncode == 0, first.stderr
    facts = parse_facts(first.stdout)
    managed = tmp_path / "app" / ".python"
    assert facts["python_installed"] == facts["python"] == f"{managed}/cpython/bin/python3"
    assert f"python install 3.98 UV_PYTHON_INSTALL_DIR={managed}" in calls(tmp_path)
    again = run(tmp_path, "3.98", install=True)
    assert "python_installed" not in parse_facts(again.stdout), "found the second time, not installed again"
    assert parse_facts(again.stdout)["python"] == facts["python"]
    assert sum("python install" in c for c in calls(tmp_path)) == 1


def test_a_missing_version_without_uv_fails_with_the_fix(tmp_path: Path) -> None:
    result = run(tmp_path, "3.98", install=True, uv=False)
    assert result.returncode == 1
    assert "Python 3.98 is not on the host (no python3.98), and uv is not there to install it" in result.stderr
    assert "pip install --user uv" in result.stderr


def test_uv_that_cannot_download_fails_showing_its_error(tmp_path: Path) -> None:
    result = run(tmp_path, "3.98", install=True, UV_FAIL="1")
    assert result.returncode == 1
    assert "dns error" in result.stderr and "uv could not install it" in result.stderr
    assert "nothing was uploaded" in result.stderr


def test_plan_only_looks_and_says_whether_uv_could_install_it(tmp_path: Path) -> None:
    with_uv = run(tmp_path, "3.98", install=False)
    facts = parse_facts(with_uv.stdout)
    assert with_uv.returncode == 0, with_uv.stderr
    assert (facts["python"], facts["python_version"], facts["python_uv"]) == ("", "", "yes")
    assert not any("python install" in c for c in calls(tmp_path)) and not (tmp_path / "app" / ".python").exists()
    (tmp_path / "bin" / "uv").unlink()
    without = run(tmp_path, "3.98", install=False, uv=False)
    assert parse_facts(without.stdout)["python_uv"] == "no"


def test_the_version_is_kept_while_the_interpreter_is_the_same_binary_and_plan_only_reads_it(tmp_path: Path) -> None:
    """prepare's Python start costs more than the rest of it: a deploy records the version by the binary's real
    path and mtime (``.deploy/python-versions``), and the next run reads it; another mtime asks again."""
    cache = tmp_path / "app" / ".deploy" / "python-versions"
    cache.parent.mkdir(parents=True)
    real = Path(sys.executable).resolve()
    version = "%d.%d.%d" % sys.version_info[:3]
    assert parse_facts(run(tmp_path, "python3", install=True).stdout)["python_version"] == version
    [line] = cache.read_text().splitlines()
    assert line == f"{real} {int(real.stat().st_mtime)} {version}"
    cache.write_text(line.rsplit(" ", 1)[0] + " 3.99.1\n")  # what a cached answer would say
    assert parse_facts(run(tmp_path, "python3", install=True).stdout)["python_version"] == "3.99.1"
    assert parse_facts(run(tmp_path, "python3", install=False).stdout)["python_version"] == "3.99.1"
    cache.write_text(f"{real} 1 3.99.1\n")  # the binary was replaced since: asked again, recorded again
    assert parse_facts(run(tmp_path, "python3", install=False).stdout)["python_version"] == version
    assert cache.read_text() == f"{real} 1 3.99.1\n", "plan writes nothing"
    assert parse_facts(run(tmp_path, "python3", install=True).stdout)["python_version"] == version
    assert cache.read_text().splitlines() == [f"{real} {int(real.stat().st_mtime)} {version}"]


def test_a_script_in_front_of_python_is_always_asked(tmp_path: Path) -> None:
    """A pyenv shim (a script) picks its version elsewhere: never cached."""
    (tmp_path / "app" / ".deploy").mkdir(parents=True)
    shim = tmp_path / "shim" / "python3"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    shim.chmod(0o755)
    text = script(find_python(str(shim), Layout(str(tmp_path / "app")), True))
    done = subprocess.run(["bash", "-c", text], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=30)
    assert parse_facts(done.stdout)["python_version"] == "%d.%d.%d" % sys.version_info[:3], done.stderr
    assert not (tmp_path / "app" / ".deploy" / "python-versions").exists()
