"""Safe deploys under injected faults: nothing broken goes live, and a rerun then succeeds.

Each fault runs while a bounded stream of requests goes through nginx, which must see
only the old version, without one failed request, for as long as the failing deploy runs.

The tests run on a booted Debian 12 server (tests/servers: systemd, Debian's own nginx with its default
site, real OpenSSH, a ``deploy`` user with sudo), booted once for the module. Each test deploys an app of
its own (its own name, root ``/srv/<name>`` and port) and stops it afterwards. What the tests look at on
the server (releases, the lock, the nginx site, the deploy log, processes) they read there as root; the
upload is cut by killing the server's own sshd processes of that connection, and the full disk is a
96 MB tmpfs mounted on the app root inside the server. Under ``CI=true`` a machine that cannot boot
servers fails them (never a skip).
"""
from __future__ import annotations

import itertools
import json
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from .booted_fleet import (
    app_info,
    deploy_log,
    releases,
    running,
    stop_apps,
    wait_running,
)
from .fabcli import EXAMPLE, PROJECT, fab
from .helpers import INDEX_ONCE, copy_app
from .load import RequestStream
from .stock import get

V1, V2 = "1.0.0", "2.0.0"
_APPS = itertools.count(1)  # each test deploys an app of its own: safe<N> on port 8200 + N


class App:
    """One test's app on the booted server: the target (its app root is the app's), port, inventories."""

    def __init__(self, target: DeployTarget, port: int, write_inventory: Callable[..., Path]) -> None:
        self.target, self.port, self._write_inventory = target, port, write_inventory
        self.name = Path(target.app_root).name
        self.inventories: Path | None = None  # the last written

    def write(self, source: Path, hooks: dict | None = None, **app) -> Path:
        extra = {"hooks": hooks} if hooks else None
        self.inventories = self._write_inventory(
            "test", app=self.target.app_table(source, listen=self.port, **app),
            hosts={self.target.alias: self.target.host_table()}, nginx=self.target.front_table(), extra=extra)
        return self.inventories

    def info(self) -> dict:
        return app_info(self.target, self.port)

    def stream(self) -> RequestStream:
        """The bounded load of these tests: 150 requests a second at most, for 120 s at most."""
        return RequestStream(self.port, address=self.target.address, threads=4, rate=150, max_requests=6000,
                             max_seconds=120)


@pytest.fixture
def app(nginx_target: DeployTarget, write_inventory) -> Iterator[App]:  # noqa: F811
    """An app root and port of this test's own on the booted server; its app server is stopped after."""
    n = next(_APPS)
    made = App(nginx_target.with_app(f"safe{n}"), 8200 + n, write_inventory)
    yield made
    if made.inventories is not None:
        stop_apps(made.inventories, "-H", made.target.alias)


@pytest.fixture
def live_v1(app: App, tmp_path):
    """The server serving the example app v1; returns (app, write(**app_overrides) -> inventories, v2 source)."""
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version=V1)
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version=V2)

    def write(source: Path = v2, hooks: dict | None = None, **overrides):
        return app.write(source, hooks=hooks, **overrides)

    fab(write(v1), "-H", app.target.alias, "deploy")
    assert app.info()["version"] == V1
    return app, write, v2


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
    "the new instance answers 500 on its own socket": dict(  # the check starts it (docs/supervision.md)
        append="\napp.view_functions['index'] = lambda: ('v2 answers 500', 500)\n",
        says=["failed its health check on its own socket", "v2 answers 500"]),
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
    app, write, v2 = live_v1
    host = app.target
    spec = FAULTS[fault]
    site = f"/etc/nginx/sites-available/{app.name}"
    site_before = host.read(site)
    releases_before = releases(host)
    app_py = (v2 / "app.py").read_text()
    if "requirements" in spec:
        with open(v2 / "requirements.txt", "a") as fh:
            fh.write(spec["requirements"])
    if "append" in spec:
        (v2 / "app.py").write_text(app_py + spec["append"])
    inventory = write(v2, hooks=spec.get("hooks"),
                      **({"templates": str(broken_nginx_templates(tmp_path))} if spec.get("templates") else {}))

    with app.stream() as stream:
        result = fab(inventory, "-H", host.alias, "deploy", expect=1)
        time.sleep(0.3)
    serving_only(stream, V1)
    output = result.stdout + result.stderr
    for text in spec["says"]:
        assert text in output, f"the error should say {text!r}:\n{output}"
    assert releases(host) == releases_before, "the failed release is removed"
    assert host.read(site) == site_before, "the live nginx site is unchanged"
    assert not host.exists(".deploy/lock"), "the lock is released"

    # Mend the fault: the same deploy now goes through.
    (v2 / "requirements.txt").write_text((EXAMPLE / "requirements.txt").read_text())
    (v2 / "app.py").write_text(app_py)
    mended_hooks = {"before_switch": ["python -c 'import flask, sys; open(\"hook-ran\", \"w\").write(sys.prefix)'"]}
    fab(write(v2, hooks=mended_hooks), "-H", host.alias, "deploy")
    info = app.info()
    assert info["version"] == V2
    hook_mark = host.read(f"releases/{info['release']}/hook-ran")
    assert hook_mark.endswith("/venv"), "hooks run with the release's venv first on PATH"


