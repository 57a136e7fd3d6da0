"""The local sandbox (``python3 -m tests.sandbox up --local``), for machines that cannot boot a server.

``up`` turns this machine into a deploy target reachable as ``wsgideploy -H sandbox`` (or ``fab -H sandbox``):

- a user ``deploy`` with passwordless sudo (``/etc/sudoers.d/wsgideploy-deploy``);
- an sshd on a free loopback port, with its own host key and client key (``/var/lib/wsgideploy-sandbox/ssh``);
- an nginx prefix ``/var/lib/wsgideploy-sandbox/nginx`` (run as root through sudo, workers as
  www-data), not started: the first deploy starts it;
- the app root's parent ``/srv/wsgideploy-sandbox``, owned by ``deploy``;
- ``inventories/sandbox.toml``, generated, with absolute paths to the key and known_hosts.

``down`` stops every process it started (by pid) and removes all of it. Both are idempotent.
Nothing binds anything but 127.0.0.1, and nothing under /etc/nginx or port 80 is touched.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import pwd
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.hosts.files import make_dir, remove_tree
from tests.hosts.nginx import NginxPrefix
from tests.hosts.ports import free_port, port_is_free
from tests.hosts.processes import (
    all_processes,
    kill_pids,
    pid_alive,
    processes_under,
    read_pidfile,
    stop_pidfile,
)
from tests.hosts.sshd import PRIVSEP_DIR, SshdHost
from tests.hosts.users import (
    ensure_deploy_user,
    remove_deploy_user,
    sudoers_path,
    user_exists,
)
from tests.sandbox import inventory_file

STATE_DIR = Path("/var/lib/wsgideploy-sandbox")
SSH_DIR = STATE_DIR / "ssh"
NGINX_DIR = STATE_DIR / "nginx"
STATE_FILE = STATE_DIR / "state.json"
SRV_DIR = Path("/srv/wsgideploy-sandbox")
APP_NAME = "hello"
APP_ROOT = SRV_DIR / APP_NAME
USER = "deploy"
ALIAS = "sandbox"
NGINX_WORKER_USER = "www-data"


@dataclass(frozen=True)
class State:
    """What ``up`` recorded in ``state.json``."""

    ssh_port: int
    http_port: int
    user: str = USER
    created_user: bool = False
    created_at: str = ""

    @classmethod
    def load(cls) -> State | None:
        try:
            raw = json.loads(STATE_FILE.read_text())
            return cls(ssh_port=int(raw["ssh_port"]), http_port=int(raw["http_port"]),
                       user=str(raw.get("user", USER)), created_user=bool(raw.get("created_user")),
                       created_at=str(raw.get("created_at", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        os.chmod(STATE_DIR, 0o755)
        tmp = STATE_FILE.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(tmp, STATE_FILE)


def sshd_host(state: State) -> SshdHost:
    return SshdHost(SSH_DIR, state.user, state.ssh_port)


def nginx_prefix() -> NginxPrefix:
    return NginxPrefix(NGINX_DIR, owner=None, user_directive=NGINX_WORKER_USER)


def gunicorn_pidfiles() -> list[Path]:
    """The app server's pidfiles (``gunicorn.pid``, and ``.pid.2`` during an upgrade)."""
    run_dir = APP_ROOT / "shared" / "run"
    if not run_dir.is_dir():
        return []
    return sorted([*run_dir.glob("*.pid"), *run_dir.glob("*.pid.2")])


def inventory_data(state: State) -> dict[str, Any]:
    """The ``inventories/sandbox.toml`` tables for ``state``."""
    ssh = sshd_host(state)
    nginx = nginx_prefix()
    return {
        "app": {
            "name": APP_NAME,
            "source": "../examples/hello",
            "wsgi": "app:app",
            "root": str(APP_ROOT),
            "server_name": "localhost",
            "listen": state.http_port,
            "listen_address": "127.0.0.1",
        },
        "nginx": {
            "sites_available": str(nginx.sites_available),
            "sites_enabled": str(nginx.sites_enabled),
            "conf": str(nginx.conf),
            "sudo": True,
            "control": "signal",
        },
        "hosts": {
            ALIAS: {
                "hostname": "127.0.0.1",
                "port": state.ssh_port,
                "user": state.user,
                "identity": str(ssh.identity),
                "known_hosts": str(ssh.known_hosts),
            },
        },
    }


