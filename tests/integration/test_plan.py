"""``fab plan`` over real SSH: it shows what a deploy would do, and changes nothing on the host.

"Nothing" is checked file by file: every path under the app root and the nginx prefix, with
its type, mode, owner, size, mtime and content hash (or link target), before and after.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from .fabcli import EXAMPLE, app_info, fab
from .helpers import TestHost, copy_app, http_get


def snapshot(*roots: Path) -> dict[str, tuple[object, ...]]:
    """Every path under ``roots`` (the roots included): what it is and what it holds."""
    found: dict[str, tuple[object, ...]] = {}
    for root in roots:
        if not root.exists() and not root.is_symlink():
            found[str(root)] = ("absent",)
            continue
        paths = [root, *root.rglob("*")]
        for path in paths:
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                what: object = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                what = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                what = ("dir" if stat.S_ISDIR(st.st_mode) else "other",)
            found[str(path)] = (what, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns)
    return found


def host_files(host: TestHost) -> dict[str, tuple[object, ...]]:
    return snapshot(Path(host.app_root), host.nginx_prefix)


def assert_unchanged(before: dict[str, tuple[object, ...]], after: dict[str, tuple[object, ...]]) -> None:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    assert (added, removed, changed) == ([], [], []), "plan changed the host"


def make_inventory(host: TestHost, write_inventory, source: Path, workers: int = 2) -> Path:
    return write_inventory(
        "test",
        app={"name": "hello", "source": str(source), "wsgi": "app:app", "root": host.app_root,
             "server_name": "localhost", "listen": host.http_port, "listen_address": "127.0.0.1"},
        hosts={"web1": host.host_table()}, nginx=host.nginx_table(), vars={"workers": workers})


def test_plan_on_a_fresh_host_plans_a_build_and_creates_nothing(make_host, write_inventory, tmp_path):
    host = make_host("web1")
    source = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    inventories = make_inventory(host, write_inventory, source)
    before = host_files(host)
    assert before[str(host.app_root)] == ("absent",)

    out = fab(inventories, "-H", "web1", "plan").stdout

    assert_unchanged(before, host_files(host))
    assert not Path(host.app_root).exists(), "plan must not even create the app root"
    lines = out.splitlines()
    assert any(line.startswith("[web1] plan ") and " ok " in line for line in lines), out
    assert "(live: none)" in out and "nothing is live yet" in out
    assert f"[web1] note         {host.app_root} does not exist yet: a deploy creates it" in lines
    assert any(line.startswith("[web1] venv         build py") and
               line.endswith("(pip install -r requirements.txt gunicorn)") for line in lines), out
    assert any(line.startswith("[web1] config       gunicorn.conf.py: new file (") for line in lines), out
    site = host.nginx.sites_available / "hello"
    assert any(line.startswith(f"[web1] config       nginx.conf (live: {site}): new file (") for line in lines), out
    assert "[web1] lock         free" in lines and "a deploy now would fail" not in out
    assert "[web1] no-op        no: nothing is live yet, a new venv, configs:" in out


def test_plan_after_a_deploy_shows_config_diffs_and_venv_changes_and_changes_nothing(
        make_host, write_inventory, tmp_path):
    host = make_host("web1")
    source = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    inventories = make_inventory(host, write_inventory, source)
    fab(inventories, "-H", "web1", "deploy")
    live = app_info(host.http_port)["release"]
    inventory = inventories / "test.toml"

    # The same source and settings: a deploy would change nothing but the release id.
    before = host_files(host)
    out = fab(inventories, "-H", "web1", "plan").stdout
    assert_unchanged(before, host_files(host))
    lines = out.splitlines()
    assert f"(live: {live})" in out and "unchanged: the live release has this source" in out
    assert any(line.startswith("[web1] venv         reuse py") for line in lines), out
    assert "[web1] config       gunicorn.conf.py: only the release id changes" in lines
    assert any(line.startswith("[web1] no-op        yes") for line in lines), out

    # A [vars] change: gunicorn.conf.py differs, the venv is reused.
    inventory.write_text(inventory.read_text().replace("workers = 2", "workers = 3"))
    before = host_files(host)
    out = fab(inventories, "-H", "web1", "plan").stdout
    assert_unchanged(before, host_files(host))
    lines = out.splitlines()
    assert "[web1] config       gunicorn.conf.py: changed" in lines
    assert "[web1]   --- live/gunicorn.conf.py" in lines and "[web1]   +++ new/gunicorn.conf.py" in lines
    assert "[web1]   -workers = 2" in lines and "[web1]   +workers = 3" in lines
    assert any(line.startswith("[web1] venv         reuse py") for line in lines), out
    assert "[web1] config       wsgideploy_entry.py: only the release id changes" in lines
    assert "[web1] no-op        no: configs: gunicorn.conf.py" in lines, out

    # A requirements change and another deploy holding the lock: a new venv, and the lock's holder.
    with open(source / "requirements.txt", "a") as fh:
        fh.write("six\n")
    lock = Path(host.app_root) / ".deploy" / "lock"
    lock.mkdir()
    (lock / "owner.json").write_text(json.dumps({"user": "ann", "from": "laptop", "since": "2026-11-21T10:00:00Z",
                                                 "action": "deploy", "release": "20261121T100000Z",
                                                 "pid": 42}) + "\n")
    before = host_files(host)
    out = fab(inventories, "-H", "web1", "plan").stdout
    assert_unchanged(before, host_files(host))
    lines = out.splitlines()
    assert any(line.startswith("[web1] venv         build py") for line in lines), out
    assert "changed (live: " in out
    assert ("[web1] a deploy now would fail: lock held by ann@laptop since 2026-11-21T10:00:00Z "
            "(deploy of 20261121T100000Z, pid 42)") in lines
    assert "[web1] no-op        no: the source changed, a new venv, configs: gunicorn.conf.py" in lines, out

    # The live release still serves, as it did.
    status, body = http_get(host.http_port, "/")
    assert status == 200 and "version 1.0.0" in body
    assert app_info(host.http_port)["release"] == live
    assert sorted(p.name for p in (Path(host.app_root) / "releases").iterdir()) == [live]


def test_plan_of_an_unreachable_host_exits_4(make_host, write_inventory, tmp_path):
    host = make_host("web1")
    source = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    inventories = make_inventory(host, write_inventory, source)
    host.sshd.stop()
    result = fab(inventories, "-H", "web1", "plan", expect=4)
    assert "failed on web1" in result.stderr
