"""``fab plan`` over real SSH: it shows what a deploy would do, and changes nothing on the host.

The tests run on a booted Debian 12 server (tests/servers: systemd, Debian's stock nginx with its default
site under /etc/nginx, real OpenSSH), booted once for the module; each test plans its own app (its own
name, root under /srv and port).

"Nothing" is checked file by file on the server: every path under the app root and /etc/nginx, with its
type, mode, owner, size, mtime and content hash (or link target), before and after.
"""
from __future__ import annotations

import json
import shlex
import time

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from .booted_deploy import info, inventory
from .fabcli import EXAMPLE, fab
from .helpers import copy_app
from .stock import get

NGINX_DIR = "/etc/nginx"


def snapshot(target: DeployTarget, *roots: str) -> dict[str, tuple[str, ...]]:
    """Every path under ``roots`` on the server (the roots included): what it is and what it holds."""
    script = "\n".join(
        f"if [ -e {r} ] || [ -L {r} ]; then find {r} -printf 'meta\\t%p\\t%y\\t%m\\t%U\\t%G\\t%s\\t%T@\\t%l\\n'"
        f" && find {r} -type f -exec sha256sum {{}} + | sed 's/^/hash\\t/'; else printf 'meta\\t%s\\tabsent\\n' {r}; fi"
        for r in map(shlex.quote, roots))
    found: dict[str, tuple[str, ...]] = {}
    for line in target.run(script).splitlines():
        kind, rest = line.split("\t", 1)
        if kind == "meta":
            path, *what = rest.split("\t")
            found[path] = (*found.get(path, ()), *what)
        else:
            digest, path = rest.split("  ", 1)
            found[path] = (*found[path], digest)
    return found


def host_files(target: DeployTarget, *more: str) -> dict[str, tuple[str, ...]]:
    return snapshot(target, target.app_root, NGINX_DIR, *more)


def assert_unchanged(before: dict[str, tuple[str, ...]], after: dict[str, tuple[str, ...]]) -> None:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    assert (added, removed, changed) == ([], [], []), "plan changed the host"


def test_plan_on_a_fresh_host_plans_a_build_and_creates_nothing(
        nginx_target, write_inventory, tmp_path):  # noqa: F811
    # The app root does not exist yet; its parent is the deploy user's, so a deploy could create it.
    nginx_target.run(f"install -d -o {nginx_target.user} -g {nginx_target.user} /srv/plans")
    host = nginx_target.with_app("plans/fresh", create=False)
    name, alias = "fresh", host.alias
    source = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    inventories = inventory(write_inventory, host, source, listen=8080, vars={"workers": 2})
    before = host_files(host, "/srv/plans")
    assert before[host.app_root] == ("absent",)

    missing = fab(inventories, "-H", alias, "plan").stdout
    assert (f"[{alias}] a deploy now would fail: the app runs as the user fresh, which does not exist on this "
            "host (run `wsgideploy setup` for this host)") in missing.splitlines(), missing
    host.add_app_user("fresh")  # what setup makes
    out = fab(inventories, "-H", alias, "plan").stdout

    assert_unchanged(before, host_files(host, "/srv/plans"))
    assert not host.exists(host.app_root), "plan must not even create the app root"
    lines = out.splitlines()
    assert any(line.startswith(f"[{alias}] plan ") and " ok " in line for line in lines), out
    assert "(live: none)" in out and "nothing is live yet" in out
    assert f"[{alias}] note         {host.app_root} does not exist yet: a deploy creates it" in lines
    assert any(line.startswith(f"[{alias}] venv         build py") and
               line.endswith("(pip install -r requirements.txt gunicorn)") for line in lines), out
    assert any(line.startswith(f"[{alias}] config       gunicorn.conf.py: new file (") for line in lines), out
    site = f"{NGINX_DIR}/sites-available/{name}"
    assert any(line.startswith(f"[{alias}] config       nginx.conf (live: {site}): new file (")
               for line in lines), out
    # under systemd the app's unit is planned too (compared with /etc/systemd/system/wsgideploy-<app>@.service)
    assert any(line.startswith(f"[{alias}] config       wsgideploy-{name}@.service: new file (") for line in lines), out
    assert f"[{alias}] lock         free" in lines and "a deploy now would fail" not in out
    assert f"[{alias}] no-op        no: nothing is live yet, a new venv, configs:" in out