def write_inventory(state: State) -> None:
    """Write ``inventories/sandbox.toml`` for ``state`` and validate it with the real inventory loader."""
    inventory_file.write(inventory_data(state), state.created_at,
                         f"wsgideploy -H {ALIAS} deploy, then curl http://127.0.0.1:{state.http_port}/")


def _require_root() -> None:
    if os.geteuid() != 0:
        raise SystemExit("wsgideploy sandbox: must run as root: it creates a user, a sudoers entry and "
                         f"root-owned sshd/nginx state. Run: sudo {sys.executable} -m tests.sandbox "
                         + " ".join(sys.argv[1:]))


def _port_for(previous: int | None, keep_if_alive: bool = False) -> int:
    if previous and (keep_if_alive or port_is_free(previous)):
        return previous
    return free_port()


def _alive(pid: int | None) -> str:
    return f"pid {pid}, running" if pid else "not running"


def plan_text(state: State, user_existed: bool) -> str:
    sudoers = sudoers_path(state.user)
    if user_existed:
        user_line = (f"  - user {state.user!r} already exists and is used as is (a locked password field '!'\n"
                     f"    would be set to '*' so that sshd accepts its key); `down` leaves the user in place")
    else:
        user_line = (f"  - user {state.user!r}: useradd -m -s /bin/bash, password field '*' (no password,\n"
                     f"    key login only)")
    invoker = inventory_file.invoker()
    owner_note = ""
    if invoker is not None:
        owner_note = f"\n    (the client key and the inventory are handed to uid {invoker[0]}, who ran sudo)"
    return "\n".join([
        "wsgideploy sandbox: `up` will make these changes on this machine:",
        user_line,
        f"  - sudoers file {sudoers}: '{state.user} ALL=(ALL) NOPASSWD:ALL' (checked with visudo -cf)",
        f"  - an sshd on 127.0.0.1:{state.ssh_port} (a free loopback port), key login for {state.user!r} only;",
        f"    config, host key, client key and known_hosts in {SSH_DIR}",
        f"    (and the sshd privilege separation directory {PRIVSEP_DIR}, if missing){owner_note}",
        f"  - an nginx prefix {NGINX_DIR} (nginx.conf, logs, pidfile, sites-available/, sites-enabled/):",
        f"    nginx runs as root through sudo with workers as {NGINX_WORKER_USER}, and serves the app on",
        f"    port {state.http_port} (a free loopback port chosen now). It is not started now: the first",
        "    deploy starts it. The system nginx (/etc/nginx, port 80) is not touched.",
        f"  - the app root {APP_ROOT} (its parent {SRV_DIR} is created now, owned by {state.user!r})",
        f"  - the file {inventory_file.INVENTORY}",
        f"  - state in {STATE_FILE}",
        "`python3 -m tests.sandbox down` stops these processes (by pid) and removes all of it.",
        "",
    ])


