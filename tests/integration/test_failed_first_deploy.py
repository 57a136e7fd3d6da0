"""A first release that fails its health check. Under systemd the check starts its instance and asks it on its
own socket, before the switch: it never goes live and is removed. Without systemd (``supervisor = "none"``)
the health check comes after the switch, and there is nothing to roll back to: the release stays on the
host, marked bad. Either way, nothing it leaves may make the next deploy of the same source a no-op.

The app here is healthy only if a file on the host existed when it was loaded (as an app that
reads a database or a mounted secret at import): the fault is mended on the host, not in the
source, so the rerun has the very same source and settings, and must still deploy.
"""
from __future__ import annotations

import json
import time

import pytest

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from .fabcli import EXAMPLE, fab
from .helpers import copy_app
from .stock import APP_PORT, get

READY_AT_IMPORT = '''
READY_FILE = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "shared", "ready")
READY = os.path.exists(READY_FILE)  # read once, when the app is loaded


@app.route("/health")
def health():
    return ("ok\\n", 200) if READY else ("not ready: no shared/ready when the app was loaded\\n", 503)
'''


@pytest.mark.parametrize("supervisor", ["systemd", "none"])
def test_a_first_release_that_fails_its_health_check_does_not_make_the_rerun_a_no_op(
        nginx_target: DeployTarget, write_inventory, tmp_path, supervisor: str) -> None:  # noqa: F811
    host = nginx_target.with_app(f"first{supervisor}")  # a booted Debian 12 server, its stock nginx
    port = APP_PORT + (supervisor == "none")
    source = copy_app(EXAMPLE, tmp_path / "app", version="1.0.0")
    app_py = source / "app.py"
    app_py.write_text(app_py.read_text().replace('\n\nif __name__ == "__main__":', READY_AT_IMPORT +
                                                 '\n\nif __name__ == "__main__":'))
    table = host.app_table(source, health={"path": "/health", "timeout": 3}, listen=port, supervisor=supervisor)
    inventory = write_inventory("test", app=table, hosts={host.alias: host.host_table()}, nginx=host.front_table())

    failed = fab(inventory, "-H", host.alias, "deploy", expect=1)  # failed, and not rolled back (5)
    said = failed.stdout + failed.stderr
    if supervisor == "systemd":  # its check on its own socket failed: nothing went live, nothing stays
        assert "failed its health check on its own socket" in said and "not ready" in said, said
        assert host.live_release() == "" and host.run_as_deploy(f"ls {host.app_root}/releases").split() == []
    else:  # after the switch: nothing to roll back to, so it stays, marked bad, and serves its 503
        assert "first release on the host" in said
        assert "deploy again" in said, "the failure must say what to do next"
        assert get(host.address, port, "/health")[0] == 503
        first = host.live_release()
        assert host.exists(f"releases/{first}/.wsgideploy-bad")

    host.write("shared/ready", "yes\n")  # mended on the host, not in the source

    plan = fab(inventory, "-H", host.alias, "plan").stdout
    assert "no-op        yes" not in plan, plan
    assert supervisor == "systemd" or "marked bad" in plan, plan

    rerun = fab(inventory, "-H", host.alias, "deploy")
    assert "nothing to deploy" not in rerun.stdout, rerun.stdout
    live = host.live_release()
    assert live and (supervisor == "systemd" or live != first), "the rerun must build and switch to a new release"
    assert get(host.address, port, "/health") == (200, "ok\n")
    assert json.loads(get(host.address, port, "/info")[1])["release"] == live

    # Now healthy and unchanged: the next deploy is the no-op it always was.
    time.sleep(1.1)  # release ids are timestamps
    again = fab(inventory, "-H", host.alias, "deploy")
    assert "nothing to deploy" in again.stdout
    assert host.live_release() == live
