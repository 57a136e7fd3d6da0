"""Closing the app's root (``tasks/recipes/root_access.sh``, `release.access_script`), run here in bash: where it
cannot be closed the deploy says why and changes nothing (a closed root without the front server's passage would
stop the live site). The booted proof (0750, the app's group, www-data passing through to the socket, every other
user kept out) is in tests/integration/test_setup.py."""
from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

from wsgideploy.commands import release
from wsgideploy.commands.recipe import recipe
from wsgideploy.commands.shell import script
from wsgideploy.layout import Layout
from wsgideploy.protocol import FACTS_MARK

from .test_safety_commands import run_bash

ME = pwd.getpwuid(os.getuid()).pw_name


def close(tmp_path: Path, front_user: str, path: str) -> tuple[str, str]:
    root = tmp_path / "srv"
    root.mkdir(mode=0o755, exist_ok=True)
    root.chmod(0o755)
    text = script(f"export PATH={path}\n" + recipe("process") + release.access_script(Layout(str(root)), "", False, front_user))
    result = run_bash(text, tmp_path)
    assert result.returncode == 0, result.stderr
    facts = dict(line.removeprefix(FACTS_MARK).split("=", 1) for line in result.stdout.splitlines()
                 if line.startswith(FACTS_MARK))
    return facts.get("root_open", ""), oct(root.stat().st_mode & 0o7777)


def fake_bin(tmp_path: Path, **tools: str) -> str:
    """A PATH of only the tools the recipe uses: this machine's ``stat``, ``id``, ``chgrp``, ``chmod`` and
    ``grep``, and ``tools`` (name -> script body), so that a setfacl of this machine is never found."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name in ("stat", "id", "chgrp", "chmod", "grep"):
        found = shutil.which(name)
        assert found, name
        (folder / name).symlink_to(found)
    for name, body in tools.items():
        (folder / name).write_text("#!/bin/sh\n" + body + "\n")
        (folder / name).chmod(0o755)
    return str(folder)


def test_without_setfacl_the_root_stays_as_it_was_naming_acl(tmp_path: Path) -> None:
    why, mode = close(tmp_path, ME, fake_bin(tmp_path))
    assert "setfacl is missing" in why and "wsgideploy setup" in why and "apt-get install acl" in why
    assert mode == "0o755"


def test_a_file_system_without_acls_leaves_the_root_open(tmp_path: Path) -> None:
    path = fake_bin(tmp_path, setfacl="exit 1", getfacl="echo 'user::rwx'")
    why, mode = close(tmp_path, ME, path)
    assert "does not keep ACLs" in why and mode == "0o755"


def test_an_unknown_front_user_leaves_the_root_open_naming_the_setting(tmp_path: Path) -> None:
    why, mode = close(tmp_path, "no_such_front_wsgd", fake_bin(tmp_path, setfacl="exit 0", getfacl="exit 0"))
    assert "no_such_front_wsgd does not exist" in why and "[vars] front_user" in why and mode == "0o755"


def test_with_the_passage_in_place_the_root_closes_to_its_group(tmp_path: Path) -> None:
    path = fake_bin(tmp_path, setfacl="exit 0", getfacl=f"echo 'user:{ME}:--x'")
    why, mode = close(tmp_path, ME, path)
    assert why == "" and mode == "0o750"


def test_nothing_to_close_without_a_front_user_and_an_app_user() -> None:
    assert release.access_script(Layout("/srv/shop"), "", False, "") == ""
