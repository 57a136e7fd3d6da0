"""Deploy a commit, not a working tree: the real CLI against an app in a real git repository.

The test runs on a booted Debian 12 server (tests/servers: systemd, Debian's stock nginx with its default
site, real OpenSSH); what the deploy left is read on the server.
"""
from __future__ import annotations

import json
from pathlib import Path

from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from ..gitrepo import git
from .booted_deploy import info, inventory
from .fabcli import EXAMPLE, fab
from .helpers import copy_app
from .stock import get


def test_a_dirty_tree_is_refused_before_any_upload_then_the_commit_deploys_and_is_recorded(
        nginx_target, write_inventory, tmp_path: Path) -> None:  # noqa: F811
    port = 8080
    host = nginx_target.with_app("fromgit")
    repo = copy_app(EXAMPLE, tmp_path / "repo", version="1.0.0")
    (repo / ".gitignore").write_text("local.cfg\n")
    (repo / ".env.production").write_text("SECRET_KEY=committed-by-mistake\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "v1")
    (repo / "local.cfg").write_text("ignored: never shipped\n")
    inventories = inventory(write_inventory, host, repo, listen=port, vars={"workers": 1})
    result_file = tmp_path / "deploy.json"

    app_py = repo / "app.py"
    app_py.write_text(app_py.read_text().replace('VERSION = "1.0.0"', 'VERSION = "1.1.0"'))
    refused = fab(inventories, "-H", host.alias, "deploy", "--json-file", str(result_file), expect=2)
    assert " M app.py" in refused.stderr and "--allow-dirty" in refused.stderr, refused.stderr
    assert not host.exists("releases"), "nothing may be uploaded for a refused deploy"
    assert json.loads(result_file.read_text())["result"] == "invalid"

    git(repo, "commit", "-q", "-am", "v1.1")
    sha = git(repo, "rev-parse", "HEAD")
    out = fab(inventories, "-H", host.alias, "deploy", "--expect-sha", sha[:7],
              "--json-file", str(result_file)).stdout
    assert f"of commit {sha[:12]}" in out
    doc = json.loads(result_file.read_text())
    assert (doc["result"], doc["commit"], doc["hosts"][host.alias]["commit"]) == ("ok", sha, sha)
    assert "version 1.1.0" in get(host.address, port, "/")[1]
    release = info(host, port)["release"]
    assert host.exists(f"releases/{release}/app.py")
    assert not host.exists(f"releases/{release}/.env.production")
    assert not host.exists(f"releases/{release}/local.cfg")

    log = [json.loads(line) for line in host.read(".deploy/log.jsonl").splitlines()]
    assert log[-1]["source"] == sha
    releases = fab(inventories, "-H", host.alias, "releases").stdout
    assert f"{release}  {sha[:12]}" in releases, releases

    again = fab(inventories, "-H", host.alias, "deploy", "--json-file", str(result_file))
    assert json.loads(result_file.read_text())["result"] == "noop", again.stdout
    fab(inventories, "-H", host.alias, "deploy", "--expect-sha", "0000000", expect=2)
