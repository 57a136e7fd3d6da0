"""gunicorn behind Debian's stock nginx on booted Debian 12 servers (tests/servers), over real ssh:
deploy, upgrade, rollback, server control.

The module boots two servers in parallel (``web1``, ``web2``: systemd, Debian's nginx with its default
site, a ``deploy`` user with sudo); each test deploys its own app (its own name, root under /srv and
port), and only the stage test uses both. Every check is a real HTTP request through the server's nginx;
files, pidfiles and processes are looked at on the server.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import booted, server_lab  # noqa: F401  (fixtures)
from tests.servers.lab import ServerLab

from .booted_deploy import info, inventory
from .fabcli import APPS, EXAMPLE, PROJECT, fab
from .helpers import copy_app
from .stock import get


@pytest.fixture(scope="module")
def servers(server_lab: ServerLab) -> list[DeployTarget]:  # noqa: F811
    """``web1`` and ``web2``, booted in parallel over Debian's stock nginx."""
    return booted(server_lab, ["web1", "web2"], front="nginx")


@pytest.fixture(scope="module")
def web1(servers: list[DeployTarget]) -> DeployTarget:
    return servers[0]


def hello(target: DeployTarget, write_inventory, tmp_path: Path, name: str,
          port: int, **app_keys: Any) -> tuple[DeployTarget, Path, Path]:
    """The example app, version 1.0.0, as the app ``name`` on ``port`` of ``target``: (the target with
    that app's root, inventories, source)."""
    app = target.with_app(name)
    source = copy_app(EXAMPLE, tmp_path / name, version="1.0.0")
    return app, inventory(write_inventory, app, source, listen=port, vars={"workers": 2}, **app_keys), source


def add_dependency_route(source: Path) -> None:
    """v2 of the example imports a package v1 does not have."""
    with open(source / "app.py", "a") as fh:
        fh.write("\n\n@app.get('/dep')\ndef dep():\n    import six\n    return 'six ' + six.__version__\n")


def test_deploy_upgrade_and_rollback_serve_the_right_code_and_venv(web1, write_inventory, tmp_path):
    port = 8080
    host, inventories, v1 = hello(web1, write_inventory, tmp_path, "hello", port)

    out = fab(inventories, "-H", host.alias, "deploy").stdout
    assert "health" in out and "ok" in out
    status, body = get(host.address, port, "/")
    assert status == 200 and "version 1.0.0" in body
    first = info(host, port)

    status, css = get(host.address, port, "/static/style.css")
    assert status == 200 and "wsgideploy hello static" in css
    access_log = host.read("shared/log/gunicorn.access.log")
    assert "/static/style.css" not in access_log, "nginx must serve static files itself"

    v2 = copy_app(EXAMPLE, tmp_path / "hello-v2", version="2.0.0", extra_requirements=["six"])
    add_dependency_route(v2)
    toml = inventories / "test.toml"
    toml.write_text(toml.read_text().replace(str(v1), str(v2)))
    fab(inventories, "-H", host.alias, "deploy")
    status, body = get(host.address, port, "/")
    assert status == 200 and "version 2.0.0" in body
    status, body = get(host.address, port, "/dep")
    assert status == 200 and body.startswith("six "), "the new dependency must be importable"
    second = info(host, port)
    assert second["prefix"] != first["prefix"], "a requirements change must run in a new venv"
    assert second["release"] != first["release"]

    releases = fab(inventories, "-H", host.alias, "releases").stdout
    assert f"* {second['release']}" in releases and f"  {first['release']}" in releases

    fab(inventories, "-H", host.alias, "rollback")
    status, body = get(host.address, port, "/")
    assert status == 200 and "version 1.0.0" in body
    back = info(host, port)
    assert back["prefix"] == first["prefix"] and back["release"] == first["release"]
    assert get(host.address, port, "/dep")[0] == 404

    fab(inventories, "-H", host.alias, "rollback", "--to", second["release"])
    assert "version 2.0.0" in get(host.address, port, "/")[1]
    assert info(host, port)["prefix"] == second["prefix"]


