"""Round trips of a one-host run (issue 16): a deploy is prepare, then build and go-live in one script; a
rollback is prepare and go-live. A host that nothing can send back (the only host of its run) logs the run and
gives the lock back in that script, once healthy; a failed build or go-live still finishes the usual way.

Counted in the run's JSON document (``round_trips``: the connection's scripts) and, independently, in the
server's sshd log (``Starting session:`` lines at ``LogLevel VERBOSE``). Deploys to a booted Debian 12
server (tests/servers: systemd, Debian's nginx, real OpenSSH).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from .booted_deploy import info, inventory
from .fabcli import EXAMPLE, fab
from .helpers import INDEX_ONCE, copy_app

PORT = 8190


def sessions(target: DeployTarget) -> int:
    return int(target.run("journalctl -u ssh --no-pager -o cat | grep -c 'Starting session:' || true").strip() or 0)


# LogLevel VERBOSE, then sshd reloaded: on SIGHUP it executes itself again and does not listen for a moment
# (a connection right after `systemctl reload` was refused, once in CI), so wait for its "Server listening"
# line of the new start.
SSHD_VERBOSE = r"""
listening() { journalctl -u ssh --no-pager -o cat | grep -c '^Server listening on' || true; }
before=$(listening)
sed -i 's/^#\?LogLevel .*/LogLevel VERBOSE/' /etc/ssh/sshd_config
systemctl reload ssh
for _ in $(seq 100); do [ "$(listening)" -gt "$before" ] && exit 0; sleep 0.1; done
echo "sshd did not say it listens again within 10 s of its reload" >&2
exit 1
"""


def run(inventories: Path, target: DeployTarget, task: str, tmp_path: Path, expect: int = 0) -> tuple[dict, int, str]:
    """``task`` with --json-file: (this host's JSON document, with the run's release as ``run_release``; ssh
    sessions the server saw; stdout)."""
    doc = tmp_path / f"{task}.json"
    before = sessions(target)
    done = fab(inventories, "-H", target.alias, task, "--json-file", str(doc), expect=expect)
    # less the session that counts them: `sessions` itself logs in
    whole = json.loads(doc.read_text())
    return ({**whole["hosts"][target.alias], "run_release": whole["release"]}, sessions(target) - before - 1,
            done.stdout)


def test_a_deploy_takes_2_round_trips_and_a_rollback_2_each_logged_and_unlocked(
        nginx_target, write_inventory, tmp_path):  # noqa: F811
    target = nginx_target.with_app("trips")
    target.run(SSHD_VERBOSE)
    v1 = copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0")
    first, seen, out = run(inventory(write_inventory, target, v1, listen=PORT), target, "deploy", tmp_path)
    assert info(target, PORT)["version"] == "1.0.0"
    assert (first["round_trips"], seen) == (2, 2), (first["round_trips"], seen, out)
    v2 = copy_app(EXAMPLE, tmp_path / "v2", version="2.0.0")
    # every load of v2's app says who loaded it: an instance (its slot) or a check outside one
    loads = f"{target.app_root}/shared/log/loads.log"
    (v2 / "app.py").write_text(f"import os as _os\nwith open({loads!r}, 'a') as _loads:\n"
                               "    _loads.write(_os.environ.get('WSGIDEPLOY_SLOT', 'check') + '\\n')\n"
                               + (v2 / "app.py").read_text())
    inventories = inventory(write_inventory, target, v2, listen=PORT)

    deployed, seen, out = run(inventories, target, "deploy", tmp_path)
    assert info(target, PORT)["version"] == "2.0.0"
    assert (deployed["round_trips"], seen) == (2, 2), (deployed["round_trips"], seen, out)
    # one start: the check's load IS the new instance, which the go-live made live (no load outside it)
    loaded = target.run_as_deploy(f"cat {loads}").split()
    assert loaded and set(loaded) == {"b"}, (loaded, out)
    staged = re.search(r"check .* in its new instance \(slot b, pid (\d+)\)", out)
    assert staged and re.search(rf"reload .* upgraded, pid {staged[1]}\b", out), out
    assert "logged, lock released" in out, out
    assert [s["name"] for s in deployed["steps"]] == [
        "connect", "prepare", "upload", "venv", "check", "nginx", "switch", "reload", "health", "prune", "finish"]

    rolled, seen, out = run(inventories, target, "rollback", tmp_path)
    assert info(target, PORT)["version"] == "1.0.0"
    assert (rolled["round_trips"], seen) == (2, 2), (rolled["round_trips"], seen)

    assert not target.exists(".deploy/lock"), "the lock was given back"
    log = [json.loads(line) for line in target.run_as_deploy(f"cat {target.app_root}/.deploy/log.jsonl").splitlines()]
    assert [(e["action"], e["result"]) for e in log[-2:]] == [("deploy", "ok"), ("rollback", "ok")]
    assert all(isinstance(e["duration"], float) and e["duration"] > 0 for e in log[-2:]), log[-2:]

    # a release whose new instance answers 500 on its own socket never goes live: its check (that instance's
    # start) fails before the switch; the instance is stopped, the release removed, the lock given back
    broken = copy_app(EXAMPLE, tmp_path / "v3", version="3.0.0")
    app_py = broken / "app.py"
    app_py.write_text(app_py.read_text().replace('@app.route("/")\ndef index():',
                                                 '@app.route("/")\ndef index():\n    return "broken", 500\n\n\ndef unused():'))
    failed, _, out = run(inventory(write_inventory, target, broken, listen=PORT), target, "deploy", tmp_path, expect=1)
    assert info(target, PORT)["version"] == "1.0.0", out
    assert [s["name"] for s in failed["steps"]][-1] == "check", failed["steps"]
    assert "failed its health check on its own socket" in out, out
    assert target.run("systemctl is-active wsgideploy-trips@b.service", check=False).strip() != "active"
    assert not target.exists(f"releases/{failed['run_release']}"), "the release that never went live is removed"
    assert not target.exists(".deploy/lock"), out

    # a go-live that fails after the switch (healthy on its own socket, then 500 through nginx) finishes the
    # usual way: rolled back, logged as such, the lock given back
    flaky = copy_app(EXAMPLE, tmp_path / "v5", version="5.0.0")
    app_py = flaky / "app.py"
    app_py.write_text(app_py.read_text() + INDEX_ONCE)
    failed, _, out = run(inventory(write_inventory, target, flaky, listen=PORT), target, "deploy", tmp_path, expect=5)
    assert info(target, PORT)["version"] == "1.0.0", out
    assert not target.exists(".deploy/lock"), out
    last = json.loads(target.run_as_deploy(f"tail -n 1 {target.app_root}/.deploy/log.jsonl"))
    assert (last["action"], last["result"]) == ("deploy", "rolled_back"), last
    assert target.exists(f"releases/{failed['run_release']}/.wsgideploy-bad"), "the release that failed is marked bad"

    # a build that fails (the app does not import) leaves nothing live: the release goes, the lock too
    no_import = copy_app(EXAMPLE, tmp_path / "v4", version="4.0.0")
    (no_import / "app.py").write_text("raise RuntimeError('no import')\n" + (no_import / "app.py").read_text())
    inventories = inventory(write_inventory, target, no_import, listen=PORT)
    failed, _, out = run(inventories, target, "deploy", tmp_path, expect=1)
    assert info(target, PORT)["version"] == "1.0.0", out
    assert [s["name"] for s in failed["steps"]][-1] == "check", failed["steps"]
    assert not target.exists(f"releases/{failed['run_release']}"), "the release that never went live is removed"
    assert not target.exists(".deploy/lock"), out
    last = json.loads(target.run_as_deploy(f"tail -n 1 {target.app_root}/.deploy/log.jsonl"))
    assert (last["action"], last["result"]) == ("deploy", "failed"), last
