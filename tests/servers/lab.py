"""A test session's set of servers: its bridge, its proxy, its ssh key and the servers booted on them.

``with ServerLab() as lab: web = lab.boot_server("web1")`` builds (or finds) the cached image, claims a
bridge ``wsgdbr<N>`` with ``10.213.<N>.0/24``, starts tinyproxy on ``10.213.<N>.1:3128``, and makes a client
key; `boot_server` / `boot_servers` (in parallel threads) boot hosts at ``.2``, ``.3``, ... Leaving the block,
also after a failure, stops every server by pid, unmounts its overlay, stops the proxy by pid, deletes the
bridge and the session folder, then checks that no process, mount, bridge or folder is left (`leftovers`)
and raises `LabError` naming them if any is.

Everything of session ``wsgdbr<N>`` lives in ``/tmp/wsgideploy-servers/wsgdbr<N>/`` with an ``owner`` file
(the pytest process's pid). A session killed before its teardown is reaped by the next one (`reap_stale`):
its nspawn and tinyproxy are stopped by the pids in their pidfiles, only when that pid's command line still
names the folder (so a reused pid is never touched), its mounts are unmounted, its bridge deleted.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Self

from . import boots, cgroups
from .image import PACKAGES, ensure_image
from .layers import ensure_layer
from .machine import Server, mounts_under, processes_rooted_under
from .network import Bridge, NetworkError, claim_bridge
from .proxy import Proxy

SESSIONS_ROOT = Path("/tmp/wsgideploy-servers")


class LabError(RuntimeError):
    """Servers could not be set up, or teardown left something behind (the message names it)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline_names(pid: int, folder: Path) -> bool:
    try:
        return str(folder) in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False


def _kill_recorded(pidfile: Path, folder: Path) -> None:
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if not _cmdline_names(pid, folder):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _cmdline_names(pid, folder):
        os.kill(pid, signal.SIGKILL)


KEPT = "kept"  # a session folder holding this file outlives its owner (the sandbox): see `ServerLab.keep`


def reap_stale(root: Path = SESSIONS_ROOT) -> list[str]:
    """Clean up sessions whose owner process is gone (kept ones excepted); return the folders reaped."""
    reaped = []
    for folder in sorted(root.glob("wsgdbr*")) if root.is_dir() else []:
        if (folder / KEPT).exists():
            continue
        try:
            owner = int((folder / "owner").read_text())
        except (OSError, ValueError):
            if time.time() - folder.stat().st_mtime < 120:
                continue  # being set up right now
            owner = 0
        if owner and _pid_alive(owner):
            continue
        reap(folder)
        reaped.append(str(folder))
    return reaped


def reap(folder: Path) -> list[str]:
    """Stop a session from its folder alone: its nspawns and tinyproxy by the pids in their pidfiles (only
    while that pid's command line names the folder), its mounts, cgroups and bridge; then the folder.
    Returns what is left (empty when clean)."""
    for pidfile in [*folder.glob("*/nspawn.pid"), folder / "tinyproxy.pid"]:
        _kill_recorded(pidfile, folder)
    for point in reversed(mounts_under(folder)):
        subprocess.run(["umount", point], capture_output=True, timeout=30, check=False)
    for cgroup in cgroups.of_session(folder.name):
        cgroups.remove(cgroup)
    left = [f"mount {point}" for point in mounts_under(folder)]
    left += [f"process {pid} inside a server" for pid in processes_rooted_under(folder)]
    if not mounts_under(folder):
        shutil.rmtree(folder, ignore_errors=True)
    # The bridge goes last: it is the claim on the name, and a session that claims it next makes this
    # folder again (removing the folder after the bridge would remove that session's folder).
    if folder.name.removeprefix("wsgdbr").isdigit():
        bridge = Bridge(int(folder.name.removeprefix("wsgdbr")))
        try:
            bridge.delete()
        except NetworkError as exc:
            left.append(f"bridge {bridge.name}: {exc}")
    return left


