"""Safe deploys under injected faults: nothing broken goes live, and a rerun then succeeds.

Each fault runs while a bounded stream of requests goes through nginx, which must see
only the old version, without one failed request, for as long as the failing deploy runs.
"""
from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.hosts.processes import descendants, proc_info

from .fabcli import EXAMPLE, PROJECT, app_info, fab, hello_app_table
from .helpers import copy_app, http_get
from .load import RequestStream

V1, V2 = "1.0.0", "2.0.0"


@pytest.fixture
def live_v1(make_host, write_inventory, tmp_path):
    """A host serving the example app v1; returns (host, write(**app_overrides) -> inventories, v2 source)."""
    host = make_host("web1")
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version=V1)
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version=V2)

    def write(source: Path = v2, hooks: dict | None = None, **app):
        extra = {"hooks": hooks} if hooks else None
        return write_inventory("test", app=hello_app_table(host, source, **app),
                               hosts={"web1": host.host_table()}, nginx=host.nginx_table(), extra=extra)

    fab(write(v1), "-H", "web1", "deploy")
    assert app_info(host.http_port)["version"] == V1
    return host, write, v2


def releases_on(host) -> list[str]:
    return sorted(p.name for p in (Path(host.app_root) / "releases").iterdir())


def serving_only(stream: RequestStream, version: str) -> None:
    """Every request of the stream succeeded and came from ``version``."""
    stream.stop()
    assert stream.count >= 20, f"the load was too thin to show anything ({stream.count} requests)"
    assert not stream.failures, f"{len(stream.failures)} of {stream.count} requests failed:\n{stream.report(stream.failures)}"
    wrong = [r for r in stream.results if f"version {version}" not in r.detail]
    assert not wrong, f"{len(wrong)} responses were not version {version}:\n{stream.report(wrong)}"


def broken_nginx_templates(tmp_path: Path) -> Path:
    templates = tmp_path / "templates"
    templates.mkdir()
    site = (PROJECT / "templates" / "nginx.site.conf.j2").read_text()
    anchor = "client_max_body_size {{ vars.client_max_body_size }};"
    assert anchor in site, "the fault must land in the template"
    (templates / "nginx.site.conf.j2").write_text(site.replace(anchor, anchor + "\n    this_is_not_a_directive on;"))
    return templates


