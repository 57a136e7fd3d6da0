"""Deploy a commit, not a working tree: the real CLI against an app in a real git repository."""
from __future__ import annotations

import json
from pathlib import Path

from .fabcli import EXAMPLE, app_info, fab, hello_app_table
from ..gitrepo import git
from .helpers import copy_app, http_get


def test_a_dirty_tree_is_refused_before_any_upload_then_the_commit_deploys_and_is_recorded(
        make_host, write_inventory, tmp_path: Path) -> None:
    host = make_host("web1")
    repo = copy_app(EXAMPLE, tmp_path / "repo", version="1.0.0")
    (repo / ".gitignore").write_text("local.cfg\n")
    (repo / ".env.production").write_text("SECRET_KEY=committed-by-mistake\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "v1")
    (repo / "local.cfg").write_text("ignored: never shipped\n")
    inventories = write_inventory("test", app=hello_app_table(host, repo), hosts={"web1": host.host_table()},
                                  nginx=host.nginx_table(), vars={"workers": 1})
    result_file = tmp_path / "deploy.json"

    app_py = repo / "app.py"
    app_py.write_text(app_py.read_text().replace('VERSION = "1.0.0"', 'VERSION = "1.1.0"'))
    refused = fab(inventories, "-H", "web1", "deploy", "--json-file", str(result_file), expect=2)
    assert " M app.py" in refused.stderr and "--allow-dirty" in refused.stderr, refused.stderr
    assert not (Path(host.app_root) / "releases").exists(), "nothing may be uploaded for a refused deploy"
    assert json.loads(result_file.read_text())["result"] == "invalid"

    git(repo, "commit", "-q", "-am", "v1.1")
    sha = git(repo, "rev-parse", "HEAD")
    out = fab(inventories, "-H", "web1", "deploy", "--expect-sha", sha[:7], "--json-file", str(result_file)).stdout
    assert f"of commit {sha[:12]}" in out
    doc = json.loads(result_file.read_text())
    assert (doc["result"], doc["commit"], doc["hosts"]["web1"]["commit"]) == ("ok", sha, sha)
    assert "version 1.1.0" in http_get(host.http_port, "/")[1]
    release = Path(host.app_root) / "releases" / app_info(host.http_port)["release"]
    assert (release / "app.py").is_file()
    assert not (release / ".env.production").exists() and not (release / "local.cfg").exists()

    log = [json.loads(line) for line in (Path(host.app_root) / ".deploy" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["source"] == sha
    releases = fab(inventories, "-H", "web1", "releases").stdout
    assert f"{release.name}  {sha[:12]}" in releases, releases

    again = fab(inventories, "-H", "web1", "deploy", "--json-file", str(result_file))
    assert json.loads(result_file.read_text())["result"] == "noop", again.stdout
    fab(inventories, "-H", "web1", "deploy", "--expect-sha", "0000000", expect=2)
