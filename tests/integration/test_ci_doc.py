"""docs/ci.md's scheduled-redeploy job, run as written against a booted Debian 12 server
(tests/servers: systemd, Debian's stock nginx with its default site, real OpenSSH).

The workflow's "SSH key and known hosts" and "Redeploy" steps run with ``bash`` in an
app's own git repository (the example app with ``deploy/production.toml``: app root ``/srv/cidoc``,
port 8091), with ``HOME`` and ``RUNNER_TEMP`` in a temporary directory, ``GITHUB_SHA`` set to its
commit and the two secrets taken from the server (the lab's ssh key, the server's pinned host key).
The first run deploys; the second, with nothing changed, is a no-op that exits 0. The JSON artifact
is read after each. The app is stopped after, the way the job would run it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.hosts.toml_writer import toml_dumps
from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from ..gitrepo import git
from .booted_deploy import info
from .fabcli import EXAMPLE, PROJECT
from .helpers import copy_app

CI_DOC = PROJECT / "docs" / "ci.md"
PORT = 8091


def workflow() -> dict[str, Any]:
    """The YAML workflow in docs/ci.md (its only ```yaml block)."""
    blocks = re.findall(r"```yaml\n(.*?)```", CI_DOC.read_text(), re.DOTALL)
    assert len(blocks) == 1, "docs/ci.md should hold exactly one workflow"
    return yaml.safe_load(blocks[0])


def step(doc: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [s for s in doc["jobs"]["redeploy"]["steps"] if s.get("name") == name]
    return found


def run_step(found: dict[str, Any], env: dict[str, str], secrets: dict[str, str],
             cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a workflow step's ``run`` script in ``cwd`` with its ``env`` (``${{ secrets.X }}`` filled in)."""
    step_env = {k: re.sub(r"\$\{\{\s*secrets\.(\w+)\s*\}\}", lambda m: secrets[m[1]], str(v))
                for k, v in (found.get("env") or {}).items()}
    return subprocess.run(["bash", "-e", "-c", found["run"]], check=False, cwd=cwd, env={**env, **step_env},
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


def test_the_documented_scheduled_redeploy_deploys_then_is_a_no_op(nginx_target, tmp_path: Path) -> None:  # noqa: F811
    doc = workflow()
    triggers = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert triggers["schedule"][0]["cron"], "the job runs on a schedule"
    upload = step(doc, "Keep the result")
    assert upload["if"] == "always()" and upload["with"]["path"] == "${{ runner.temp }}/deploy.json"
    assert "wsgideploy" in step(doc, "Install wsgideploy")["run"]

    host = nginx_target.with_app("cidoc")
    repo = copy_app(EXAMPLE, tmp_path / "hello", version="7.0.0")
    app = {k: v for k, v in host.app_table(repo, listen=PORT).items() if k != "source"}  # the repository itself
    host_table = {**host.host_table(), "identity": "~/.ssh/deploy_ed25519", "known_hosts": "~/.ssh/known_hosts"}
    (repo / "deploy").mkdir()
    (repo / "deploy" / "production.toml").write_text(
        toml_dumps({"app": app, "nginx": host.front_table(), "hosts": {host.alias: host_table}}))
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "hello 7.0.0")
    home, runner_temp = tmp_path / "home", tmp_path / "runner-temp"
    home.mkdir()
    runner_temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSGIDEPLOY_", "FABRIC_"))}
    env.update(HOME=str(home), RUNNER_TEMP=str(runner_temp), GITHUB_SHA=git(repo, "rev-parse", "HEAD"))
    secrets = {"DEPLOY_SSH_KEY": Path(host.identity).read_text().strip(),
               "DEPLOY_KNOWN_HOSTS": Path(host.server.known_hosts).read_text().strip()}

    keys = run_step(step(doc, "SSH key and known hosts"), env, secrets, repo)
    assert keys.returncode == 0, keys.stderr
    assert oct((home / ".ssh/deploy_ed25519").stat().st_mode & 0o777) == "0o600"
    try:
        redeploy_twice(doc, host, env, secrets, repo, runner_temp / "deploy.json")
    finally:  # stop the app server the job started, with the job's key, known hosts and stage
        stop = subprocess.run(["wsgideploy", "stop"], cwd=repo, env={**env, **step(doc, "Redeploy")["env"]},
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)
        print(f"wsgideploy stop exited {stop.returncode}: {stop.stdout.strip().splitlines()[-1:]}")


def redeploy_twice(doc: dict[str, Any], host: DeployTarget, env: dict[str, str], secrets: dict[str, str],
                   repo: Path, artifact: Path) -> None:
    """The Redeploy step: it deploys, then is a no-op; with another commit expected it refuses (2)."""
    first = run_step(step(doc, "Redeploy"), env, secrets, repo)
    assert first.returncode == 0, first.stdout + first.stderr
    result = json.loads(artifact.read_text())
    assert result["result"] == "ok" and result["hosts"][host.alias]["health"]["result"] == "ok"
    assert result["commit"] == env["GITHUB_SHA"]
    assert info(host, PORT)["release"] == result["release"]

    second = run_step(step(doc, "Redeploy"), env, secrets, repo)
    assert second.returncode == 0, second.stdout + second.stderr
    again = json.loads(artifact.read_text())
    assert again["result"] == "noop" and again["hosts"][host.alias]["result"] == "noop"
    assert "nothing to deploy" in second.stdout
    assert info(host, PORT)["release"] == result["release"]

    other = run_step(step(doc, "Redeploy"), {**env, "GITHUB_SHA": "0" * 40}, secrets, repo)
    assert other.returncode == 2, other.stdout + other.stderr