# Each fault: how to break v2 (source and inventory), what the error must say, how to mend it.
FAULTS = {
    "pip cannot install a requirement": dict(
        requirements="wsgideploy-no-such-package-4f2a==1.0\n", says=["pip install failed", "wsgideploy-no-such-package-4f2a"]),
    "the app does not import": dict(
        append="\nimport module_that_is_not_there\n", says=["does not load", "module_that_is_not_there"]),
    "an unguarded app.run()": dict(
        append="\napp.run(port=5000)\n", says=["unguarded app.run()", "app.py:", "app.run(port=5000)"]),
    "a before_switch hook fails": dict(
        hooks={"before_switch": ["python -c 'import sys; print(\"migration exploded\"); sys.exit(3)'"]},
        says=["hook failed", "migration exploded"]),
    "a broken nginx template": dict(
        templates=True, says=["unknown directive", "this_is_not_a_directive", "previous config was put back"]),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_failure_before_the_switch_leaves_the_old_release_serving_and_a_rerun_succeeds(live_v1, tmp_path, fault):
    host, write, v2 = live_v1
    spec = FAULTS[fault]
    site = Path(host.nginx.sites_available) / "hello"
    site_before = site.read_text()
    releases_before = releases_on(host)
    app_py = (v2 / "app.py").read_text()
    if "requirements" in spec:
        with open(v2 / "requirements.txt", "a") as fh:
            fh.write(spec["requirements"])
    if "append" in spec:
        (v2 / "app.py").write_text(app_py + spec["append"])
    inventory = write(v2, hooks=spec.get("hooks"),
                      **({"templates": str(broken_nginx_templates(tmp_path))} if spec.get("templates") else {}))

    with RequestStream(host.http_port, threads=4, rate=150, max_requests=6000, max_seconds=120) as stream:
        result = fab(inventory, "-H", "web1", "deploy", expect=1)
        time.sleep(0.3)
    serving_only(stream, V1)
    output = result.stdout + result.stderr
    for text in spec["says"]:
        assert text in output, f"the error should say {text!r}:\n{output}"
    assert releases_on(host) == releases_before, "the failed release is removed"
    assert site.read_text() == site_before, "the live nginx site is unchanged"
    assert not (Path(host.app_root) / ".deploy/lock").exists(), "the lock is released"

    # Mend the fault: the same deploy now goes through.
    (v2 / "requirements.txt").write_text((EXAMPLE / "requirements.txt").read_text())
    (v2 / "app.py").write_text(app_py)
    mended_hooks = {"before_switch": ["python -c 'import flask, sys; open(\"hook-ran\", \"w\").write(sys.prefix)'"]}
    fab(write(v2, hooks=mended_hooks), "-H", "web1", "deploy")
    info = app_info(host.http_port)
    assert info["version"] == V2
    hook_mark = Path(host.app_root) / "releases" / info["release"] / "hook-ran"
    assert hook_mark.read_text().endswith("/venv"), "hooks run with the release's venv first on PATH"


def test_a_failed_health_check_after_the_switch_rolls_back_and_marks_the_release_bad(live_v1):
    host, write, v2 = live_v1
    v1_info = app_info(host.http_port)
    (v2 / "app.py").write_text((v2 / "app.py").read_text().replace(
        'def index():\n', 'def index():\n    raise RuntimeError("v2 cannot render its index")\n'))
    inventory = write(v2, health={"path": "/", "status": 200, "timeout": 3})

    result = fab(inventory, "-H", "web1", "deploy", expect=5)
    assert "rolling back to " + v1_info["release"] in result.stdout
    assert "rolled back to" in result.stdout and "marked bad" in result.stdout
    after = app_info(host.http_port)
    assert after["release"] == v1_info["release"] and after["prefix"] == v1_info["prefix"]
    assert http_get(host.http_port, "/")[0] == 200
    bad = [r for r in releases_on(host) if r != v1_info["release"]]
    assert len(bad) == 1 and (Path(host.app_root) / "releases" / bad[0] / ".wsgideploy-bad").exists()
    listing = fab(inventory, "-H", "web1", "releases").stdout
    assert "bad: rollback skips it" in listing
    assert "deploy log (last 2)" in listing and "rolled_back" in listing and bad[0] in listing

    # A good v3 goes live; a plain rollback then skips the bad release and lands on v1.
    v3 = copy_app(EXAMPLE, v2.parent / "v3", version="3.0.0")
    fab(write(v3), "-H", "web1", "deploy")
    assert app_info(host.http_port)["version"] == "3.0.0"
    fab(write(v3), "-H", "web1", "rollback")
    assert app_info(host.http_port)["release"] == v1_info["release"]

    log = [json.loads(line) for line in (Path(host.app_root) / ".deploy/log.jsonl").read_text().splitlines()]
    assert [(e["action"], e["result"]) for e in log] == [
        ("deploy", "ok"), ("deploy", "rolled_back"), ("deploy", "ok"), ("rollback", "ok")]
    assert all(e["user"] and e["from"] and e["duration"] >= 0 and e["release"] for e in log)


def test_a_second_deploy_is_refused_while_one_runs_and_names_the_holder(live_v1):
    host, write, v2 = live_v1
    inventory = write(v2, hooks={"before_switch": ["sleep 4"]})
    env = {**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventory)}
    first = subprocess.Popen(["fab", "-H", "web1", "deploy"], cwd=PROJECT, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lock = Path(host.app_root) / ".deploy/lock/owner.json"
        deadline = time.monotonic() + 60
        while not lock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock.exists(), "the first deploy never took the lock"
        second = fab(inventory, "-H", "web1", "deploy", expect=3)
        holder = json.loads(lock.read_text())
        assert "another deploy holds the lock" in second.stdout
        assert f"{holder['user']}@{holder['from']}" in second.stdout and holder["release"] in second.stdout
        assert app_info(host.http_port)["version"] == V1
    finally:
        out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, out
    assert app_info(host.http_port)["version"] == V2


def test_a_stale_lock_is_reported_and_cleared_only_on_purpose(live_v1):
    host, write, v2 = live_v1
    inventory = write(v2)
    lock = Path(host.app_root) / ".deploy/lock"
    user = pwd.getpwnam(host.user)

    def leave_lock(owner: dict) -> None:  # as a deploy by the same user that died would
        lock.mkdir()
        (lock / "owner.json").write_text(json.dumps(owner))
        for path in (lock, lock / "owner.json"):
            os.chown(path, user.pw_uid, user.pw_gid)

    leave_lock({"user": "alice", "from": "laptop", "since": "2026-11-20T09:00:00Z", "action": "deploy",
                "release": "20261120T090000Z", "pid": 4242, "token": "feedface"})
    result = fab(inventory, "-H", "web1", "deploy", expect=3)
    assert "alice@laptop since 2026-11-20T09:00:00Z (deploy of 20261120T090000Z" in result.stdout
    assert lock.exists() and app_info(host.http_port)["version"] == V1
    assert "removed the lock of alice@laptop since 2026-11-20T09:00:00Z" in fab(inventory, "-H", "web1", "unlock").stdout
    assert not lock.exists()
    leave_lock({"user": "bob", "from": "ci", "since": "x", "token": "0"})
    out = fab(inventory, "-H", "web1", "deploy", "--force-unlock").stdout
    assert "removed a lock held by" in out and "bob" in out
    assert app_info(host.http_port)["version"] == V2


def _wait_for_remote(host, command_part: str, timeout: float = 120):
    """The first process under the host's sshd whose command line has ``command_part``, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in descendants(host.sshd.pid):
            info = proc_info(pid)
            if info and info.cmdline.startswith(command_part):
                return info
        time.sleep(0.01)
    return None


def _kill_session_mid_upload(host, file_name: str, min_bytes: int) -> bool:
    """SIGKILL the per-connection sshd process once the upload has written ``min_bytes`` of ``file_name``."""
    releases = Path(host.app_root) / "releases"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        partial = [p for p in releases.glob(f".*.partial/{file_name}") if p.stat().st_size >= min_bytes] \
            if releases.is_dir() else []
        if partial:
            break
        time.sleep(0.002)
    else:
        return False
    info = _wait_for_remote(host, "tar -xzf", timeout=5)
    if info is None:
        return False
    # every sshd process between the tar and the listener carries this connection
    pid = info.ppid
    while pid and pid != host.sshd.pid and (parent := proc_info(pid)):
        if parent.cmdline.startswith("sshd:"):
            os.kill(pid, signal.SIGKILL)
        pid = parent.ppid
    return True


def test_a_connection_killed_during_the_upload_changes_nothing_and_frees_the_lock(live_v1):
    host, write, v2 = live_v1
    (v2 / "blob.bin").write_bytes(os.urandom(96 * 1024 * 1024))  # incompressible: a long upload
    inventory = write(v2)
    env = {**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventory)}
    with RequestStream(host.http_port, threads=4, rate=150, max_requests=6000, max_seconds=120) as stream:
        deploy = subprocess.Popen(["fab", "-H", "web1", "deploy"], cwd=PROJECT, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        killed = _kill_session_mid_upload(host, "blob.bin", min_bytes=8 * 1024 * 1024)
        out, _ = deploy.communicate(timeout=180)
        time.sleep(0.3)
    assert killed, "the upload was never caught in the middle on the host"
    assert deploy.returncode == 4, out
    assert "upload       FAILED" in out and "connection" in out.lower(), out
    serving_only(stream, V1)
    assert releases_on(host) == [app_info(host.http_port)["release"]]
    assert not (Path(host.app_root) / ".deploy/lock").exists(), "the lock was released after reconnecting"
    (v2 / "blob.bin").unlink()
    fab(inventory, "-H", "web1", "deploy")
    assert app_info(host.http_port)["version"] == V2
    assert not [p for p in (Path(host.app_root) / "releases").iterdir() if p.name.endswith(".partial")]


def test_a_full_disk_fails_the_deploy_cleanly_and_a_rerun_succeeds(make_host, write_inventory, tmp_path):
    host = make_host("web1")
    user = pwd.getpwnam(host.user)
    Path(host.app_root).mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=96m,mode=755,uid={user.pw_uid},gid={user.pw_gid}",
                    "tmpfs", str(host.app_root)], check=True)
    try:
        v1 = copy_app(EXAMPLE, tmp_path / "v1", version=V1)
        inventory = write_inventory("test", app=hello_app_table(host, v1), hosts={"web1": host.host_table()},
                                    nginx=host.nginx_table())
        fab(inventory, "-H", "web1", "deploy")
        filler = Path(host.app_root) / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=200"], capture_output=True)
        (v1 / "app.py").write_text((v1 / "app.py").read_text().replace(V1, V2))
        (v1 / "data.bin").write_bytes(os.urandom(2 * 1024 * 1024))
        with RequestStream(host.http_port, threads=4, rate=150, max_requests=6000, max_seconds=120) as stream:
            result = fab(inventory, "-H", "web1", "deploy", expect=1)
            time.sleep(0.3)
        serving_only(stream, V1)
        assert "No space left on device" in result.stdout
        assert len(releases_on(host)) == 1
        filler.unlink()
        fab(inventory, "-H", "web1", "deploy")
        assert app_info(host.http_port)["version"] == V2
    finally:
        fab(inventory, "-H", "web1", "stop", expect=None)
        subprocess.run(["umount", "-l", str(host.app_root)], check=False)


def test_sigterm_during_a_deploy_releases_the_lock_and_removes_the_new_release(live_v1):
    host, write, v2 = live_v1
    inventory = write(v2, hooks={"before_switch": ["sleep 30"]})
    env = {**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventory)}
    deploy = subprocess.Popen(["fab", "-H", "web1", "deploy"], cwd=PROJECT, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert _wait_for_remote(host, "sleep 30", timeout=90), "the hook never started"  # starts with it
    deploy.send_signal(signal.SIGTERM)
    out, _ = deploy.communicate(timeout=60)
    assert deploy.returncode != 0, out
    assert not (Path(host.app_root) / ".deploy/lock").exists(), out
    assert releases_on(host) == [app_info(host.http_port)["release"]]
    log = (Path(host.app_root) / ".deploy/log.jsonl").read_text().splitlines()
    assert json.loads(log[-1])["result"] == "interrupted"
    assert app_info(host.http_port)["version"] == V1