def up() -> int:
    _require_root()
    previous = State.load()
    if previous is not None and sshd_host(previous).pid is not None:
        print(f"wsgideploy sandbox: already up (sshd pid {sshd_host(previous).pid}); keeping it.")
        if not inventory_file.INVENTORY.exists():
            print(f"  re-writing {inventory_file.INVENTORY}")
        write_inventory(previous)
        print(status_text(previous))
        return 0

    user_existed = user_exists(USER)
    nginx_alive = nginx_prefix().pid is not None
    state = State(
        ssh_port=_port_for(previous.ssh_port if previous else None),
        http_port=_port_for(previous.http_port if previous else None, keep_if_alive=nginx_alive),
        user=USER,
        # A user created by an earlier, interrupted `up` still counts as ours.
        created_user=(previous.created_user if previous else False) or not user_existed,
        created_at=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    print(plan_text(state, user_existed and not state.created_user), flush=True)

    try:
        state.save()  # first, so that `down` can undo a half-finished `up`
        ensure_deploy_user(USER)
        print(f"  user {USER!r} and {sudoers_path(USER)}: ok")
        make_dir(SRV_DIR, owner=USER, mode=0o755)
        print(f"  {SRV_DIR}: ok")
        ssh = sshd_host(state)
        ssh.start()
        for path in (ssh.identity, ssh.identity.with_name(ssh.identity.name + ".pub")):
            inventory_file.give_to_invoker(path)
        print(f"  sshd: pid {ssh.pid} on 127.0.0.1:{state.ssh_port}")
        nginx_prefix().prepare()
        print(f"  nginx prefix {NGINX_DIR}: ok")
        write_inventory(state)
        print(f"  {inventory_file.INVENTORY}: written and validated")
    except Exception as exc:  # noqa: BLE001 - report any failure, then point at `down`
        print(f"wsgideploy sandbox: up FAILED: {exc}", file=sys.stderr)
        print("Run `python3 -m tests.sandbox down` to remove what was created.", file=sys.stderr)
        return 1

    print()
    print("The sandbox is up. Next:")
    print(f"  wsgideploy -H {ALIAS} deploy")
    print(f"  curl -H 'Host: localhost' http://127.0.0.1:{state.http_port}/")
    print("  python3 -m tests.sandbox down")
    return 0


def down() -> int:
    _require_root()
    state = State.load()
    user = state.user if state else USER
    removed: list[str] = []
    notes: list[str] = []

    for pidfile in gunicorn_pidfiles():
        pid = stop_pidfile(pidfile, signal.SIGTERM, 30.0, expect=str(SRV_DIR))
        if pid:
            removed.append(f"gunicorn (pid {pid}, {pidfile.name})")
    pid = nginx_prefix().stop()
    if pid:
        removed.append(f"nginx (pid {pid})")
    if state is not None:
        pid = sshd_host(state).stop()
    else:
        pid = stop_pidfile(SSH_DIR / "sshd.pid", expect=str(SSH_DIR / "sshd_config"))
    if pid:
        removed.append(f"sshd (pid {pid})")

    # Anything else still running from the sandbox's directories (or as its own user).
    created_user = state is not None and state.created_user
    uid = pwd.getpwnam(user).pw_uid if created_user and user_exists(user) else None
    stray = {p.pid: p for d in (SRV_DIR, STATE_DIR) for p in processes_under(d)}
    if uid is not None:
        stray.update({p.pid: p for p in all_processes() if p.uid == uid})
    if stray:
        kill_pids(sorted(stray))
        removed.extend(f"stray process {p.pid} ({p.cmdline[:80]})" for p in stray.values())

    for path in (SRV_DIR, STATE_DIR):
        if remove_tree(path):
            removed.append(str(path))
    gone, kept = inventory_file.remove()
    removed += gone
    notes += kept
    removed.extend(remove_deploy_user(user, remove_user=created_user))
    if user_exists(user) and not created_user:
        notes.append(f"left user {user!r} in place: the sandbox did not create it")

    if removed:
        print("wsgideploy sandbox: removed")
        for item in removed:
            print(f"  - {item}")
    else:
        print("wsgideploy sandbox: nothing to remove (it is down)")
    for note in notes:
        print(f"  note: {note}")
    return 0


def status_text(state: State | None) -> str:
    if state is None:
        return "wsgideploy sandbox: down (no state in %s)" % STATE_FILE
    ssh = sshd_host(state)
    nginx = nginx_prefix()
    lines = [
        f"wsgideploy sandbox (state {STATE_FILE}, created {state.created_at or '?'}):",
        f"  sshd   127.0.0.1:{state.ssh_port}  {_alive(ssh.pid)}",
        f"  nginx  port {state.http_port}  {_alive(nginx.pid)}  (conf {nginx.conf})",
    ]
    pidfiles = gunicorn_pidfiles()
    for pidfile in pidfiles:
        pid = read_pidfile(pidfile)
        lines.append(f"  gunicorn  {pidfile}  {_alive(pid if pid_alive(pid) else None)}")
    if not pidfiles:
        lines.append("  gunicorn  not deployed yet")
    lines.append(f"  user   {state.user}  {'exists' if user_exists(state.user) else 'MISSING'}"
                 f"{' (created by the sandbox)' if state.created_user else ''}")
    lines.append(f"  inventory  {inventory_file.INVENTORY}  {'present' if inventory_file.INVENTORY.exists() else 'MISSING'}")
    return "\n".join(lines)


def status() -> int:
    state = State.load()
    print(status_text(state))
    return 0 if state is None or sshd_host(state).pid else 1
