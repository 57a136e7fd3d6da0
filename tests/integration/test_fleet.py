"""Fleets: hosts deployed side by side with one release id, rolling batches that stop and roll
back, a build failure that switches no host, the no-op redeploy, the JSON document and exit codes.

Every host is a booted Debian 12 server (tests/servers: systemd, Debian's own nginx with its default
site, real OpenSSH, a ``deploy`` user with sudo): three of them, booted in parallel once for the module.
Each test deploys an app of its own (its own name, root ``/srv/<name>`` and port, the same on every
host, as on a real fleet) and stops it afterwards; what it checks on a host (releases, locks, logs,
processes) it reads on that server. Under ``CI=true`` a machine that cannot boot servers fails these
tests (never a skip).
"""
from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import booted, server_lab  # noqa: F401  (fixtures)
from tests.servers.lab import ServerLab

from .booted_fleet import app_info, deploy_log, releases, running, stop_apps
from .fabcli import EXAMPLE, PROJECT, fab
from .helpers import copy_app

# On a host marked unhealthy, a release answers once (its check: the new instance asked on its own socket,
# before the switch), then fails every request: its go-live fails after the switch, through nginx.
UNHEALTHY_WHEN_MARKED = """
_MARK = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))), "unhealthy")
_ANSWERED = "/tmp/answered-" + RELEASE


@app.before_request
def refuse_on_marked_hosts():
    if os.path.exists(_MARK):
        if os.path.exists(_ANSWERED):
            raise RuntimeError("this host is marked unhealthy")
        open(_ANSWERED, "w").close()
"""

SERVERS = ("web1", "web2", "web3")
_APPS = itertools.count(1)  # each test deploys an app of its own: fleet<N> on port 8300 + N


@pytest.fixture(scope="module")
def servers(server_lab: ServerLab) -> list[DeployTarget]:  # noqa: F811
    """Three servers over Debian's nginx layer, booted in parallel once for the module."""
    return booted(server_lab, SERVERS, front="nginx")


class Fleet:
    """One test's app on the module's servers: the hosts (their app root is the app's), its port, and
    the stage ``fleet`` written for them."""

    def __init__(self, servers: list[DeployTarget], write_inventory: Callable[..., Path]) -> None:
        n = next(_APPS)
        self.hosts = [server.with_app(f"fleet{n}") for server in servers]
        self.port = 8300 + n
        self._write_inventory = write_inventory
        self.inventories: Path | None = None  # the last written

    def use(self, *aliases: str) -> list[DeployTarget]:
        """The hosts under other inventory aliases (an alias is the inventory's name for a server)."""
        self.hosts = [replace(host, alias=alias) for host, alias in zip(self.hosts, aliases, strict=False)]
        return self.hosts

    def inventory(self, hosts: list[DeployTarget], source: Path, app: dict[str, Any] | None = None,
                  host_extra: dict[str, dict[str, Any]] | None = None, extra: dict[str, Any] | None = None) -> Path:
        """A stage ``fleet`` deploying ``source`` to ``hosts``: the same app root and port on each."""
        tables = {}
        for host in hosts:
            table = host.host_table()
            table.update((host_extra or {}).get(host.alias, {}))
            tables[host.alias] = table
        self.inventories = self._write_inventory(
            "fleet", hosts[0].app_table(source, **{"listen": self.port, **(app or {})}), tables,
            nginx=hosts[0].front_table(), extra=extra)
        return self.inventories

    def info(self, host: DeployTarget) -> dict[str, Any]:
        return app_info(host, self.port)

    def version_on(self, host: DeployTarget) -> str:
        return self.info(host)["version"]


@pytest.fixture
def fleet(servers: list[DeployTarget], write_inventory) -> Iterator[Fleet]:
    """This test's app root and port on every server; its app servers are stopped after the test."""
    made = Fleet(servers, write_inventory)
    yield made
    if made.inventories is not None:  # a plain inventory of every host: the test's last may be broken
        stop_apps(made.inventory(made.hosts, EXAMPLE), "fleet")


