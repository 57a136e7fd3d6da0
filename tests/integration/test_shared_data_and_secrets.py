"""Shared data survives every deploy, rollback and prune; secrets land 0600 and never show."""
from __future__ import annotations

import hashlib
import json
import os
import pwd
import stat
from pathlib import Path

from .fabcli import fab, hello_app_table
from .helpers import http_get

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
    return digest + " " + os.environ.get("GREETING", "")


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
        make_host, write_inventory, tmp_path):
    host = make_host("web1")
    source = tmp_path / "app"
    write_app(source, "1")
    (source / "instance").mkdir()
    (source / "instance" / "data.bin").write_bytes(b"local development data, never uploaded")
    env_file = tmp_path / "production.env"
    env_file.write_text("# from a local file\nGREETING='hello from env_file'\n")
    inventory = write_inventory("test", app=hello_app_table(
        host, source, name="vault", shared=["instance", "uploads"], keep_releases=2,
        env_file=str(env_file), env=["SECRET_KEY"]), hosts={"web1": host.host_table()}, nginx=host.nginx_table())
    secret_env = {"SECRET_KEY": SECRET}

    missing = fab(inventory, "-H", "web1", "deploy", expect=2)
    assert "SECRET_KEY" in missing.stderr and "not set" in missing.stderr
    assert not Path(host.app_root).exists(), "a missing secret stops the deploy before any connection"

    outputs = [fab(inventory, "-H", "web1", "deploy", env=secret_env)]
    shared = Path(host.app_root) / "shared"
    assert not (shared / "instance" / "data.bin").exists(), "local instance data is never uploaded"
    data = os.urandom(256 * 1024)
    (shared / "instance" / "data.bin").write_bytes(data)
    (shared / "uploads" / "avatar.png").write_bytes(b"\x89PNG fake")
    expected = hashlib.sha256(data).hexdigest()
    assert http_get(host.http_port, "/data") == (200, expected)
    assert http_get(host.http_port, "/secret") == (
        200, hashlib.sha256(SECRET.encode()).hexdigest() + " hello from env_file")

    env_path = shared / ".env"
    mode = env_path.stat()
    assert stat.S_IMODE(mode.st_mode) == 0o600
    assert pwd.getpwuid(mode.st_uid).pw_name == host.user

    # Code changes, a requirements change (new venv), then a rollback: data unchanged each time.
    for version, requirements in (("2", None), ("3", "flask>=3,<4\nsix\n"), ("4", None)):
        write_app(source, version, requirements or (source / "requirements.txt").read_text())
        outputs.append(fab(inventory, "-H", "web1", "deploy", env=secret_env))
        assert http_get(host.http_port, "/") == (200, f"version {version}")
        assert http_get(host.http_port, "/data") == (200, expected)
    outputs.append(fab(inventory, "-H", "web1", "rollback", env=secret_env))
    assert http_get(host.http_port, "/") == (200, "version 3")
    assert (shared / "instance" / "data.bin").read_bytes() == data
    assert (shared / "uploads" / "avatar.png").read_bytes() == b"\x89PNG fake"

    # keep_releases = 2: two releases are left (the live one and the one before it),
    # and only the venvs they link to.
    releases = sorted(p.name for p in (Path(host.app_root) / "releases").iterdir())
    assert len(releases) == 2, releases
    live = os.readlink(Path(host.app_root) / "current").rsplit("/", 1)[-1]
    assert live in releases
    linked = {os.readlink(Path(host.app_root) / "releases" / r / "venv").rsplit("/", 1)[-1] for r in releases}
    assert {p.name for p in (Path(host.app_root) / "venvs").iterdir()} == linked
    assert any("removed" in o.stdout and "venv:" in o.stdout for o in outputs), "a venv was pruned"

    # The secret never shows: not in any output, not in the deploy log, not in logs on the host.
    for result in outputs:
        assert SECRET not in result.stdout + result.stderr
    for deploy in outputs[:-1]:
        assert "SECRET_KEY" in deploy.stdout, "the names of the variables are shown"
    for path in [*(Path(host.app_root) / ".deploy").rglob("*"), *(shared / "log").rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    log = [json.loads(line) for line in (Path(host.app_root) / ".deploy/log.jsonl").read_text().splitlines()]
    assert [e["result"] for e in log] == ["ok"] * 5 and log[-1]["action"] == "rollback"


def test_hooks_limited_to_a_role_run_only_on_hosts_with_that_role(make_host, write_inventory, tmp_path):
    host = make_host("web1")
    source = tmp_path / "app"
    write_app(source, "1")
    hooks = {"before_switch": [
        {"run": "echo migrated >> ../../shared/migrations.log", "roles": ["migrate"]},
        "echo every-host > hook-all.txt",
    ]}
    app = hello_app_table(host, source, name="roles")

    inventory = write_inventory("test", app=app, hosts={"web1": {**host.host_table(), "roles": ["web"]}},
                                nginx=host.nginx_table(), extra={"hooks": hooks})
    out = fab(inventory, "-H", "web1", "deploy").stdout
    assert "1 before_switch hook(s) ok" in out
    root = Path(host.app_root)
    assert not (root / "shared/migrations.log").exists()
    live = root / "current"
    assert (live / "hook-all.txt").read_text() == "every-host\n"

    inventory = write_inventory("test", app=app, hosts={"web1": {**host.host_table(), "roles": ["web", "migrate"]}},
                                nginx=host.nginx_table(), extra={"hooks": hooks})
    out = fab(inventory, "-H", "web1", "deploy").stdout
    assert "2 before_switch hook(s) ok" in out
    assert (root / "shared/migrations.log").read_text() == "migrated\n"