def test_a_failed_health_check_after_the_switch_rolls_back_and_marks_the_release_bad(live_v1):
    app, write, v2 = live_v1
    host = app.target
    v1_info = app.info()
    # its new instance answers the check on its own socket, then fails through nginx after the switch
    (v2 / "app.py").write_text((v2 / "app.py").read_text() + INDEX_ONCE)
    inventory = write(v2, health={"path": "/", "status": 200, "timeout": 3})

    result = fab(inventory, "-H", host.alias, "deploy", expect=5)
    assert "rolling back to " + v1_info["release"] in result.stdout
    assert "rolled back to" in result.stdout and "marked bad" in result.stdout
    after = app.info()
    assert after["release"] == v1_info["release"] and after["prefix"] == v1_info["prefix"]
    assert get(host.address, app.port, "/")[0] == 200
    bad = [r for r in releases(host) if r != v1_info["release"]]
    assert len(bad) == 1 and host.exists(f"releases/{bad[0]}/.wsgideploy-bad")
    listing = fab(inventory, "-H", host.alias, "releases").stdout
    assert "bad: rollback skips it" in listing
    assert "deploy log (last 2)" in listing and "rolled_back" in listing and bad[0] in listing

    # A good v3 goes live; a plain rollback then skips the bad release and lands on v1.
    v3 = copy_app(EXAMPLE, v2.parent / "v3", version="3.0.0")
    fab(write(v3), "-H", host.alias, "deploy")
    assert app.info()["version"] == "3.0.0"
    fab(write(v3), "-H", host.alias, "rollback")
    assert app.info()["release"] == v1_info["release"]

    log = deploy_log(host)
    assert [(e["action"], e["result"]) for e in log] == [
        ("deploy", "ok"), ("deploy", "rolled_back"), ("deploy", "ok"), ("rollback", "ok")]
    assert all(e["user"] and e["from"] and e["duration"] >= 0 and e["release"] for e in log)