def read_doc(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def step_lines(stdout: str, step: str) -> list[int]:
    """Indexes of the lines reporting ``step`` as finished (ok or FAILED), any host."""
    pattern = re.compile(rf"^\[[^\]]+\] {step} +(ok|FAILED) ")
    return [i for i, line in enumerate(stdout.splitlines()) if pattern.match(line)]


def test_a_parallel_deploy_gives_three_hosts_one_release_and_a_json_record(fleet: Fleet, tmp_path):
    hosts = fleet.hosts
    source = copy_app(EXAMPLE, tmp_path / "hello", version="5.0.0")
    inventories = fleet.inventory(hosts, source)
    doc_path = tmp_path / "artifacts" / "deploy.json"

    result = fab(inventories, "fleet", "deploy", "--parallel", str(len(hosts)), "--json-file", str(doc_path))

    doc = read_doc(doc_path)
    assert doc["result"] == "ok" and doc["exit_code"] == 0 and doc["action"] == "deploy"
    release = doc["release"]
    assert re.fullmatch(r"\d{8}T\d{6}Z", release)
    for host in hosts:
        info = fleet.info(host)
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


def test_an_unchanged_redeploy_is_a_no_op_and_force_deploys_anyway(fleet: Fleet, tmp_path):
    hosts = fleet.hosts[:2]
    source = copy_app(EXAMPLE, tmp_path / "hello", version="6.0.0")
    inventories = fleet.inventory(hosts, source)
    fab(inventories, "fleet", "deploy")
    live = {h.alias: fleet.info(h)["release"] for h in hosts}

    again = fab(inventories, "fleet", "deploy", "--json")
    doc = json.loads(again.stdout)
    assert doc["result"] == "noop" and doc["exit_code"] == 0
    assert {alias: entry["result"] for alias, entry in doc["hosts"].items()} == {"web1": "noop", "web2": "noop"}
    assert "nothing to deploy" in again.stderr and "upload" not in again.stderr
    assert {h.alias: fleet.info(h)["release"] for h in hosts} == live
    assert all(len(releases(h)) == 1 for h in hosts)

    # A changed setting is not a no-op: one host's worker count changes, only it deploys.
    changed = fleet.inventory(hosts, source, host_extra={"web2": {"vars": {"workers": 3}}})
    doc = json.loads(fab(changed, "fleet", "deploy", "--json").stdout)
    assert (doc["hosts"]["web1"]["result"], doc["hosts"]["web2"]["result"]) == ("noop", "ok")
    assert fleet.info(hosts[1])["release"] == doc["release"] != live["web2"]

    forced = json.loads(fab(changed, "fleet", "deploy", "--force", "--json").stdout)
    assert forced["result"] == "ok" and all(e["result"] == "ok" for e in forced["hosts"].values())
    assert all(fleet.info(h)["release"] == forced["release"] for h in hosts)


def test_a_rolling_deploy_stops_at_the_failed_batch_and_rolls_back(fleet: Fleet, tmp_path):
    hosts = fleet.hosts
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    fab(fleet.inventory(hosts, v1), "fleet", "deploy")
    before = {h.alias: fleet.info(h)["release"] for h in hosts}
    releases_before = {h.alias: releases(h) for h in hosts}
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")
    (v2 / "app.py").write_text((v2 / "app.py").read_text().replace(
        'if __name__ == "__main__":', UNHEALTHY_WHEN_MARKED + '\n\nif __name__ == "__main__":'))
    hosts[1].write("unhealthy", "v2 fails here\n")  # v1 ignores it
    doc_path = tmp_path / "rolling.json"

    result = fab(fleet.inventory(hosts, v2, app={"health": {"path": "/", "timeout": 3}}),
                 "fleet", "deploy", "--batch-size", "1", "--json-file", str(doc_path), expect=5)

    out = result.stdout
    assert "batch 1/3: web1" in out and "batch 2/3: web2" in out and "batch 3/3" not in out
    assert "rollout stopped: web3 keep their live release" in out
    assert "rolling back the hosts switched in this run: web1" in out
    for host in hosts:
        assert fleet.info(host)["release"] == before[host.alias], host.alias
        assert fleet.version_on(host) == "1.0.0"
    doc = read_doc(doc_path)
    assert doc["result"] == "rolled_back" and doc["exit_code"] == 5
    assert {a: e["result"] for a, e in doc["hosts"].items()} == {
        "web1": "rolled_back", "web2": "rolled_back", "web3": "not_switched"}
    # Under systemd the new release's instance passed its check on its own socket (in the build), then failed
    # through nginx after the switch; the restored release starts again in the other instance and passes.
    web2_checks = [(s["name"], s["result"]) for s in doc["hosts"]["web2"]["steps"]
                   if s["name"] in ("check", "reload", "health")]
    assert web2_checks == [("check", "ok"), ("reload", "ok"), ("health", "failed"), ("reload", "ok"),
                           ("health", "ok")], web2_checks
    assert doc["hosts"]["web2"]["health"]["result"] == "ok", "the last check: the release live now"
    assert releases(hosts[2]) == releases_before["web3"], "the unswitched host keeps no new release"
    for host in hosts:
        assert not host.exists(".deploy/lock")
    assert deploy_log(hosts[0])[-1]["result"] == "rolled_back"

    # Without the rollback of the others, the first batch keeps the new release.
    result = fab(fleet.inventory(hosts, v2, app={"health": {"path": "/", "timeout": 3}}),
                 "fleet", "deploy", "--batch-size", "1", "--no-rollback-on-failure", expect=5)
    assert "--no-rollback-on-failure: web1 stay on the new release" in result.stdout
    assert tuple(fleet.version_on(h) for h in hosts) == ("2.0.0", "1.0.0", "1.0.0")


def test_a_build_failure_on_one_host_switches_no_host(fleet: Fleet, tmp_path):
    hosts = fleet.hosts
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    fab(fleet.inventory(hosts, v1), "fleet", "deploy")
    releases_before = {h.alias: releases(h) for h in hosts}
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")
    hooks = {"hooks": {"before_switch": [{"run": "echo the canary check fails >&2; exit 1", "roles": ["canary"]}]}}

    result = fab(fleet.inventory(hosts, v2, host_extra={"web3": {"roles": ["canary"]}}, extra=hooks),
                 "fleet", "deploy", "--json", expect=1)

    assert "the canary check fails" in result.stderr
    assert "no host was switched" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["result"] == "failed" and doc["exit_code"] == 1
    assert doc["hosts"]["web3"]["result"] == "failed"
    assert {doc["hosts"]["web1"]["result"], doc["hosts"]["web2"]["result"]} == {"not_switched"}
    for host in hosts:
        assert fleet.version_on(host) == "1.0.0"
        assert releases(host) == releases_before[host.alias], "every new release was removed"
        # web1 and web2 (no hook) started v2's instance in their check: stopped with the release
        name = Path(host.app_root).name
        active = host.run(f"systemctl is-active wsgideploy-{name}@a.service wsgideploy-{name}@b.service",
                          check=False).split()
        assert active.count("active") == 1, (host.alias, active)


def test_exit_codes_and_documents_for_a_held_lock_a_bad_inventory_and_an_unreachable_host(fleet: Fleet, tmp_path):
    hosts = fleet.hosts[:2]
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    inventories = fleet.inventory(hosts, v1)
    fab(inventories, "fleet", "deploy")
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")

    # A lock held on one host: exit 3, nothing changes on either host.
    lock = ".deploy/lock"
    hosts[1].run_as_deploy(f"mkdir {hosts[1].path(lock)}")
    hosts[1].write(f"{lock}/owner.json", json.dumps({"user": "alice", "from": "laptop", "since": "2026-11-21T09:00:00Z",
                                                     "action": "deploy", "release": "x", "pid": 1, "token": "t"}))
    result = fab(fleet.inventory(hosts, v2), "fleet", "deploy", "--json", expect=3)
    doc = json.loads(result.stdout)
    assert (doc["result"], doc["exit_code"]) == ("locked", 3)
    assert "alice@laptop" in doc["hosts"]["web2"]["error"]
    assert all(fleet.version_on(h) == "1.0.0" for h in hosts)
    assert not hosts[0].exists(lock), "the lock taken on web1 is released"
    hosts[1].run_as_deploy(f"rm {hosts[1].path(lock)}/owner.json && rmdir {hosts[1].path(lock)}")

    # An invalid inventory: exit 2 and a document naming the file and key, before any connection.
    bad = fleet.inventory(hosts, v2, app={"listen": "eighty"})
    result = fab(bad, "fleet", "deploy", "--json", expect=2)
    doc = json.loads(result.stdout)
    assert (doc["result"], doc["exit_code"], doc["hosts"]) == ("invalid", 2, {})
    assert "fleet.toml" in doc["error"] and "app.listen" in doc["error"]

    # An unreachable host: exit 4, and the reachable host is not changed either.
    unreachable = fleet.inventory(hosts, v2, host_extra={"web2": {"port": 1}})
    result = fab(unreachable, "fleet", "deploy", "--json", expect=4)
    doc = json.loads(result.stdout)
    assert (doc["result"], doc["exit_code"]) == ("unreachable", 4)
    assert doc["hosts"]["web2"]["result"] == "unreachable"
    assert all(fleet.version_on(h) == "1.0.0" for h in hosts)


def test_roles_limit_a_run_and_a_once_hook_runs_on_exactly_one_host(fleet: Fleet, tmp_path):
    hosts = fleet.use("web1", "web2", "worker1")  # the third server is the worker
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    roles = {"web1": {"roles": ["web", "migrate"]}, "web2": {"roles": ["web", "migrate"]},
             "worker1": {"roles": ["worker"]}}
    migrate = {"hooks": {"before_switch": [
        {"run": "echo \"$(hostname) $PWD\" >> ../../migrations.log", "roles": ["migrate"], "once": True}]}}
    inventories = fleet.inventory(hosts, v1, host_extra=roles, extra=migrate)

    result = fab(inventories, "fleet", "deploy", "--roles", "web")
    assert "[worker1]" not in result.stdout
    assert fleet.version_on(hosts[0]) == fleet.version_on(hosts[1]) == "1.0.0"
    assert not hosts[2].exists("releases"), "a host without the role is not touched"
    ran = [h.alias for h in hosts if h.exists("migrations.log")]
    assert ran == ["web1"], "the once hook ran on exactly one host: the first with its role"

    fab(inventories, "fleet", "deploy", "--roles", "worker")
    assert fleet.version_on(hosts[2]) == "1.0.0"
    assert not hosts[2].exists("migrations.log")
    assert len(hosts[0].read("migrations.log").splitlines()) == 1

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


def test_sigterm_during_a_fleet_build_leaves_every_host_as_it_was(fleet: Fleet, tmp_path):
    hosts = fleet.hosts[:2]
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    fab(fleet.inventory(hosts, v1), "fleet", "deploy")
    live = {h.alias: fleet.info(h)["release"] for h in hosts}
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")
    inventories = fleet.inventory(hosts, v2, extra={"hooks": {"before_switch": ["sleep 30"]}})
    doc_path = tmp_path / "interrupted.json"
    env = {**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventories)}
    deploy = subprocess.Popen(["fab", "fleet", "deploy", "--json-file", str(doc_path)], cwd=PROJECT, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while not all(running(h, "sleep 30") for h in hosts):  # the hook, on each server
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
        assert not host.exists(".deploy/lock"), out
        assert releases(host) == [live[host.alias]], out
        assert fleet.info(host)["release"] == live[host.alias]
        assert not running(host, "sleep 30"), "the interrupted hook was stopped"
        assert deploy_log(host)[-1]["result"] == "interrupted"
    doc = read_doc(doc_path)
    assert (doc["result"], doc["exit_code"]) == ("interrupted", 130)
