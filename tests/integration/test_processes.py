"""``[processes]`` on a booted Debian 12 server: a worker beside the app, each in a systemd unit of its own
(``wsgideploy-<app>-<name>.service``) with the live release, its venv and shared/.env; restarted onto each
new release after the switch, brought back by systemd after ``kill -9``, stopped with the app, shown by
``status`` (docs/supervision.md)."""
from __future__ import annotations

import time
from pathlib import Path

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from .fabcli import EXAMPLE, fab
from .helpers import copy_app

PORT = 8095
WORKER = '''
import os, sys, time
# a worker: every 0.2 s it writes which release it runs, with which venv and pid, and a secret from .env
while True:
    with open(sys.argv[1] + ".tmp", "w") as fh:
        fh.write("%s %s %d %s\\n" % (os.environ["WSGIDEPLOY_RELEASE"], sys.prefix, os.getpid(),
                                    os.environ.get("WORKER_TOKEN", "-")))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(0.2)
'''


def worker_app(tmp_path: Path, version: str) -> Path:
    source = copy_app(EXAMPLE, tmp_path / f"app-{version}", version=version)
    (source / "worker.py").write_text(WORKER)
    return source


def beat(host: DeployTarget, seconds: float = 10.0, not_pid: str = "") -> list[str]:
    """The worker's last heartbeat (release, venv, pid, token) once it is fresh (and from another pid)."""
    end = time.monotonic() + seconds
    last: list[str] = []
    while time.monotonic() < end:
        text = host.run(f"cat {host.path('shared/heartbeat')} 2>/dev/null; "
                        f"echo; stat -c %Y {host.path('shared/heartbeat')} 2>/dev/null; date +%s").split("\n")
        fields, stamps = text[0].split(), [s for s in text[1:] if s.strip()]
        if len(fields) == 4 and len(stamps) == 2 and int(stamps[1]) - int(stamps[0]) <= 1 and fields[2] != not_pid:
            return fields
        last = fields
        time.sleep(0.2)
    raise AssertionError(f"no fresh heartbeat from the worker within {seconds:.0f} s (last: {last})")


def test_a_worker_process_follows_the_release_survives_kill_9_and_stops_with_the_app(
        nginx_target: DeployTarget, write_inventory, tmp_path) -> None:  # noqa: F811
    host = nginx_target.with_app("procs")
    env_file = tmp_path / "prod.env"
    env_file.write_text("WORKER_TOKEN=s3cret\n")

    def inventory(source: Path) -> Path:
        return write_inventory("test", app={**host.app_table(source), "listen": PORT, "env_file": str(env_file)},
                               hosts={host.alias: host.host_table()}, nginx=host.front_table(),
                               extra={"processes": {"worker": f"python worker.py {host.path('shared/heartbeat')}"}})

    inventories = inventory(worker_app(tmp_path, "1.0.0"))
    fab(inventories, "-H", host.alias, "deploy")
    unit = "wsgideploy-procs-worker.service"
    assert host.run(f"systemctl is-enabled {unit}").strip() == "enabled"
    release, prefix, pid, token = beat(host)
    assert release == host.live_release() and prefix.endswith("/venv"), (release, prefix)
    assert token == "s3cret", "the worker has shared/.env in its environment"
    assert host.run(f"ps -o user= -p {pid}").strip() == "procs", "the worker runs as the app's own user"
    status = fab(inventories, "-H", host.alias, "status").stdout
    assert "process      worker: active/running, 0 restarts" in status, status

    inventories = inventory(worker_app(tmp_path, "2.0.0"))
    fab(inventories, "-H", host.alias, "deploy")
    release2, _, pid2, _ = beat(host, not_pid=pid)
    assert release2 == host.live_release() != release, "restarted onto the new release after the switch"

    host.run(f"kill -9 {pid2}")
    _, _, pid3, _ = beat(host, not_pid=pid2)
    assert int(host.run(f"systemctl show -p NRestarts --value {unit}").strip()) >= 1

    fab(inventories, "-H", host.alias, "stop")
    assert host.run(f"systemctl is-active {unit} || true").strip() == "inactive"
    assert not host.pid_alive(pid3)