class ServerLab:
    """Bridge + proxy + client key + servers of one test session; use it as a context manager."""

    def __init__(self, packages: tuple[str, ...] = PACKAGES, binds: Sequence[str] = ()) -> None:
        self.packages = packages
        self.binds = tuple(binds)  # --bind-ro= for every server, e.g. a wheelhouse
        self.image: Path | None = None
        self.bridge: Bridge | None = None
        self.folder: Path | None = None
        self.proxy: Proxy | None = None
        self.servers: list[Server] = []
        self._lock = threading.Lock()
        self._numbers = 0

    def __enter__(self) -> Self:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def ssh_key(self) -> Path:
        assert self.folder is not None
        return self.folder / "id_ed25519"

    def open(self) -> None:
        """Reap stale sessions, find or build the image, claim a bridge, start the proxy, make a key."""
        SESSIONS_ROOT.mkdir(mode=0o755, exist_ok=True)
        reap_stale()
        self.image = ensure_image(self.packages)
        self.bridge = claim_bridge()
        # Cgroups an earlier session of this bridge name left (empty: its servers are gone, or it could
        # not have lost the bridge) would otherwise count as this session's leftovers.
        for stale in cgroups.of_session(self.bridge.name):
            cgroups.remove(stale)
        self.folder = SESSIONS_ROOT / self.bridge.name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(mode=0o700)
        (self.folder / "owner").write_text(str(os.getpid()))
        self.proxy = Proxy(self.bridge.address, str(self.bridge.subnet), self.folder)
        self.proxy.start()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wsgideploy-tests",
                        "-f", str(self.ssh_key)], check=True, capture_output=True, timeout=30)

    def new_server(self, name: str, front: str | None = None) -> Server:
        """A prepared (overlay mounted, files written) but not yet booted server.

        ``front`` (``nginx``, ``apache2`` or ``lighttpd``: `layers.FRONTS`) boots it over that front
        server's cached layer, so systemd starts Debian's service on port 80 with its default site; a
        `layers.TOOLS` name (``pebble``, ``nginx+certbot``, ...) boots it over that layer instead.
        """
        assert self.bridge is not None and self.folder is not None and self.proxy is not None
        assert self.image is not None
        layers = [ensure_layer(self.image, front)] if front else []
        with self._lock:
            if any(s.name == name for s in self.servers):
                raise LabError(f"a server named {name!r} exists in this session already")
            self._numbers += 1
            server = Server(name=name, address=self.bridge.host_address(self._numbers),
                            folder=self.folder / name, image=self.image, bridge=self.bridge.name,
                            machine=f"{name}-{self.bridge.index}", ssh_key=self.ssh_key,
                            proxy_url=self.proxy.url, subnet=str(self.bridge.subnet), binds=self.binds,
                            layers=layers)
            self.servers.append(server)
        server.prepare()
        return server

    def boot_server(self, name: str, front: str | None = None) -> Server:
        """Prepare and boot one server; returns once sshd answers and boot has finished."""
        server = self.new_server(name, front)
        started = time.monotonic()
        state = server.boot()
        boots.record(name, front, time.monotonic() - started, state, server.boots)
        return server

    def boot_servers(self, names: Sequence[str], fronts: Sequence[str | None] = ()) -> list[Server]:
        """Boot several servers in parallel threads (``fronts[i]`` for ``names[i]``), in ``names`` order."""
        pairs = [(name, fronts[i] if i < len(fronts) else None) for i, name in enumerate(names)]
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            return list(pool.map(lambda pair: self.boot_server(*pair), pairs))

    def leftovers(self) -> list[str]:
        """What of this session still exists: processes, mounts, the bridge, the folder (empty when clean)."""
        found = []
        for server in self.servers:
            if server.running():
                found.append(f"nspawn of {server.name} (pid {server.process.pid if server.process else '?'})")
        if self.proxy is not None and self.proxy.process is not None:
            found.append(f"tinyproxy (pid {self.proxy.process.pid})")
        if self.folder is not None:
            found += [f"process {pid} inside a server" for pid in processes_rooted_under(self.folder)]
            found += [f"mount {point}" for point in mounts_under(self.folder)]
            if self.folder.exists():
                found.append(f"folder {self.folder}")
        if self.bridge is not None and self.bridge.exists():
            found.append(f"bridge {self.bridge.name}")
        if self.bridge is not None:
            found += [f"cgroup {cgroup}" for cgroup in cgroups.of_session(self.bridge.name)]
        return found

    def keep(self, owner: str = "") -> Path:
        """Leave the session running after this process exits (the sandbox): mark its folder `KEPT` (naming
        ``owner``, the sandbox state that keeps it, on a ``state:`` line) and forget it, so that neither `close`
        nor another session's `reap_stale` stops it. `reap` of the returned folder stops it later, by the pids
        recorded there."""
        assert self.folder is not None
        (self.folder / KEPT).write_text("kept by the sandbox: python3 -m tests.sandbox down stops it\n"
                                        + (f"state: {owner}\n" if owner else ""))
        folder = self.folder
        self.servers, self.proxy, self.bridge, self.folder = [], None, None, None
        return folder

    def close(self) -> None:
        """Stop everything this session started (servers in parallel), then assert nothing is left."""
        problems: list[str] = []
        if self.servers:
            with ThreadPoolExecutor(max_workers=len(self.servers)) as pool:
                for result in pool.map(Server.stop, self.servers):
                    problems += result
        if self.proxy is not None:
            self.proxy.stop()
        if self.folder is not None and not mounts_under(self.folder):
            shutil.rmtree(self.folder, ignore_errors=True)
        # Everything is checked while this session still owns the bridge's name, and the bridge goes
        # last: once it is deleted another session may claim the same name (its folder, cgroups and
        # bridge), which is not this session's leftover, and must not lose its folder to this one.
        bridge = self.bridge
        left = [item for item in self.leftovers() if bridge is None or item != f"bridge {bridge.name}"]
        if bridge is not None:
            try:
                bridge.delete()
            except NetworkError as exc:
                problems.append(str(exc))
            self.bridge = None
        if problems or left:
            raise LabError("teardown left things behind: " + "; ".join(problems + left))
