"""A first release that fails its health check: there is nothing to roll back to, so it stays on
the host, marked bad. Nothing it leaves may make the next deploy of the same source a no-op.

The app here is healthy only if a file on the host existed when it was loaded (as an app that
reads a database or a mounted secret at import): the fault is mended on the host, not in the
source, so the rerun has the very same source and settings, and must still deploy.
"""
from __future__ import annotations

import json
import time

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


def test_a_first_release_that_fails_its_health_check_does_not_make_the_rerun_a_no_op(
        nginx_target: DeployTarget, write_inventory, tmp_path) -> None:  # noqa: F811
    host = nginx_target  # a booted Debian 12 server, its stock nginx
    source = copy_app(EXAMPLE, tmp_path / "app", version="1.0.0")
    app_py = source / "app.py"
    app_py.write_text(app_py.read_text().replace('\n\nif __name__ == "__main__":', READY_AT_IMPORT +
                                                 '\n\nif __name__ == "__main__":'))
    inventory = write_inventory("test", app=host.app_table(source, health={"path": "/health", "timeout": 3}),
                                hosts={host.alias: host.host_table()}, nginx=host.front_table())

    failed = fab(inventory, "-H", host.alias, "deploy", expect=1)  # failed, and not rolled back (5)
    assert "first release on the host" in failed.stdout + failed.stderr
    assert "deploy again" in failed.stdout + failed.stderr, "the failure must say what to do next"
    # Under systemd the release failed its check on its own socket, so its instance was stopped before
    # the front server sent it a request: nginx has no app behind it (502), not the app's 503.
    assert get(host.address, APP_PORT, "/health")[0] == 502
    first = host.live_release()
    assert host.exists(f"releases/{first}/.wsgideploy-bad")

    host.write("shared/ready", "yes\n")  # mended on the host, not in the source

    plan = fab(inventory, "-H", host.alias, "plan").stdout
    assert "no-op        yes" not in plan, plan
    assert "marked bad" in plan, plan

    rerun = fab(inventory, "-H", host.alias, "deploy")
    assert "nothing to deploy" not in rerun.stdout, rerun.stdout
    live = host.live_release()
    assert live != first, "the rerun must build and switch to a new release"
    assert get(host.address, APP_PORT, "/health") == (200, "ok\n")
    assert json.loads(get(host.address, APP_PORT, "/info")[1])["release"] == live

    # Now healthy and unchanged: the next deploy is the no-op it always was.
    time.sleep(1.1)  # release ids are timestamps
    again = fab(inventory, "-H", host.alias, "deploy")
    assert "nothing to deploy" in again.stdout
    assert host.live_release() == live