def test_code_only_deploy_reuses_the_venv(web1, write_inventory, tmp_path):
    port = 8081
    host, inventories, v1 = hello(web1, write_inventory, tmp_path, "reuse", port)
    fab(inventories, "-H", host.alias, "deploy")
    first = info(host, port)
    (v1 / "app.py").write_text((v1 / "app.py").read_text().replace('"1.0.0"', '"1.0.1"'))
    out = fab(inventories, "-H", host.alias, "deploy").stdout
    assert "reused" in out
    second = info(host, port)
    assert second["version"] == "1.0.1" and second["prefix"] == first["prefix"]
    # each deploy's prune kept the unpacked pip the venv puts on its path: pip still runs from it
    pip = host.run_as_deploy(f"{second['prefix']}/bin/python -m pip --version")
    assert f"{host.app_root}/.deploy/pip/pip-" in pip, pip


def test_start_stop_restart_and_status_act_through_systemd(web1, write_inventory, tmp_path):
    """Under systemd (the default where it is PID 1): each command goes through the app's units."""
    port = 8084
    host, inventories, _ = hello(web1, write_inventory, tmp_path, "units", port)
    fab(inventories, "-H", host.alias, "deploy")

    def live() -> tuple[str, str]:
        for slot in "ab":
            unit = f"wsgideploy-units@{slot}.service"
            if host.run(f"systemctl is-active {unit} || true").strip() == "active":
                return unit, host.run(f"systemctl show -p MainPID --value {unit}").strip()
        return "", ""

    unit, pid = live()
    out = fab(inventories, "-H", host.alias, "status").stdout
    assert f"running, pid {pid}" in out and f"unit {unit} active/running, enabled, 0 restarts, as units" in out, out
    assert host.run(f"systemctl is-enabled {unit}").strip() == "enabled", "started at boot"

    fab(inventories, "-H", host.alias, "stop")
    assert live() == ("", "") and get(host.address, port, "/")[0] == 502
    assert "enabled" not in host.run("systemctl is-enabled wsgideploy-units@a.service wsgideploy-units@b.service "
                                     "|| true"), "a stopped app stays stopped after a reboot"
    assert "stopped" in fab(inventories, "-H", host.alias, "status").stdout

    fab(inventories, "-H", host.alias, "start")
    started = live()
    assert started[0] and get(host.address, port, "/")[0] == 200
    fab(inventories, "-H", host.alias, "restart")
    restarted = live()
    assert restarted[0] != started[0], "a restart starts the other instance, then stops this one"
    assert get(host.address, port, "/")[0] == 200
    assert "already running" in fab(inventories, "-H", host.alias, "start").stdout


def test_start_stop_restart_and_status_act_through_the_pidfile(web1, write_inventory, tmp_path):
    """With ``supervisor = "none"`` (a host without systemd): wsgideploy's own pidfile control."""
    port = 8082
    host, inventories, _ = hello(web1, write_inventory, tmp_path, "control", port, supervisor="none")
    fab(inventories, "-H", host.alias, "deploy")
    pidfile = "shared/run/gunicorn.pid"

    out = fab(inventories, "-H", host.alias, "status").stdout
    pid = host.read(pidfile).strip()
    assert f"running, pid {pid}" in out and "app answers  yes" in out
    assert host.pid_alive(pid), "the pid status prints is the server's gunicorn"
    release = info(host, port)["release"]
    assert f"live release {release}" in out

    fab(inventories, "-H", host.alias, "stop")
    assert not host.exists(pidfile)
    assert not host.pid_alive(pid)
    assert get(host.address, port, "/")[0] == 502
    out = fab(inventories, "-H", host.alias, "status").stdout
    assert "stopped" in out and "app answers  no" in out

    fab(inventories, "-H", host.alias, "start")
    assert get(host.address, port, "/")[0] == 200
    started = host.read(pidfile).strip()

    fab(inventories, "-H", host.alias, "restart")
    restarted = host.read(pidfile).strip()
    assert restarted != started and get(host.address, port, "/")[0] == 200
    fab(inventories, "-H", host.alias, "reload")
    assert host.read(pidfile).strip() != restarted and get(host.address, port, "/")[0] == 200

    # A stale pidfile (the process is gone) does not stop a start.
    fab(inventories, "-H", host.alias, "stop")
    assert not host.pid_alive(4194300)
    host.write(pidfile, "4194300\n")
    out = fab(inventories, "-H", host.alias, "start").stdout
    assert "started" in out and get(host.address, port, "/")[0] == 200


