"""The booted sandbox: a Debian 12 server booted with systemd-nspawn, Debian's nginx on it, as the quickstart's host.

``up`` boots one server (the cached image of `tests.servers`: built once with debootstrap, ~80 s, then
reused) over the nginx layer, makes it a deploy target (user ``deploy``, key login, ``/srv/hello``) and
writes ``inventories/sandbox.toml`` for it. The server keeps running after ``up`` returns: its session
is marked kept (`tests.servers.lab.ServerLab.keep`), and ``down`` stops it by the pids recorded in its
folder, unmounts its overlay and deletes its bridge.

What this changes on this machine: a bridge ``wsgdbr<N>`` with ``10.213.<N>.1/24`` (no NAT: the server
reaches apt and PyPI only through a tinyproxy on that address), an overlay mount and files under
``/tmp/wsgideploy-servers/wsgdbr<N>/``, the image cache (``~/.cache/wsgideploy``), this state and the
key in ``/var/lib/wsgideploy-sandbox/booted/``, and the inventory file. Nothing else: no user, no
sudoers entry, no sshd, and nginx runs inside the server.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.servers import unavailable_reason
from tests.servers.deploy_target import make_target
from tests.servers.lab import KEPT, SESSIONS_ROOT, ServerLab, reap

NAME = "sandbox"
FRONT = "nginx"
APP_PORT = 8080  # beside Debian's default site on port 80, which stays as it is


@dataclass(frozen=True)
class BootedState:
    """What ``up`` recorded: the kept session's folder and how to reach the server."""

    folder: str
    address: str
    identity: str
    known_hosts: str
    created_at: str

    @classmethod
    def load(cls, path: Path) -> BootedState | None:
        try:
            raw = json.loads(path.read_text())
            return cls(**{key: str(raw[key]) for key in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)

    @property
    def nspawn_pidfile(self) -> Path:
        return Path(self.folder) / NAME / "nspawn.pid"

    def running(self) -> bool:
        """Whether the server's nspawn (by the pid in its pidfile) still runs this session's file system."""
        try:
            pid = int(self.nspawn_pidfile.read_text().split()[0])
            return self.folder in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            return False


def plan_text(state_dir: Path, inventory: Path) -> str:
    return "\n".join([
        "wsgideploy sandbox: `up` boots a Debian 12 server (systemd-nspawn) to deploy to. On this machine it makes:",
        "  - a bridge wsgdbr<N> with 10.213.<N>.1/24 (no NAT) and a tinyproxy on it, the server's only way",
        "    to apt and PyPI;",
        f"  - an overlay mount and the server's files under {SESSIONS_ROOT}/wsgdbr<N>/ (over the cached",
        "    Debian image in ~/.cache/wsgideploy: the first run builds it with debootstrap, about 80 s);",
        f"  - the sandbox's client key and state in {state_dir};",
        f"  - the file {inventory}.",
        "  Inside the server: user 'deploy' (key login, passwordless sudo), /srv/hello, Debian's nginx on port 80.",
        "  No user, sudoers entry, sshd or nginx is added to this machine.",
        "`python3 -m tests.sandbox down` stops the server and the proxy (by pid) and removes all of it.",
        "",
    ])


def inventory_data(state: BootedState) -> dict[str, Any]:
    """The ``inventories/sandbox.toml`` tables for the booted server."""
    return {
        "app": {"name": "hello", "source": "../examples/hello", "wsgi": "app:app", "root": "/srv/hello",
                "server_name": "_", "listen": APP_PORT},
        "nginx": {"sites_available": "/etc/nginx/sites-available", "sites_enabled": "/etc/nginx/sites-enabled",
                  "sudo": True, "control": "systemd"},
        "hosts": {NAME: {"hostname": state.address, "port": 22, "user": "deploy",
                         "identity": state.identity, "known_hosts": state.known_hosts}},
    }


def url(state: BootedState) -> str:
    return f"http://{state.address}:{APP_PORT}/"


def up(state_dir: Path) -> BootedState:
    """Boot the server, make it a deploy target, keep it running; return its state (saved in ``state_dir``)."""
    reason = unavailable_reason()
    if reason:
        raise RuntimeError(f"cannot boot a server here: {reason}. Use `up --local` to make this machine "
                           "the sandbox host instead.")
    lab = ServerLab()
    try:
        lab.open()
        started = time.monotonic()
        server = lab.boot_server(NAME, front=FRONT)
        make_target(lab, server, front=FRONT, app_root="/srv/hello")
        print(f"  server {NAME}: booted at {server.address} in {time.monotonic() - started:.1f} s "
              f"(systemd {server.wait_running()})")
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        identity = state_dir / "id_ed25519"
        known_hosts = state_dir / "known_hosts"
        shutil.copyfile(lab.ssh_key, identity)
        identity.chmod(0o600)
        shutil.copyfile(server.known_hosts, known_hosts)
        assert lab.folder is not None
        state = BootedState(folder=str(lab.folder), address=server.address, identity=str(identity),
                            known_hosts=str(known_hosts),
                            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        state.save(state_dir / "state.json")
        lab.keep(owner=str(state_dir))
        return state
    except BaseException:
        lab.close()
        raise


def sandbox_folders(state_dir: Path, sessions: Path = SESSIONS_ROOT) -> list[Path]:
    """The kept sessions ``down`` stops for ``state_dir``: the one its state names, and any kept one whose state
    was lost (its ``KEPT`` file names no state, or one that no longer names it). Never another sandbox's that
    is still up: the test of the sandbox has a state folder of its own, beside a person's sandbox."""
    state = BootedState.load(state_dir / "state.json")
    folders = [Path(state.folder)] if state else []
    for folder in sorted(sessions.glob("wsgdbr*")):
        if not (folder / KEPT).exists() or folder in folders:
            continue
        owner = next((line.split(":", 1)[1].strip() for line in (folder / KEPT).read_text().splitlines()
                      if line.startswith("state:")), "")
        if owner and Path(owner) != state_dir:
            other = BootedState.load(Path(owner) / "state.json")
            if other is not None and Path(other.folder) == folder:
                continue  # another sandbox, still up
        folders.append(folder)
    return folders


def down(state_dir: Path) -> list[str]:
    """Stop the kept server and proxy and remove their session; return what was removed."""
    removed: list[str] = []
    for folder in sandbox_folders(state_dir):
        if not folder.exists():
            continue
        left = reap(folder)
        if left:
            raise RuntimeError(f"stopping the sandbox server left: {'; '.join(left)}")
        removed.append(f"the server, its proxy and bridge ({folder})")
    if state_dir.exists():
        shutil.rmtree(state_dir)
        removed.append(str(state_dir))
    return removed


def status_lines(state: BootedState | None) -> list[str]:
    if state is None:
        return []
    running = state.running()
    lines = [f"  server {NAME}  {state.address}  {'running' if running else 'NOT running'}  (session {state.folder})"]
    if running:
        probe = subprocess.run(["ssh", "-F", "/dev/null", "-i", state.identity, "-o", "BatchMode=yes",
                                "-o", f"UserKnownHostsFile={state.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                                "-o", "ConnectTimeout=5", f"deploy@{state.address}",
                                "systemctl is-system-running; systemctl is-active nginx"],
                               capture_output=True, text=True, timeout=30, check=False)
        words = probe.stdout.split()
        lines.append(f"  systemd {words[0] if words else '?'}, nginx {words[1] if len(words) > 1 else '?'}")
        lines.append(f"  the app (once deployed): {url(state)}")
    return lines
