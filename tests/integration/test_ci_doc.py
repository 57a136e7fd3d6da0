"""docs/ci.md's scheduled-redeploy job, run as written against a sandbox host.

The workflow's "SSH key and known hosts" and "Redeploy" steps run with ``bash``,
with ``HOME`` in a temporary directory and the two secrets taken from the test
host. The first run deploys; the second, with nothing changed, is a no-op that
exits 0. The JSON artifact is read after each.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from .fabcli import EXAMPLE, PROJECT, app_info, hello_app_table
from .helpers import copy_app

CI_DOC = PROJECT / "docs" / "ci.md"


def workflow() -> dict[str, Any]:
    """The YAML workflow in docs/ci.md (its only ```yaml block)."""
    blocks = re.findall(r"```yaml\n(.*?)```", CI_DOC.read_text(), re.DOTALL)
    assert len(blocks) == 1, "docs/ci.md should hold exactly one workflow"
    return yaml.safe_load(blocks[0])


def step(doc: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [s for s in doc["jobs"]["redeploy"]["steps"] if s.get("name") == name]
    return found


def run_step(found: dict[str, Any], env: dict[str, str], secrets: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a workflow step's ``run`` script with its ``env`` (``${{ secrets.X }}`` filled in)."""
    step_env = {k: re.sub(r"\$\{\{\s*secrets\.(\w+)\s*\}\}", lambda m: secrets[m[1]], str(v))
                for k, v in (found.get("env") or {}).items()}
    return subprocess.run(["bash", "-e", "-c", found["run"]], cwd=PROJECT, env={**env, **step_env},
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


def test_the_documented_scheduled_redeploy_deploys_then_is_a_no_op(make_host, write_inventory, tmp_path):
    doc = workflow()
    triggers = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert triggers["schedule"][0]["cron"], "the job runs on a schedule"
    upload = step(doc, "Keep the result")
    assert upload["if"] == "always()" and upload["with"]["path"] == "artifacts/deploy.json"

    host = make_host("web1")
    source = copy_app(EXAMPLE, tmp_path / "hello", version="7.0.0")
    host_table = {**host.host_table(), "identity": "~/.ssh/deploy_ed25519", "known_hosts": "~/.ssh/known_hosts"}
    inventories = write_inventory("production", hello_app_table(host, source), {"web1": host_table},
                                  nginx=host.nginx_table())
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "WSGIDEPLOY_INVENTORIES": str(inventories)}
    env.pop("FABRIC_DEPLOY_STAGE", None)
    secrets = {"DEPLOY_SSH_KEY": Path(host.identity).read_text().strip(),
               "DEPLOY_KNOWN_HOSTS": Path(host.known_hosts).read_text().strip()}
    artifact = PROJECT / "artifacts" / "deploy.json"

    keys = run_step(step(doc, "SSH key and known hosts"), env, secrets)
    assert keys.returncode == 0, keys.stderr
    assert oct((home / ".ssh/deploy_ed25519").stat().st_mode & 0o777) == "0o600"
    try:
        first = run_step(step(doc, "Redeploy"), env, secrets)
        assert first.returncode == 0, first.stdout + first.stderr
        result = json.loads(artifact.read_text())
        assert result["result"] == "ok" and result["hosts"]["web1"]["health"]["result"] == "ok"
        assert app_info(host.http_port)["release"] == result["release"]

        second = run_step(step(doc, "Redeploy"), env, secrets)
        assert second.returncode == 0, second.stdout + second.stderr
        again = json.loads(artifact.read_text())
        assert again["result"] == "noop" and again["hosts"]["web1"]["result"] == "noop"
        assert "nothing to deploy" in second.stdout
        assert app_info(host.http_port)["release"] == result["release"]
    finally:
        artifact.unlink(missing_ok=True)
        if artifact.parent.exists() and not any(artifact.parent.iterdir()):
            artifact.parent.rmdir()
