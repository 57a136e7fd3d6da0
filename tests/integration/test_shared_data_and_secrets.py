"""Shared data survives every deploy, rollback and prune; secrets land 0640 (read by the app's group) and never show.

The tests run on a booted Debian 12 server (tests/servers: systemd, Debian's stock nginx with its default
site, real OpenSSH), booted once for the module; each test deploys its own app (its own name, root under
/srv and port). What a deploy left is read on the server.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from .booted_deploy import inventory
from .fabcli import fab
from .stock import get

SECRET = "s3cr3t-value-that-must-never-be-printed-7f1c"

APP = '''\
import hashlib
import os

from flask import Flask

VERSION = "{version}"
app = Flask(__name__)


@app.get("/")
def index():
    return "version " + VERSION


@app.get("/secret")
def secret():
    digest = hashlib.sha256(os.environ.get("SECRET_KEY", "").encode()).hexdigest()
    plain = " ".join(os.environ.get(name, "-") for name in ("DATABASE_URL", "DEBUG"))
    return digest + " " + os.environ.get("GREETING", "") + " | " + plain


@app.get("/data")
def data():
    with open(os.path.join(app.instance_path, "data.bin"), "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()
'''


def write_app(source: Path, version: str, requirements: str = "flask>=3,<4\n") -> None:
    source.mkdir(parents=True, exist_ok=True)
    (source / "app.py").write_text(APP.format(version=version))
    (source / "requirements.txt").write_text(requirements)


def test_shared_data_survives_deploys_rollbacks_and_pruning_and_secrets_stay_secret(
        nginx_target, write_inventory, tmp_path):  # noqa: F811
    port = 8080
    host = nginx_target.with_app("vault")
    source = tmp_path / "app"
    write_app(source, "1")
    (source / "instance").mkdir()
    (source / "instance" / "data.bin").write_bytes(b"local development data, never uploaded")
    env_file = tmp_path / "production.env"
    env_file.write_text("# from a local file\nGREETING='hello from env_file'\n")
    inventories = inventory(write_inventory, host, source, listen=port, shared=["instance", "uploads"],
                            keep_releases=2, env_file=str(env_file), env=["SECRET_KEY"],
                            environment={"DATABASE_URL": "sqlite:////srv/vault/shared/db.sqlite", "DEBUG": False})
    secret_env = {"SECRET_KEY": SECRET}

    missing = fab(inventories, "-H", host.alias, "deploy", expect=2)
    assert "SECRET_KEY" in missing.stderr and "not set" in missing.stderr
    assert host.listdir(host.app_root) == [], "a missing secret stops the deploy before any connection"

    outputs = [fab(inventories, "-H", host.alias, "deploy", env=secret_env)]
    assert not host.exists("shared/instance/data.bin"), "local instance data is never uploaded"
    # 256 KiB of random data, made on the server by the deploy user (as the app's own data would be).
    host.run_as_deploy(f"head -c 262144 /dev/urandom > {host.path('shared/instance/data.bin')} && "
                       f"printf '\\211PNG fake' > {host.path('shared/uploads/avatar.png')}")

    def digests() -> str:
        return host.run(f"cd {host.path('shared')} && sha256sum instance/data.bin uploads/avatar.png")

    kept = digests()
    expected = kept.split()[0]
    assert get(host.address, port, "/data") == (200, expected)
    assert get(host.address, port, "/secret") == (
        200, hashlib.sha256(SECRET.encode()).hexdigest() + " hello from env_file | "
        "sqlite:////srv/vault/shared/db.sqlite false"), "[app.environment] reaches the app beside the secrets"
    shown = fab(inventories, "-H", host.alias, "plan", env=secret_env).stdout
    assert ("environment  DATABASE_URL=sqlite:////srv/vault/shared/db.sqlite, DEBUG=false, GREETING (secret), "
            "SECRET_KEY (secret)") in shown and SECRET not in shown

    mode, owner = host.run(f"stat -c '%a %U:%G' {host.path('shared/.env')}").split()
    assert (mode, owner) == ("640", f"{host.user}:vault"), "the deploy user's, read by the app user's group only"

    # Code changes, a requirements change (new venv), then a rollback: data unchanged each time.
    for version, requirements in (("2", None), ("3", "flask>=3,<4\nsix\n"), ("4", None)):
        write_app(source, version, requirements or (source / "requirements.txt").read_text())
        outputs.append(fab(inventories, "-H", host.alias, "deploy", env=secret_env))
        assert get(host.address, port, "/") == (200, f"version {version}")
        assert get(host.address, port, "/data") == (200, expected)
    outputs.append(fab(inventories, "-H", host.alias, "rollback", env=secret_env))
    assert get(host.address, port, "/") == (200, "version 3")
    assert digests() == kept, "the shared files are the ones written before the deploys"
    assert host.run(f"od -An -c {host.path('shared/uploads/avatar.png')}").split() == \
        ["211", "P", "N", "G", "f", "a", "k", "e"]

    # keep_releases = 2: two releases are left (the live one and the one before it),
    # and only the venvs they link to.
    releases = host.listdir("releases")
    assert len(releases) == 2, releases
    live = host.live_release()
    assert live in releases
    linked = {host.run(f"readlink {host.path(f'releases/{r}/venv')}").strip().rsplit("/", 1)[-1]
              for r in releases}
    assert set(host.listdir("venvs")) == linked
    assert any("removed" in o.stdout and "venv:" in o.stdout for o in outputs), "a venv was pruned"

    # The secret never shows: not in any output, not in the deploy log, not in logs on the host.
    for result in outputs:
        assert SECRET not in result.stdout + result.stderr
    for deploy in outputs[:-1]:
        assert "SECRET_KEY" in deploy.stdout, "the names of the variables are shown"
    found = host.run(f"grep -rlF {SECRET} {host.path('.deploy')} {host.path('shared/log')} || true")
    assert found.strip() == "", found
    assert host.run(f"find {host.path('.deploy')} {host.path('shared/log')} -type f | wc -l").strip() != "0"
    log = [json.loads(line) for line in host.read(".deploy/log.jsonl").splitlines()]
    assert [e["result"] for e in log] == ["ok"] * 5 and log[-1]["action"] == "rollback"


def test_hooks_limited_to_a_role_run_only_on_hosts_with_that_role(
        nginx_target, write_inventory, tmp_path):  # noqa: F811
    port = 8081
    host = nginx_target.with_app("roles")
    source = tmp_path / "app"
    write_app(source, "1")
    hooks = {"before_switch": [
        {"run": "echo migrated >> ../../shared/migrations.log", "roles": ["migrate"]},
        "echo every-host > hook-all.txt",
    ]}

    inventories = inventory(write_inventory, host, source, listen=port, extra={"hooks": hooks},
                            host={"roles": ["web"]})
    out = fab(inventories, "-H", host.alias, "deploy").stdout
    assert "1 before_switch hook(s) ok" in out
    assert not host.exists("shared/migrations.log")
    assert host.read("current/hook-all.txt") == "every-host\n"

    inventories = inventory(write_inventory, host, source, listen=port, extra={"hooks": hooks},
                            host={"roles": ["web", "migrate"]})
    out = fab(inventories, "-H", host.alias, "deploy").stdout
    assert "2 before_switch hook(s) ok" in out
    assert host.read("shared/migrations.log") == "migrated\n"
