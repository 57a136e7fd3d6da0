"""Symlinks that lead out of the release stop the deploy before any connection (exit 1), naming each: the
audit served /etc/passwd from a `static/` link and SECRET_KEY from a link to shared/.env."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from wsgideploy.archive import Entry, escaping_links

INVENTORY = """\
[app]
name = "hello"
wsgi = "app:app"
root = "/srv/hello"
source = "../app"

[hosts.web1]
hostname = "127.0.0.1"
port = 9
"""


def link(path: str, target: str) -> Entry:
    return Entry(path, 0o777, link=target)


def test_links_out_of_the_release_are_found_and_links_inside_are_not() -> None:
    entries = [link("static/passwd", "/etc/passwd"), link("static/env", "../../shared/.env"),
               link("up", ".."), link("static/logo.png", "img/logo.png"), link("docs/readme", "../README.md"),
               link("static/same", "./x/../y"), Entry("app.py", 0o644, b"")]
    assert escaping_links(entries) == ["static/passwd -> /etc/passwd", "static/env -> ../../shared/.env", "up -> .."]


def test_a_deploy_of_a_source_with_such_links_exits_1_naming_them_before_connecting(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "static").mkdir(parents=True)
    (app / "app.py").write_text("def app(environ, start_response):\n    return []\n")
    (app / "static" / "passwd").symlink_to("/etc/passwd")
    (app / "static" / "env").symlink_to("../../shared/.env")
    (app / "static" / "ok.css").symlink_to("real.css")
    (app / "static" / "real.css").write_text("body {}\n")
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "production.toml").write_text(INVENTORY)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSGIDEPLOY_", "FABRIC_"))}
    result = subprocess.run([sys.executable, "-m", "wsgideploy", "-H", "web1", "deploy"], cwd=tmp_path / "deploy",
                            env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 symbolic link(s) lead out of the release" in result.stderr
    assert "static/env -> ../../shared/.env" in result.stderr and "static/passwd -> /etc/passwd" in result.stderr
    assert "ok.css" not in result.stderr and "nothing was deployed" in result.stderr
    assert "connect" not in result.stdout, "no host was contacted"
