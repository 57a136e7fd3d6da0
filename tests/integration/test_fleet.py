"""Fleets: hosts deployed side by side with one release id, rolling batches that stop and roll
back, a build failure that switches no host, the no-op redeploy, the JSON document and exit codes.

Every host is a real sshd + nginx + gunicorn on loopback (see conftest.py).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from tests.hosts.processes import descendants, proc_info

from .fabcli import EXAMPLE, PROJECT, app_info, fab, hello_app_table
from .helpers import TestHost, copy_app

UNHEALTHY_WHEN_MARKED = '''
_MARK = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))), "unhealthy")


@app.before_request
def refuse_on_marked_hosts():
    if os.path.exists(_MARK):
        raise RuntimeError("this host is marked unhealthy")
'''


def inventory_for(write_inventory: Callable[..., Path], hosts: list[TestHost], source: Path,
                  app: dict[str, Any] | None = None, host_extra: dict[str, dict[str, Any]] | None = None,
                  extra: dict[str, Any] | None = None) -> Path:
    """A stage ``fleet`` deploying ``source`` to ``hosts``.

    The simulated hosts share one machine, so each overrides ``root`` and ``listen`` in its own
    ``app`` table and its nginx prefix in its own ``nginx`` table (real hosts would share them).
    """
    tables = {}
    for host in hosts:
        table = host.host_table()
        table["app"] = {"root": str(host.app_root), "listen": host.http_port}
        table["nginx"] = host.nginx_table()
        table.update((host_extra or {}).get(host.alias, {}))
        tables[host.alias] = table
    return write_inventory("fleet", hello_app_table(hosts[0], source, **(app or {})), tables,
                           nginx=hosts[0].nginx_table(), extra=extra)


def releases_on(host: TestHost) -> list[str]:
    return sorted(p.name for p in (Path(host.app_root) / "releases").iterdir() if not p.name.startswith("."))


def read_doc(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def version_on(host: TestHost) -> str:
    return app_info(host.http_port)["version"]


def step_lines(stdout: str, step: str) -> list[int]:
    """Indexes of the lines reporting ``step`` as finished (ok or FAILED), any host."""
    pattern = re.compile(rf"^\[[^\]]+\] {step} +(ok|FAILED) ")
    return [i for i, line in enumerate(stdout.splitlines()) if pattern.match(line)]


def test_a_parallel_deploy_gives_five_hosts_one_release_and_a_json_record(make_host, write_inventory, tmp_path):
    hosts = [make_host(f"web{i}") for i in range(1, 6)]
    source = copy_app(EXAMPLE, tmp_path / "hello", version="5.0.0")
    inventories = inventory_for(write_inventory, hosts, source)
    doc_path = tmp_path / "artifacts" / "deploy.json"

    result = fab(inventories, "fleet", "deploy", "--parallel", "5", "--json-file", str(doc_path))

    doc = read_doc(doc_path)
    assert doc["result"] == "ok" and doc["exit_code"] == 0 and doc["action"] == "deploy"
    release = doc["release"]
    assert re.fullmatch(r"\d{8}T\d{6}Z", release)
    for host in hosts:
        info = app_info(host.http_port)
        assert (info["version"], info["release"]) == ("5.0.0", release), host.alias
        entry = doc["hosts"][host.alias]
        assert entry["result"] == "ok" and entry["release"] == release and entry["exit_code"] == 0
        names = [s["name"] for s in entry["steps"]]
        assert names[:2] == ["connect", "prepare"] and "upload" in names and names[-1] == "prune"
        assert names.index("nginx") < names.index("switch") < names.index("reload") < names.index("health")
        assert all(s["result"] == "ok" and s["seconds"] >= 0 for s in entry["steps"])
        assert entry["health"]["result"] == "ok" and "HTTP 200" in entry["health"]["detail"]
        assert 0 < entry["round_trips"] <= 12, entry["round_trips"]

    lines = result.stdout.splitlines()
    # Every line is whole: one prefix, at the start, never two hosts' text on one line.
    for line in lines:
        assert len(re.findall(r"\[web\d\]", line)) <= 1, line
        assert not re.search(r".\[web\d\] ", line), line
    # Every host was built (uploaded, venv, checked, site installed) before any host switched.
    assert max(step_lines(result.stdout, "nginx")) < min(step_lines(result.stdout, "switch"))
    # The closing summary: a row per host.
    summary = lines[[i for i, line in enumerate(lines) if line.startswith(f"deploy {release} OK")][0]:]
    for host in hosts:
        assert any(row.startswith(host.alias) and " ok " in row and release in row for row in summary), summary


def test_an_unchanged_redeploy_is_a_no_op_and_force_deploys_anyway(make_host, write_inventory, tmp_path):
    hosts = [make_host("web1"), make_host("web2")]
    source = copy_app(EXAMPLE, tmp_path / "hello", version="6.0.0")
    inventories = inventory_for(write_inventory, hosts, source)
    fab(inventories, "fleet", "deploy")
    live = {h.alias: app_info(h.http_port)["release"] for h in hosts}

    again = fab(inventories, "fleet", "deploy", "--json")
    doc = json.loads(again.stdout)
    assert doc["result"] == "noop" and doc["exit_code"] == 0
    assert {alias: entry["result"] for alias, entry in doc["hosts"].items()} == {"web1": "noop", "web2": "noop"}
    assert "nothing to deploy" in again.stderr and "upload" not in again.stderr
    assert {h.alias: app_info(h.http_port)["release"] for h in hosts} == live
    assert all(len(releases_on(h)) == 1 for h in hosts)

    # A changed setting is not a no-op: one host's worker count changes, only it deploys.
    changed = inventory_for(write_inventory, hosts, source, host_extra={"web2": {"vars": {"workers": 3}}})
    doc = json.loads(fab(changed, "fleet", "deploy", "--json").stdout)
    assert (doc["hosts"]["web1"]["result"], doc["hosts"]["web2"]["result"]) == ("noop", "ok")
    assert app_info(hosts[1].http_port)["release"] == doc["release"] != live["web2"]

    forced = json.loads(fab(changed, "fleet", "deploy", "--force", "--json").stdout)
    assert forced["result"] == "ok" and all(e["result"] == "ok" for e in forced["hosts"].values())
    assert all(app_info(h.http_port)["release"] == forced["release"] for h in hosts)


def test_a_rolling_deploy_stops_at_the_failed_batch_and_rolls_back(make_host, write_inventory, tmp_path):
    hosts = [make_host(f"web{i}") for i in range(1, 4)]
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    fab(inventory_for(write_inventory, hosts, v1), "fleet", "deploy")
    before = {h.alias: app_info(h.http_port)["release"] for h in hosts}
    releases_before = {h.alias: releases_on(h) for h in hosts}
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")
    (v2 / "app.py").write_text((v2 / "app.py").read_text().replace(
        'if __name__ == "__main__":', UNHEALTHY_WHEN_MARKED + '\n\nif __name__ == "__main__":'))
    (Path(hosts[1].app_root) / "unhealthy").write_text("v2 fails here\n")  # v1 ignores it
    doc_path = tmp_path / "rolling.json"

    result = fab(inventory_for(write_inventory, hosts, v2, app={"health": {"path": "/", "timeout": 3}}),
                 "fleet", "deploy", "--batch-size", "1", "--json-file", str(doc_path), expect=5)

    out = result.stdout
    assert "batch 1/3: web1" in out and "batch 2/3: web2" in out and "batch 3/3" not in out
    assert "rollout stopped: web3 keep their live release" in out
    assert "rolling back the hosts switched in this run: web1" in out
    for host in hosts:
        assert app_info(host.http_port)["release"] == before[host.alias], host.alias
        assert version_on(host) == "1.0.0"
    doc = read_doc(doc_path)
    assert doc["result"] == "rolled_back" and doc["exit_code"] == 5
    assert {a: e["result"] for a, e in doc["hosts"].items()} == {
        "web1": "rolled_back", "web2": "rolled_back", "web3": "not_switched"}
    web2_checks = [s["result"] for s in doc["hosts"]["web2"]["steps"] if s["name"] == "health"]
    assert web2_checks == ["failed", "ok"], "the new release failed its check; the restored one passed"
    assert doc["hosts"]["web2"]["health"]["result"] == "ok", "the last check: the release live now"
    assert releases_on(hosts[2]) == releases_before["web3"], "the unswitched host keeps no new release"
    for host in hosts:
        assert not (Path(host.app_root) / ".deploy/lock").exists()
    log = [json.loads(line) for line in (Path(hosts[0].app_root) / ".deploy/log.jsonl").read_text().splitlines()]
    assert log[-1]["result"] == "rolled_back"

    # Without the rollback of the others, the first batch keeps the new release.
    result = fab(inventory_for(write_inventory, hosts, v2, app={"health": {"path": "/", "timeout": 3}}),
                 "fleet", "deploy", "--batch-size", "1", "--no-rollback-on-failure", expect=5)
    assert "--no-rollback-on-failure: web1 stay on the new release" in result.stdout
    assert (version_on(hosts[0]), version_on(hosts[1]), version_on(hosts[2])) == ("2.0.0", "1.0.0", "1.0.0")


def test_a_build_failure_on_one_host_switches_no_host(make_host, write_inventory, tmp_path):
    hosts = [make_host("web1"), make_host("web2"), make_host("web3")]
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    fab(inventory_for(write_inventory, hosts, v1), "fleet", "deploy")
    releases_before = {h.alias: releases_on(h) for h in hosts}
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")
    hooks = {"hooks": {"before_switch": [{"run": "echo the canary check fails >&2; exit 1", "roles": ["canary"]}]}}

    result = fab(inventory_for(write_inventory, hosts, v2, host_extra={"web3": {"roles": ["canary"]}}, extra=hooks),
                 "fleet", "deploy", "--json", expect=1)

    assert "the canary check fails" in result.stderr
    assert "no host was switched" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["result"] == "failed" and doc["exit_code"] == 1
    assert doc["hosts"]["web3"]["result"] == "failed"
    assert {doc["hosts"]["web1"]["result"], doc["hosts"]["web2"]["result"]} == {"not_switched"}
    for host in hosts:
        assert version_on(host) == "1.0.0"
        assert releases_on(host) == releases_before[host.alias], "every new release was removed"


def test_exit_codes_and_documents_for_a_held_lock_a_bad_inventory_and_an_unreachable_host(
        make_host, write_inventory, tmp_path):
    hosts = [make_host("web1"), make_host("web2")]
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    inventories = inventory_for(write_inventory, hosts, v1)
    fab(inventories, "fleet", "deploy")
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")

    # A lock held on one host: exit 3, nothing changes on either host.
    lock = Path(hosts[1].app_root) / ".deploy/lock"
    lock.mkdir()
    (lock / "owner.json").write_text(json.dumps({"user": "alice", "from": "laptop", "since": "2026-11-21T09:00:00Z",
                                                 "action": "deploy", "release": "x", "pid": 1, "token": "t"}))
    result = fab(inventory_for(write_inventory, hosts, v2), "fleet", "deploy", "--json", expect=3)
    doc = json.loads(result.stdout)
    assert (doc["result"], doc["exit_code"]) == ("locked", 3)
    assert "alice@laptop" in doc["hosts"]["web2"]["error"]
    assert all(version_on(h) == "1.0.0" for h in hosts)
    assert not (Path(hosts[0].app_root) / ".deploy/lock").exists(), "the lock taken on web1 is released"
    lock.joinpath("owner.json").unlink()
    lock.rmdir()

    # An invalid inventory: exit 2 and a document naming the file and key, before any connection.
    bad = inventory_for(write_inventory, hosts, v2, app={"listen": "eighty"})
    result = fab(bad, "fleet", "deploy", "--json", expect=2)
    doc = json.loads(result.stdout)
    assert (doc["result"], doc["exit_code"], doc["hosts"]) == ("invalid", 2, {})
    assert "fleet.toml" in doc["error"] and "app.listen" in doc["error"]

    # An unreachable host: exit 4, and the reachable host is not changed either.
    unreachable = inventory_for(write_inventory, hosts, v2, host_extra={"web2": {"port": 1}})
    result = fab(unreachable, "fleet", "deploy", "--json", expect=4)
    doc = json.loads(result.stdout)
    assert (doc["result"], doc["exit_code"]) == ("unreachable", 4)
    assert doc["hosts"]["web2"]["result"] == "unreachable"
    assert all(version_on(h) == "1.0.0" for h in hosts)


def test_roles_limit_a_run_and_a_once_hook_runs_on_exactly_one_host(make_host, write_inventory, tmp_path):
    hosts = [make_host("web1"), make_host("web2"), make_host("worker1")]
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    roles = {"web1": {"roles": ["web", "migrate"]}, "web2": {"roles": ["web", "migrate"]},
             "worker1": {"roles": ["worker"]}}
    migrate = {"hooks": {"before_switch": [
        {"run": "echo \"$(hostname) $PWD\" >> ../../migrations.log", "roles": ["migrate"], "once": True}]}}
    inventories = inventory_for(write_inventory, hosts, v1, host_extra=roles, extra=migrate)

    result = fab(inventories, "fleet", "deploy", "--roles", "web")
    assert "[worker1]" not in result.stdout
    assert version_on(hosts[0]) == version_on(hosts[1]) == "1.0.0"
    assert not (Path(hosts[2].app_root) / "releases").exists(), "a host without the role is not touched"
    ran = [h.alias for h in hosts if (Path(h.app_root) / "migrations.log").exists()]
    assert ran == ["web1"], "the once hook ran on exactly one host: the first with its role"

    fab(inventories, "fleet", "deploy", "--roles", "worker")
    assert version_on(hosts[2]) == "1.0.0"
    assert not (Path(hosts[2].app_root) / "migrations.log").exists()
    assert len((Path(hosts[0].app_root) / "migrations.log").read_text().splitlines()) == 1

    unknown = fab(inventories, "fleet", "deploy", "--roles", "wbe", expect=2)
    assert "wbe" in unknown.stderr and "web" in unknown.stderr

    # Across the stage, status and releases are one table with a row per host.
    table = fab(inventories, "fleet", "status").stdout.splitlines()
    header = [i for i, line in enumerate(table) if line.startswith("host ") and "live release" in line]
    assert header, table
    rows = table[header[0] + 1:-1]  # the last line closes the run
    assert [r.split()[0] for r in rows] == ["web1", "web2", "worker1"]
    assert all("running, pid" in r and " yes" in r for r in rows), rows
    assert re.fullmatch(r"status ok: 3 hosts in \d+\.\ds", table[-1]), table
    listing = fab(inventories, "fleet", "releases").stdout.splitlines()
    start = [i for i, line in enumerate(listing) if line.startswith("host ") and "rollback to" in line][0]
    assert [r.split()[0] for r in listing[start + 1:-1]] == ["web1", "web2", "worker1"]
    assert all("deploy ok" in r for r in listing[start + 1:-1])
    assert re.fullmatch(r"releases ok: 3 hosts in \d+\.\ds", listing[-1]), listing


def remote_command_running(host: TestHost, prefix: str) -> bool:
    return any((info := proc_info(pid)) and info.cmdline.startswith(prefix) for pid in descendants(host.sshd.pid))


def test_sigterm_during_a_fleet_build_leaves_every_host_as_it_was(make_host, write_inventory, tmp_path):
    hosts = [make_host("web1"), make_host("web2")]
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    fab(inventory_for(write_inventory, hosts, v1), "fleet", "deploy")
    live = {h.alias: app_info(h.http_port)["release"] for h in hosts}
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")
    inventories = inventory_for(write_inventory, hosts, v2, extra={"hooks": {"before_switch": ["sleep 30"]}})
    doc_path = tmp_path / "interrupted.json"
    env = {**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventories)}
    deploy = subprocess.Popen(["fab", "fleet", "deploy", "--json-file", str(doc_path)], cwd=PROJECT, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while not all(remote_command_running(h, "sleep 30") for h in hosts):
            assert time.monotonic() < deadline and deploy.poll() is None, "the hooks never ran on both hosts"
            time.sleep(0.05)
        deploy.send_signal(signal.SIGTERM)
        out, _ = deploy.communicate(timeout=60)
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.wait()
    assert deploy.returncode != 0, out
    for host in hosts:
        assert not (Path(host.app_root) / ".deploy/lock").exists(), out
        assert releases_on(host) == [live[host.alias]], out
        assert app_info(host.http_port)["release"] == live[host.alias]
        assert not remote_command_running(host, "sleep 30"), "the interrupted hook was stopped"
        log = (Path(host.app_root) / ".deploy/log.jsonl").read_text().splitlines()
        assert json.loads(log[-1])["result"] == "interrupted"
    doc = read_doc(doc_path)
    assert (doc["result"], doc["exit_code"]) == ("interrupted", 130)