def test_a_second_deploy_is_refused_while_one_runs_and_names_the_holder(live_v1):
    app, write, v2 = live_v1
    host = app.target
    inventory = write(v2, hooks={"before_switch": ["sleep 10"]})  # long enough for a second fab on a busy machine
    env = {**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventory)}
    first = subprocess.Popen(["fab", "-H", host.alias, "deploy"], cwd=PROJECT, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lock = ".deploy/lock/owner.json"
        deadline = time.monotonic() + 60
        while not host.exists(lock) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert host.exists(lock), "the first deploy never took the lock"
        second = fab(inventory, "-H", host.alias, "deploy", expect=3)
        holder = json.loads(host.read(lock))
        assert "another deploy holds the lock" in second.stdout
        assert f"{holder['user']}@{holder['from']}" in second.stdout and holder["release"] in second.stdout
        assert app.info()["version"] == V1
    finally:
        out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, out
    assert app.info()["version"] == V2


def test_a_stale_lock_is_reported_and_cleared_only_on_purpose(live_v1):
    app, write, v2 = live_v1
    host = app.target
    inventory = write(v2)
    lock = ".deploy/lock"

    def leave_lock(owner: dict) -> None:  # as a deploy by the same user that died would: the deploy user's
        host.run_as_deploy(f"mkdir {shlex.quote(host.path(lock))}")
        host.write(f"{lock}/owner.json", json.dumps(owner))

    leave_lock({"user": "alice", "from": "laptop", "since": "2026-11-20T09:00:00Z", "action": "deploy",
                "release": "20261120T090000Z", "pid": 4242, "token": "feedface"})
    result = fab(inventory, "-H", host.alias, "deploy", expect=3)
    assert "alice@laptop since 2026-11-20T09:00:00Z (deploy of 20261120T090000Z" in result.stdout
    assert host.exists(lock) and app.info()["version"] == V1
    assert "removed the lock of alice@laptop since 2026-11-20T09:00:00Z" in fab(
        inventory, "-H", host.alias, "unlock").stdout
    assert not host.exists(lock)
    leave_lock({"user": "bob", "from": "ci", "since": "x", "token": "0"})
    out = fab(inventory, "-H", host.alias, "deploy", "--force-unlock").stdout
    assert "removed a lock held by" in out and "bob" in out
    assert app.info()["version"] == V2


def kill_session_mid_upload_script(host: DeployTarget, file_name: str, min_bytes: int, timeout: int = 120) -> str:
    """A root script for the server: once the upload has written ``min_bytes`` of ``file_name`` into a partial
    release, SIGKILL every ``sshd:`` process between the unpacking ``tar -xzf`` and sshd's listener (they all
    carry that connection). Prints ``killed <pids>`` or ``missed: <why>``."""
    partial = shlex.quote(host.path("releases")) + "/.*.partial/" + shlex.quote(file_name)
    return f"""
deadline=$((SECONDS + {timeout}))
while :; do
  for f in {partial}; do
    [ -e "$f" ] && [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" -ge {min_bytes} ] && break 2
  done
  [ "$SECONDS" -lt "$deadline" ] || {{ echo "missed: no partial {file_name} of {min_bytes} bytes"; exit 0; }}
  sleep 0.01
done
tar_pid=$(pgrep -u {host.user} -f '^tar -xzf' | head -n 1)
[ -n "$tar_pid" ] || {{ echo "missed: no tar -xzf"; exit 0; }}
listener=$(systemctl show -p MainPID --value ssh)
pid=$(ps -o ppid= -p "$tar_pid" | tr -d ' ')
killed=
while [ -n "$pid" ] && [ "$pid" -gt 1 ] && [ "$pid" != "$listener" ]; do
  next=$(ps -o ppid= -p "$pid" | tr -d ' ')
  case "$(tr '\\0' ' ' < /proc/$pid/cmdline)" in sshd:*) kill -KILL "$pid" && killed="$killed $pid";; esac
  pid=$next
done
echo "killed$killed"
"""


def test_a_connection_killed_during_the_upload_changes_nothing_and_frees_the_lock(live_v1):
    app, write, v2 = live_v1
    host = app.target
    (v2 / "blob.bin").write_bytes(os.urandom(96 * 1024 * 1024))  # incompressible: a long upload
    inventory = write(v2)
    env = {**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventory)}
    watcher: dict[str, str] = {}
    watch = threading.Thread(target=lambda: watcher.update(out=host.run(
        kill_session_mid_upload_script(host, "blob.bin", min_bytes=8 * 1024 * 1024), timeout=150)))
    with app.stream() as stream:
        watch.start()
        deploy = subprocess.Popen(["fab", "-H", host.alias, "deploy"], cwd=PROJECT, env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        watch.join(160)
        out, _ = deploy.communicate(timeout=180)
        time.sleep(0.3)
    killed = watcher.get("out", "").strip()
    assert killed.startswith("killed ") and len(killed.split()) >= 2, (
        f"the upload was never caught in the middle on the server: {killed!r}\n{out}")
    assert deploy.returncode == 4, out
    assert "upload       FAILED" in out and "connection" in out.lower(), out
    serving_only(stream, V1)
    assert releases(host) == [app.info()["release"]]
    assert not host.exists(".deploy/lock"), "the lock was released after reconnecting"
    (v2 / "blob.bin").unlink()
    fab(inventory, "-H", host.alias, "deploy")
    assert app.info()["version"] == V2
    assert not [name for name in host.listdir("releases") if name.endswith(".partial")]


def test_a_full_disk_fails_the_deploy_cleanly_and_a_rerun_succeeds(app: App, tmp_path):
    host = app.target
    root = shlex.quote(host.app_root)
    host.run(f"mount -t tmpfs -o size=96m,mode=755,uid={host.user},gid={host.user} tmpfs {root}")
    try:
        v1 = copy_app(EXAMPLE, tmp_path / "v1", version=V1)
        inventory = app.write(v1)
        fab(inventory, "-H", host.alias, "deploy")
        host.run(f"dd if=/dev/zero of={root}/filler bs=1M count=200", check=False)  # fills it
        (v1 / "app.py").write_text((v1 / "app.py").read_text().replace(V1, V2))
        (v1 / "data.bin").write_bytes(os.urandom(2 * 1024 * 1024))
        with app.stream() as stream:
            result = fab(inventory, "-H", host.alias, "deploy", expect=1)
            time.sleep(0.3)
        serving_only(stream, V1)
        assert "No space left on device" in result.stdout
        assert len(releases(host)) == 1
        host.run(f"rm {root}/filler")
        fab(inventory, "-H", host.alias, "deploy")
        assert app.info()["version"] == V2
    finally:
        fab(app.write(v1), "-H", host.alias, "stop", expect=None)
        # The site goes with the tmpfs: its log directory vanishes with it, and nginx -t (so every later
        # deploy on this server) would fail to open that site's logs.
        site = shlex.quote(app.name)
        host.run(f"rm -f /etc/nginx/sites-enabled/{site} /etc/nginx/sites-available/{site} && "
                 f"systemctl reload nginx; umount -l {root}", check=False)


def test_sigterm_during_a_deploy_releases_the_lock_and_removes_the_new_release(live_v1):
    app, write, v2 = live_v1
    host = app.target
    inventory = write(v2, hooks={"before_switch": ["sleep 30"]})
    env = {**os.environ, "WSGIDEPLOY_INVENTORIES": str(inventory)}
    deploy = subprocess.Popen(["fab", "-H", host.alias, "deploy"], cwd=PROJECT, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_running(host, "sleep 30", timeout=90), "the hook never started"  # on the server
        deploy.send_signal(signal.SIGTERM)
        out, _ = deploy.communicate(timeout=60)
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.wait()
    assert deploy.returncode != 0, out
    assert not host.exists(".deploy/lock"), out
    assert releases(host) == [app.info()["release"]]
    assert deploy_log(host)[-1]["result"] == "interrupted"
    assert app.info()["version"] == V1
    assert not running(host, "sleep 30"), "the interrupted hook was stopped"


def test_deploys_back_to_back_get_release_ids_of_their_own(live_v1):
    """Deploys take under a second: five in a row start within a few seconds, and each still
    gets an id of its own (the project's last id, `wsgideploy.release_id`), none refused as already there."""
    app, write, v2 = live_v1
    host = app.target
    inventory = write(v2)
    for _ in range(5):
        fab(inventory, "-H", host.alias, "deploy", "--force")
    made = [(e["action"], e["result"], e["release"]) for e in deploy_log(host)]
    ids = [rid for _, _, rid in made]
    assert [m[:2] for m in made] == [("deploy", "ok")] * 6 and len(set(ids)) == 6 and ids == sorted(ids), made
    assert app.info()["release"] == ids[-1] and app.info()["version"] == V2


def test_a_release_id_already_on_the_host_is_refused_before_anything_changes(live_v1):
    """A deploy from elsewhere in the same second left its release under the id this run claims: the run
    stops at ``prepare`` (nothing uploaded, that release untouched, the lock given back), and a rerun,
    with the next id, goes through."""
    app, write, v2 = live_v1
    host = app.target
    inventory = write(v2)
    state = inventory.parent / ".wsgideploy"
    state.mkdir(exist_ok=True)
    (state / "last-release").write_text("20991231T235957Z\n")  # this run claims the second after it
    host.run_as_deploy(f"mkdir {shlex.quote(host.path('releases/20991231T235958Z'))}")
    host.write("releases/20991231T235958Z/theirs", "made by another run")
    before = releases(host)

    result = fab(inventory, "-H", host.alias, "deploy", expect=1)
    assert "release 20991231T235958Z is already on this host" in result.stdout, result.stdout
    assert "run the deploy again" in result.stdout, result.stdout
    assert "upload" not in result.stdout, "refused before the upload"
    assert host.read("releases/20991231T235958Z/theirs") == "made by another run"
    assert releases(host) == before and app.info()["version"] == V1
    assert not host.exists(".deploy/lock"), "the lock is released"

    fab(inventory, "-H", host.alias, "deploy")
    assert app.info()["version"] == V2 and app.info()["release"] == "20991231T235959Z"
