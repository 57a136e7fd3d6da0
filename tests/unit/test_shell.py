"""``shell.write_files`` round-trips any content: the snippet is run with a local bash."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from wsgideploy.commands.shell import script, write_files

CONTENTS = [
    pytest.param("", id="empty"),
    pytest.param("plain text\n", id="plain"),
    pytest.param("no trailing newline", id="no-trailing-newline"),
    pytest.param("single ' and double \" quotes\n", id="quotes"),
    pytest.param("$HOME ${PATH} $(id -u) $$ $1\n", id="dollars"),
    pytest.param("`touch pwned` and \\`escaped\\`\n", id="backticks"),
    pytest.param("line1\nline2\r\n\n\nline5\n\n", id="newlines"),
    pytest.param("%s %d %% \\n \\t \\\\\n", id="printf-escapes"),
    pytest.param("tabs\tand unicode: é ✓ 日本\n", id="unicode"),
    pytest.param("EOF\n'EOF'\nEOF\n", id="heredoc-markers"),
    # one printf argument of 200 KB: bash's own printf is no exec, so no limit on an argument's size applies
    pytest.param("x" * 200_000 + "\n", id="large"),
]


def run_bash(text: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``text`` the way `wsgideploy.transport` does on a host: from a file of its own (`script_runner`)."""
    path = cwd / "script.sh"
    path.write_text(text)
    try:
        return subprocess.run(["bash", str(path)], cwd=cwd, capture_output=True, text=True, timeout=20,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)})
    finally:
        path.unlink()


@pytest.mark.parametrize("content", CONTENTS)
def test_write_files_round_trips_arbitrary_content(tmp_path: Path, content: str) -> None:
    target = tmp_path / "out" / "config.py"
    target.parent.mkdir()
    result = run_bash(script(write_files(str(target.parent), {"config.py": content})), tmp_path)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == content.encode()
    assert sorted(p.name for p in target.parent.iterdir()) == ["config.py"]  # no temp folder left
    assert not (tmp_path / "pwned").exists()


def test_write_files_writes_every_file_and_makes_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "release" / ".wsgideploy"
    files = {"gunicorn.conf.py": "a = 1\n", "nginx.conf": "server {}\n", "empty": "", "it's $x.conf": "`y`\n"}
    result = run_bash(script(write_files(str(folder), files), "echo after"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert {p.name: p.read_text() for p in folder.iterdir()} == files
    assert "after" in result.stdout


def test_write_files_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "site.conf"
    target.write_text("old\n")
    result = run_bash(script(write_files(str(tmp_path), {"site.conf": "new\n"})), tmp_path)
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "new\n"


def test_write_files_replaces_a_link_instead_of_writing_through_it(tmp_path: Path) -> None:
    """A release's files come from the app's repository: a link there named like a config must not
    make the deploy write where it points."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("keep\n")
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "gunicorn.conf.py").symlink_to(elsewhere)
    result = run_bash(script(write_files(str(folder), {"gunicorn.conf.py": "new\n"})), tmp_path)
    assert result.returncode == 0, result.stderr
    assert elsewhere.read_text() == "keep\n"
    assert not (folder / "gunicorn.conf.py").is_symlink()
    assert (folder / "gunicorn.conf.py").read_text() == "new\n"


@pytest.mark.parametrize("mode", ["0644", "0600", "0755"])
def test_write_files_sets_the_mode(tmp_path: Path, mode: str) -> None:
    result = run_bash(script(write_files(str(tmp_path), {"f": "x", "g": "y"}, mode=mode)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert [stat.S_IMODE((tmp_path / n).stat().st_mode) for n in "fg"] == [int(mode, 8)] * 2


def test_write_files_to_a_path_with_quotes_and_dollars(tmp_path: Path) -> None:
    folder = tmp_path / "it's $HOME `x`"
    result = run_bash(script(write_files(str(folder), {"a.conf": "ok\n"})), tmp_path)
    assert result.returncode == 0, result.stderr
    assert (folder / "a.conf").read_text() == "ok\n"


def test_write_files_fails_the_script_and_leaves_no_temp_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "taken").mkdir()
    (folder / "taken" / "x").write_text("")  # mv cannot replace a non-empty folder with a file
    result = run_bash(script(write_files(str(folder), {"a": "1", "taken": "2"}), "echo after"), tmp_path)
    assert result.returncode != 0
    assert "after" not in result.stdout
    assert "could not write a, taken in" in result.stderr
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".wsgideploy-write")]


def test_write_files_temp_folder_is_unique_per_shell_process(tmp_path: Path) -> None:
    log = tmp_path / "mv.log"
    spy = f'mv() {{ printf "%s\\n" "$@" >> {log}; command mv "$@"; }}'
    result = run_bash(script(spy, write_files(str(tmp_path / "d"), {"f": "x"})), tmp_path)
    assert result.returncode == 0, result.stderr
    temp_name = log.read_text().splitlines()[-2]
    assert ".wsgideploy-write." in temp_name and not temp_name.endswith("$$/f")


@pytest.mark.parametrize("name", ["", ".", "..", "a/b"])
def test_write_files_refuses_a_name_that_is_not_a_file_name(name: str) -> None:
    with pytest.raises(ValueError):
        write_files("/srv/x", {name: "x"})
