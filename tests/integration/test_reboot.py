"""Survival on a booted Debian 12 server (systemd as PID 1, Debian's nginx) with no wsgideploy command run:
a real reboot, and ``kill -9`` of the app server's main process and of a worker.

Before the app server ran under systemd (docs/supervision.md), a gunicorn app answered 502 through nginx
after a reboot until someone ran ``fab start``, and a crashed master was never restarted.
"""
from __future__ import annotations

import http.client
import time

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from .fabcli import EXAMPLE, fab
from .helpers import copy_app
from .stock import APP_PORT, get

BACK_WITHIN = 10.0  # seconds after sshd is up again


def answers_within(target: DeployTarget, seconds: float, port: int = APP_PORT,
                   not_pid: tuple[str, int] | None = None) -> tuple[int, str]:
    """The last (status, body) of ``/info`` on ``port``, polled for ``seconds``; stops at the first 200
    (with ``not_pid``: the first 200 once that unit has a main pid other than the one given)."""
    deadline = time.monotonic() + seconds
    last: tuple[int, str] = (0, "")
    while time.monotonic() < deadline:
        try:
            last = get(target.address, port, "/info", timeout=2)
        except (OSError, http.client.HTTPException) as exc:  # a response cut off by the kill
            last = (0, f"{type(exc).__name__}: {exc}")
        if last[0] == 200 and not_pid is not None:
            unit, pid = not_pid
            now = target.run(f"systemctl show -p MainPID --value {unit}").strip()
            if now in ("0", str(pid)):
                last = (0, f"{unit} still has main pid {now}")
        if last[0] == 200:
            break
        time.sleep(0.2)
    return last


def test_after_a_real_reboot_the_app_answers_through_nginx_with_no_command_run(
        nginx_target: DeployTarget, write_inventory, tmp_path) -> None:  # noqa: F811
    host = nginx_target
    source = copy_app(EXAMPLE, tmp_path / "app", version="1.0.0")
    inventory = write_inventory("test", app=host.app_table(source), hosts={host.alias: host.host_table()},
                                nginx=host.front_table())
    fab(inventory, "-H", host.alias, "deploy")
    assert get(host.address, APP_PORT, "/info")[0] == 200

    assert host.server.reboot() == "running"  # sshd is up and systemd says running
    assert host.run("systemctl is-active nginx").strip() == "active", "Debian's nginx comes back at boot"
    status, body = answers_within(host, BACK_WITHIN)
    assert status == 200, f"{BACK_WITHIN:.0f} s after the reboot the app answers {status}: {body[:200]}"
    assert "active" in host.run("systemctl is-active wsgideploy-hello@a.service wsgideploy-hello@b.service || true")


def unit_main_pid(host: DeployTarget, app: str) -> tuple[str, int]:
    """The live instance of ``app`` (its unit) and its main pid."""
    for slot in ("a", "b"):
        unit = f"wsgideploy-{app}@{slot}.service"
        if host.run(f"systemctl is-active {unit} || true").strip() == "active":
            return unit, int(host.run(f"systemctl show -p MainPID --value {unit}").strip())
    raise AssertionError(f"no instance of {app} is active")


def test_kill_9_of_the_main_process_and_of_a_worker_is_undone_by_systemd_within_10_s(
        nginx_target: DeployTarget, write_inventory, tmp_path) -> None:  # noqa: F811
    host = nginx_target.with_app("crashy")
    source = copy_app(EXAMPLE, tmp_path / "app", version="1.0.0")
    inventory = write_inventory("test", app={**host.app_table(source), "listen": 8091},
                                hosts={host.alias: host.host_table()}, nginx=host.front_table())
    fab(inventory, "-H", host.alias, "deploy")
    assert get(host.address, 8091, "/info")[0] == 200
    unit, pid = unit_main_pid(host, "crashy")

    host.run(f"kill -9 {pid}")
    status, body = answers_within(host, BACK_WITHIN, 8091, not_pid=(unit, pid))
    assert status == 200, f"{BACK_WITHIN:.0f} s after kill -9 of {unit}'s main pid the app answers {status}: {body[:200]}"
    new_unit, new_pid = unit_main_pid(host, "crashy")
    assert (new_unit, new_pid != pid) == (unit, True), "the same instance, restarted by systemd"
    assert int(host.run(f"systemctl show -p NRestarts --value {unit}").strip()) >= 1

    worker = int(host.run(f"pgrep -P {new_pid} | head -n 1").strip())
    host.run(f"kill -9 {worker}")
    status, body = answers_within(host, BACK_WITHIN, 8091)
    assert status == 200, f"after kill -9 of a worker the app answers {status}: {body[:200]}"
    out = fab(inventory, "-H", host.alias, "status").stdout
    assert unit in out and "restarts" in out, out