def test_plan_after_a_deploy_shows_config_diffs_and_venv_changes_and_changes_nothing(
        nginx_target, write_inventory, tmp_path):  # noqa: F811
    port = 8081
    host = nginx_target.with_app("planned")
    alias = host.alias
    source = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    inventories = inventory(write_inventory, host, source, listen=port, vars={"workers": 2})
    fab(inventories, "-H", alias, "deploy")
    live = info(host, port)["release"]
    toml = inventories / "test.toml"

    # The same source and settings: a deploy would change nothing but the release id.
    before = host_files(host)
    out = fab(inventories, "-H", alias, "plan").stdout
    assert_unchanged(before, host_files(host))
    lines = out.splitlines()
    assert f"(live: {live})" in out and "unchanged: the live release has this source" in out
    assert any(line.startswith(f"[{alias}] venv         reuse py") for line in lines), out
    assert f"[{alias}] config       gunicorn.conf.py: only the release id changes" in lines
    assert any(line.startswith(f"[{alias}] no-op        yes") for line in lines), out

    # A [vars] change: gunicorn.conf.py differs, the venv is reused.
    toml.write_text(toml.read_text().replace("workers = 2", "workers = 3"))
    before = host_files(host)
    out = fab(inventories, "-H", alias, "plan").stdout
    assert_unchanged(before, host_files(host))
    lines = out.splitlines()
    assert f"[{alias}] config       gunicorn.conf.py: changed" in lines
    assert f"[{alias}]   --- live/gunicorn.conf.py" in lines and f"[{alias}]   +++ new/gunicorn.conf.py" in lines
    assert f"[{alias}]   -workers = 2" in lines and f"[{alias}]   +workers = 3" in lines
    assert any(line.startswith(f"[{alias}] venv         reuse py") for line in lines), out
    assert f"[{alias}] config       wsgideploy_entry.py: only the release id changes" in lines
    assert f"[{alias}] no-op        no: configs: gunicorn.conf.py" in lines, out

    # A requirements change and another deploy holding the lock: a new venv, and the lock's holder.
    with open(source / "requirements.txt", "a") as fh:
        fh.write("six\n")
    host.run_as_deploy(f"mkdir {host.path('.deploy/lock')}")
    host.write(".deploy/lock/owner.json", json.dumps({
        "user": "ann", "from": "laptop", "since": "2026-11-21T10:00:00Z", "action": "deploy",
        "release": "20261121T100000Z", "pid": 42}) + "\n")
    before = host_files(host)
    out = fab(inventories, "-H", alias, "plan").stdout
    assert_unchanged(before, host_files(host))
    lines = out.splitlines()
    assert any(line.startswith(f"[{alias}] venv         build py") for line in lines), out
    assert "changed (live: " in out
    assert (f"[{alias}] a deploy now would fail: lock held by ann@laptop since 2026-11-21T10:00:00Z "
            "(deploy of 20261121T100000Z, pid 42)") in lines
    assert f"[{alias}] no-op        no: the source changed, a new venv, configs: gunicorn.conf.py" in lines, out

    # The live release still serves, as it did.
    status, body = get(host.address, port, "/")
    assert status == 200 and "version 1.0.0" in body
    assert info(host, port)["release"] == live
    assert host.listdir("releases") == [live]


SSH_BACK_AFTER = 10  # seconds: the server's own systemd starts sshd again (this machine gets in only by ssh)


def test_plan_of_an_unreachable_host_exits_4(nginx_target, write_inventory, tmp_path):  # noqa: F811
    host = nginx_target.with_app("unreachable")
    source = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    inventories = inventory(write_inventory, host, source, listen=8082)
    # sshd stops; a transient timer of the server's systemd starts it again.
    host.run(f"systemd-run --collect --unit=ssh-back --on-active={SSH_BACK_AFTER} systemctl start ssh.service"
             " && systemctl stop ssh.service")
    stopped = time.monotonic()
    try:
        result = fab(inventories, "-H", host.alias, "plan", expect=None)
        print(f"plan gave up {time.monotonic() - stopped:.1f} s after sshd stopped")
        assert time.monotonic() - stopped < SSH_BACK_AFTER, "sshd came back before plan gave up: no result"
        assert result.returncode == 4, result.stdout + result.stderr
        assert f"failed on {host.alias}" in result.stderr
    finally:
        host.server.wait_ssh(timeout=SSH_BACK_AFTER + 60)
        print(f"sshd answers again {time.monotonic() - stopped:.1f} s after it stopped")
    assert host.run("systemctl is-active ssh.service").strip() == "active"