def test_stage_task_and_env_select_every_host_of_a_stage(servers, write_inventory, tmp_path):
    port = 8083
    web1, web2 = (server.with_app("stage") for server in servers)
    source = copy_app(EXAMPLE, tmp_path / "hello", version="3.1.4")
    # Two hosts share one [app] (same root and port on each server); each is in its own stage file,
    # and each is selected below by its stage.
    inventories = inventory(write_inventory, web1, source, stage="blue", listen=port)
    inventory(write_inventory, web2, source, stage="green", listen=port)
    out = fab(inventories, "blue", "deploy").stdout
    assert "[web1]" in out and "[web2]" not in out
    assert "3.1.4" in get(web1.address, port, "/")[1]
    assert not web2.exists("current"), "the blue stage must not touch web2"
    env_run = subprocess.run(["fab", "deploy"], cwd=PROJECT, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventories),
                                  "FABRIC_DEPLOY_STAGE": "green"}, stdin=subprocess.DEVNULL, check=False)
    assert env_run.returncode == 0, env_run.stdout + env_run.stderr
    assert "[web2]" in env_run.stdout and "[web1]" not in env_run.stdout
    assert "3.1.4" in get(web2.address, port, "/")[1]
    fab(inventories, "-H", "web1,web2", "status")


def test_factory_app_with_a_package_static_folder(web1, write_inventory, tmp_path):
    port = 8084
    host = web1.with_app("shop")
    source = copy_app(APPS / "factory_shop", tmp_path / "shop")
    inventories = inventory(write_inventory, host, source, stage="shop", wsgi="shop:create_app()", listen=port,
                            server_name="shop.test", health={"path": "/health"})
    out = fab(inventories, "-H", host.alias, "deploy").stdout
    # its factory makes its instance folder in the release: as its own user, which only reads the release,
    # its new instance could not; the check (as the deploy user) made it, the instance then started
    assert "WARNING: it started as shop only after the check had loaded it as deploy" in out, out
    assert get(host.address, port, "/", host="shop.test") == (200, "factory shop version 1.0.0")
    status, logo = get(host.address, port, "/static/logo.txt", host="shop.test")
    assert status == 200 and "factory-shop-static-asset" in logo


def test_pyproject_package_keeps_instance_data_across_deploys(web1, write_inventory, tmp_path):
    port = 8085
    host = web1.with_app("notes")
    source = copy_app(APPS / "notes_pkg", tmp_path / "notes")
    inventories = inventory(write_inventory, host, source, stage="notes", wsgi="notes:create_app()", listen=port,
                            shared=["instance"])
    fab(inventories, "-H", host.alias, "deploy")
    assert get(host.address, port, "/")[1] == "notes version 0.3.0: 0 notes"
    assert get(host.address, port, "/add", method="POST") == (200, "added")
    (source / "notes/__init__.py").write_text(
        (source / "notes/__init__.py").read_text().replace('"0.3.0"', '"0.4.0"'))
    redeploy = fab(inventories, "-H", host.alias, "deploy").stdout
    [venv] = [line for line in redeploy.splitlines() if "] venv " in line and " ok " in line]
    assert "reused" in venv and "the app's package installed into the release" in venv, \
        "a code change of a pyproject-only package reuses its venv (the package goes into the release)"
    assert get(host.address, port, "/")[1] == "notes version 0.4.0: 1 notes"
    assert host.run(f"test -f {host.path('shared/instance/notes.sqlite')} && echo file").strip() == "file"
    assert get(host.address, port, "/static/notes.css")[1].startswith("/* notes static */")


def test_an_app_that_does_not_import_never_goes_live(web1, write_inventory, tmp_path):
    port = 8086
    host, inventories, v1 = hello(web1, write_inventory, tmp_path, "broken", port)
    fab(inventories, "-H", host.alias, "deploy")
    live = info(host, port)["release"]
    (v1 / "app.py").write_text((v1 / "app.py").read_text() + "\nimport no_such_module_here\n")
    result = fab(inventories, "-H", host.alias, "deploy", expect=1)
    assert "no_such_module_here" in result.stdout + result.stderr
    assert "does not load" in result.stdout
    assert info(host, port)["release"] == live
    assert host.listdir("releases") == [live], "a release that never went live is removed"


def test_unknown_alias_is_a_clear_error_before_any_connection(web1, write_inventory, tmp_path):
    _, inventories, _ = hello(web1, write_inventory, tmp_path, "unknown", 8087)
    result = fab(inventories, "-H", "web9", "deploy", expect=2)
    assert "unknown host 'web9'" in result.stderr and "web1" in result.stderr
