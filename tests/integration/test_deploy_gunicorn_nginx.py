"""gunicorn behind nginx over real SSH: deploy, upgrade, rollback, server control.

Every check is a real HTTP request through the test host's own nginx.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .fabcli import app_info
from .helpers import copy_app, http_get

from .fabcli import APPS, EXAMPLE, PROJECT, fab


def info(port: int) -> dict[str, str]:
    return app_info(port)


@pytest.fixture
def hello(make_host, write_inventory, tmp_path):
    """The example app, version 1.0.0, and a host to deploy it to."""
    host = make_host("web1")
    source = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    inventories = write_inventory(
        "test",
        app={"name": "hello", "source": str(source), "wsgi": "app:app", "root": host.app_root,
             "server_name": "localhost", "listen": host.http_port, "listen_address": "127.0.0.1"},
        hosts={"web1": host.host_table()}, nginx=host.nginx_table(), vars={"workers": 2})
    return host, inventories, source


def add_dependency_route(source: Path) -> None:
    """v2 of the example imports a package v1 does not have."""
    with open(source / "app.py", "a") as fh:
        fh.write("\n\n@app.get('/dep')\ndef dep():\n    import six\n    return 'six ' + six.__version__\n")


def test_deploy_upgrade_and_rollback_serve_the_right_code_and_venv(hello, tmp_path):
    host, inventories, v1 = hello

    out = fab(inventories, "-H", "web1", "deploy").stdout
    assert "health" in out and "ok" in out
    status, body = http_get(host.http_port, "/")
    assert status == 200 and "version 1.0.0" in body
    first = info(host.http_port)

    status, css = http_get(host.http_port, "/static/style.css")
    assert status == 200 and "wsgideploy hello static" in css
    access_log = Path(host.app_root) / "shared/log/gunicorn.access.log"
    assert "/static/style.css" not in access_log.read_text(), "nginx must serve static files itself"

    v2 = copy_app(EXAMPLE, tmp_path / "hello-v2", version="2.0.0", extra_requirements=["six"])
    add_dependency_route(v2)
    inventory = inventories / "test.toml"
    inventory.write_text(inventory.read_text().replace(str(v1), str(v2)))
    fab(inventories, "-H", "web1", "deploy")
    status, body = http_get(host.http_port, "/")
    assert status == 200 and "version 2.0.0" in body
    status, body = http_get(host.http_port, "/dep")
    assert status == 200 and body.startswith("six "), "the new dependency must be importable"
    second = info(host.http_port)
    assert second["prefix"] != first["prefix"], "a requirements change must run in a new venv"
    assert second["release"] != first["release"]

    releases = fab(inventories, "-H", "web1", "releases").stdout
    assert f"* {second['release']}" in releases and f"  {first['release']}" in releases

    fab(inventories, "-H", "web1", "rollback")
    status, body = http_get(host.http_port, "/")
    assert status == 200 and "version 1.0.0" in body
    back = info(host.http_port)
    assert back["prefix"] == first["prefix"] and back["release"] == first["release"]
    assert http_get(host.http_port, "/dep")[0] == 404

    fab(inventories, "-H", "web1", "rollback", "--to", second["release"])
    assert "version 2.0.0" in http_get(host.http_port, "/")[1]
    assert info(host.http_port)["prefix"] == second["prefix"]


def test_code_only_deploy_reuses_the_venv(hello, tmp_path):
    host, inventories, v1 = hello
    fab(inventories, "-H", "web1", "deploy")
    first = info(host.http_port)
    (v1 / "app.py").write_text((v1 / "app.py").read_text().replace('"1.0.0"', '"1.0.1"'))
    out = fab(inventories, "-H", "web1", "deploy").stdout
    assert "reused" in out
    second = info(host.http_port)
    assert second["version"] == "1.0.1" and second["prefix"] == first["prefix"]


def test_start_stop_restart_and_status_act_through_the_pidfile(hello):
    host, inventories, _ = hello
    fab(inventories, "-H", "web1", "deploy")
    pidfile = Path(host.app_root) / "shared/run/gunicorn.pid"

    out = fab(inventories, "-H", "web1", "status").stdout
    pid = pidfile.read_text().strip()
    assert f"running, pid {pid}" in out and "app answers  yes" in out
    release = info(host.http_port)["release"]
    assert f"live release {release}" in out

    fab(inventories, "-H", "web1", "stop")
    assert not pidfile.exists()
    assert http_get(host.http_port, "/")[0] == 502
    out = fab(inventories, "-H", "web1", "status").stdout
    assert "stopped" in out and "app answers  no" in out

    fab(inventories, "-H", "web1", "start")
    assert http_get(host.http_port, "/")[0] == 200
    started = pidfile.read_text().strip()

    fab(inventories, "-H", "web1", "restart")
    restarted = pidfile.read_text().strip()
    assert restarted != started and http_get(host.http_port, "/")[0] == 200
    fab(inventories, "-H", "web1", "reload")
    assert pidfile.read_text().strip() != restarted and http_get(host.http_port, "/")[0] == 200

    # A stale pidfile (the process is gone) does not stop a start.
    fab(inventories, "-H", "web1", "stop")
    pidfile.write_text("4194300\n")
    out = fab(inventories, "-H", "web1", "start").stdout
    assert "started" in out and http_get(host.http_port, "/")[0] == 200


def test_stage_task_and_env_select_every_host_of_a_stage(make_host, write_inventory, tmp_path):
    web1, web2 = make_host("web1"), make_host("web2")
    source = copy_app(EXAMPLE, tmp_path / "hello", version="3.1.4")
    app = {"name": "hello", "source": str(source), "wsgi": "app:app", "server_name": "localhost",
           "root": web1.app_root, "listen": web1.http_port, "listen_address": "127.0.0.1"}
    # Two hosts share one [app]; each test host has its own root and port, so
    # give each its own stage file and select them together by stage below.
    inventories = write_inventory("blue", app=app, hosts={"web1": web1.host_table()},
                                  nginx=web1.nginx_table())
    write_inventory("green", app={**app, "root": web2.app_root, "listen": web2.http_port},
                    hosts={"web2": web2.host_table()}, nginx=web2.nginx_table())
    out = fab(inventories, "blue", "deploy").stdout
    assert "[web1]" in out and "[web2]" not in out
    assert "3.1.4" in http_get(web1.http_port, "/")[1]
    env_run = subprocess.run(["fab", "deploy"], cwd=PROJECT, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventories),
                                  "FABRIC_DEPLOY_STAGE": "green"}, stdin=subprocess.DEVNULL)
    assert env_run.returncode == 0, env_run.stdout + env_run.stderr
    assert "[web2]" in env_run.stdout and "[web1]" not in env_run.stdout
    assert "3.1.4" in http_get(web2.http_port, "/")[1]
    fab(inventories, "-H", "web1,web2", "status")


def test_factory_app_with_a_package_static_folder(make_host, write_inventory, tmp_path):
    host = make_host("shop1")
    source = copy_app(APPS / "factory_shop", tmp_path / "shop")
    inventories = write_inventory(
        "shop", app={"name": "shop", "source": str(source), "wsgi": "shop:create_app()",
                     "root": host.app_root, "listen": host.http_port, "server_name": "shop.test",
                     "health": {"path": "/health"}},
        hosts={"shop1": host.host_table()}, nginx=host.nginx_table())
    fab(inventories, "-H", "shop1", "deploy")
    assert http_get(host.http_port, "/", host="shop.test") == (200, "factory shop version 1.0.0")
    status, logo = http_get(host.http_port, "/static/logo.txt", host="shop.test")
    assert status == 200 and "factory-shop-static-asset" in logo


def test_pyproject_package_keeps_instance_data_across_deploys(make_host, write_inventory, tmp_path):
    host = make_host("notes1")
    source = copy_app(APPS / "notes_pkg", tmp_path / "notes")
    inventories = write_inventory(
        "notes", app={"name": "notes", "source": str(source), "wsgi": "notes:create_app()",
                      "root": host.app_root, "listen": host.http_port, "shared": ["instance"]},
        hosts={"notes1": host.host_table()}, nginx=host.nginx_table())
    fab(inventories, "-H", "notes1", "deploy")
    assert http_get(host.http_port, "/")[1] == "notes version 0.3.0: 0 notes"
    import urllib.request
    request = urllib.request.Request(f"http://127.0.0.1:{host.http_port}/add", method="POST",
                                     headers={"Host": "localhost"})
    assert urllib.request.urlopen(request, timeout=10).read() == b"added"
    (source / "notes/__init__.py").write_text(
        (source / "notes/__init__.py").read_text().replace('"0.3.0"', '"0.4.0"'))
    fab(inventories, "-H", "notes1", "deploy")
    assert http_get(host.http_port, "/")[1] == "notes version 0.4.0: 1 notes"
    assert (Path(host.app_root) / "shared/instance/notes.sqlite").is_file()
    assert http_get(host.http_port, "/static/notes.css")[1].startswith("/* notes static */")


def test_an_app_that_does_not_import_never_goes_live(hello, tmp_path):
    host, inventories, v1 = hello
    fab(inventories, "-H", "web1", "deploy")
    live = info(host.http_port)["release"]
    (v1 / "app.py").write_text((v1 / "app.py").read_text() + "\nimport no_such_module_here\n")
    result = fab(inventories, "-H", "web1", "deploy", expect=1)
    assert "no_such_module_here" in result.stdout + result.stderr
    assert "does not load" in result.stdout
    assert info(host.http_port)["release"] == live
    releases = sorted(p.name for p in (Path(host.app_root) / "releases").iterdir())
    assert releases == [live], "a release that never went live is removed"


def test_unknown_alias_is_a_clear_error_before_any_connection(hello):
    _, inventories, _ = hello
    result = fab(inventories, "-H", "web9", "deploy", expect=2)
    assert "unknown host 'web9'" in result.stderr and "web1" in result.stderr
