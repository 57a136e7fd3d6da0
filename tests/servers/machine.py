"""One booted Debian 12 test server: an overlay of the image, booted by ``systemd-nspawn`` on the bridge.

Each server has a folder ``<session>/<name>/`` holding ``upper/`` and ``work/`` (the overlay's writable
layers), ``merged/`` (the overlay mount that nspawn boots), ``known_hosts`` and ``console.log``. Before the
first boot the harness writes into the overlay what makes the host itself: ``/etc/hostname``, ``/etc/hosts``,
``/etc/systemd/network/10-host0.network`` (its static address; the name sorts before nspawn's
``80-container-host0.network``), its own ed25519 host key (pinned in ``known_hosts``), root's
``authorized_keys``, and the proxy settings (``/etc/environment`` for ssh sessions through pam_env,
``DefaultEnvironment=`` for systemd services, apt's ``Acquire::http(s)::Proxy``).

nspawn runs as ``systemd-nspawn -D merged -b --register=no --keep-unit --network-bridge=<bridge>``:
``--register=no --keep-unit`` because PID 1 of this machine is not systemd (there is no machined or
scope to register with). The machine name is ``<name>-<bridge index>`` (nspawn names the host-side veth
``vb-<machine>``, so two sessions never collide); the hostname inside is ``<name>``. nspawn starts in a
cgroup of its own (`cgroups`), without which servers booted together fail early units at random.

Measured on this 2-core machine (systemd 252): boot to ``systemctl is-system-running`` = ``running`` with
sshd answering in 1.4–2.1 s; ``systemctl reboot`` inside makes nspawn exit with status 133 about 2 s later,
and the same overlay boots again: a full reboot takes 2.1–2.5 s; ``SIGTERM`` to nspawn shuts the
server down cleanly in about 2 s (nspawn exits 0).
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import boots, cgroups

NSPAWN_REBOOT_STATUS = 133
BOOT_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


class ServerError(RuntimeError):
    """A server did not boot, answer or stop; the message carries nspawn's console log tail."""


def mounts_under(folder: Path) -> list[str]:
    """Mount points in /proc/mounts at or below ``folder``."""
    prefix = str(folder).rstrip("/") + "/"
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    return [p for p in points if p == str(folder) or p.startswith(prefix)]


def processes_rooted_under(folder: Path) -> list[int]:
    """Pids whose root directory (``/proc/PID/root``) lies at or below ``folder``: a server's processes."""
    prefix = str(folder).rstrip("/")
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                root = os.readlink(entry / "root")
            except OSError:
                continue
            if root == prefix or root.startswith(prefix + "/"):
                found.append(int(entry.name))
    return found


@dataclass
class Server:
    """A test server; `boot` it, `run` commands on it over real ssh as root, `stop` it at the end."""

    name: str
    address: str
    folder: Path
    image: Path
    bridge: str
    machine: str
    ssh_key: Path
    proxy_url: str
    subnet: str
    binds: Sequence[str] = ()
    layers: Sequence[Path] = ()  # cached layers over the image, topmost first (e.g. a front server's)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    boots: int = 0

    @property
    def root(self) -> Path:
        """The server's file system as this machine sees it (the overlay mount)."""
        return self.folder / "merged"

    @property
    def cgroup_id(self) -> str:
        """The name of this server's cgroups (see `cgroups`): ``<bridge>-<name>``."""
        return f"{self.bridge}-{self.name}"

    @property
    def known_hosts(self) -> Path:
        return self.folder / "known_hosts"

    @property
    def console_log(self) -> Path:
        return self.folder / "console.log"

    # --- before the first boot -----------------------------------------------------------------

    def prepare(self) -> None:
        """Mount the overlay and write the per-host files (address, host key, keys, proxy) into it."""
        for sub in ("upper", "work", "merged"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        lower = ":".join(str(p) for p in [*self.layers, self.image])
        options = f"lowerdir={lower},upperdir={self.folder / 'upper'},workdir={self.folder / 'work'}"
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(self.root)],
                       check=True, capture_output=True, timeout=30)
        root = self.root
        (root / "etc/hostname").write_text(f"{self.name}\n")
        (root / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
                                        f"{self.address}\t{self.name}\n")
        (root / "etc/systemd/network/10-host0.network").write_text(
            f"[Match]\nName=host0\n\n[Network]\nAddress={self.address}/24\nLinkLocalAddressing=no\n")
        # No name server: names resolve through the proxy; an unreachable one would only add timeouts.
        resolv = root / "etc/resolv.conf"
        resolv.unlink(missing_ok=True)
        resolv.write_text("# no DNS on a test server: the proxy resolves names (http_proxy in /etc/environment)\n")
        self._write_proxy_settings()
        ssh_dir = root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        authorized = ssh_dir / "authorized_keys"
        authorized.write_text(Path(f"{self.ssh_key}.pub").read_text())
        authorized.chmod(0o600)
        host_key = root / "etc/ssh/ssh_host_ed25519_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{self.name}",
                        "-f", str(host_key)], check=True, capture_output=True, timeout=30)
        key_type, key = Path(f"{host_key}.pub").read_text().split()[:2]
        self.known_hosts.write_text(f"{self.address} {key_type} {key}\n")

    def _write_proxy_settings(self) -> None:
        no_proxy = f"localhost,127.0.0.1,::1,{self.subnet}"
        env = {"http_proxy": self.proxy_url, "https_proxy": self.proxy_url, "HTTPS_PROXY": self.proxy_url,
               "no_proxy": no_proxy, "NO_PROXY": no_proxy}
        (self.root / "etc/environment").write_text("".join(f'{k}="{v}"\n' for k, v in env.items()))
        conf = self.root / "etc/systemd/system.conf.d"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "10-wsgideploy-proxy.conf").write_text(
            "[Manager]\nDefaultEnvironment=" + " ".join(f'"{k}={v}"' for k, v in env.items()) + "\n")
        (self.root / "etc/apt/apt.conf.d/80wsgideploy-proxy").write_text(
            f'Acquire::http::Proxy "{self.proxy_url}";\nAcquire::https::Proxy "{self.proxy_url}";\n')

    # --- boot ------------------------------------------------------------------------------------

    def nspawn_argv(self) -> list[str]:
        argv = ["systemd-nspawn", "--quiet", "-D", str(self.root), "-b", "--register=no", "--keep-unit",
                f"--network-bridge={self.bridge}", f"--machine={self.machine}", "--console=pipe"]
        return argv + [f"--bind-ro={bind}" for bind in self.binds]

    def start(self) -> None:
        """Start nspawn (returns at once; `wait_ssh` waits for the boot)."""
        if self.process is not None and self.process.poll() is None:
            raise ServerError(f"{self.name} is already running (nspawn pid {self.process.pid})")
        for stale in cgroups.existing(self.cgroup_id):  # the previous boot's, before a reboot
            cgroups.remove(stale)
        own = cgroups.create(self.cgroup_id)
        with self.console_log.open("ab") as log:
            log.write(f"\n== boot {self.boots + 1}: {shlex.join(self.nspawn_argv())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(cgroups.wrap(self.nspawn_argv(), own),
                                            stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        (self.folder / "nspawn.pid").write_text(f"{self.process.pid}\n")
        self.boots += 1

    def boot(self, timeout: float = BOOT_TIMEOUT) -> str:
        """Start nspawn and wait until sshd answers and systemd has finished booting; return its state."""
        self.start()
        self.wait_ssh(timeout)
        return self.wait_running(timeout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _console_tail(self) -> str:
        lines = self.console_log.read_text(errors="replace").splitlines() if self.console_log.exists() else []
        return "\n".join(lines[-20:])

    def wait_ssh(self, timeout: float = BOOT_TIMEOUT) -> None:
        """Poll ``ssh true`` (pinned host key) until it succeeds; fail early if nspawn exits."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                status = self.process.returncode if self.process else None
                raise ServerError(f"{self.name}: systemd-nspawn exited ({status}) before sshd answered:\n"
                                  f"{self._console_tail()}")
            done = self.run("true", check=False, timeout=5, connect_timeout=1)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise ServerError(f"{self.name}: no ssh login at {self.address} after {timeout:.0f} s: "
                                  f"{done.stderr.strip()}\n{self._console_tail()}")
            time.sleep(0.1)

    def wait_running(self, timeout: float = BOOT_TIMEOUT) -> str:
        """``systemctl is-system-running --wait``: ``running`` (measured here) or ``degraded`` (a unit failed)."""
        return self.run("systemctl is-system-running --wait", check=False, timeout=timeout).stdout.strip()

    # --- commands --------------------------------------------------------------------------------

    def ssh_argv(self, connect_timeout: float = 5) -> list[str]:
        """The ssh command line (root, this session's key, only the pinned host key) without the command."""
        return ["ssh", "-F", "/dev/null", "-i", str(self.ssh_key), "-o", "IdentitiesOnly=yes",
                "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                "-o", f"ConnectTimeout={connect_timeout:g}", "-o", "LogLevel=ERROR", f"root@{self.address}"]

    def run(self, command: str, check: bool = True, timeout: float = 120, input: str | None = None,
            connect_timeout: float = 5) -> subprocess.CompletedProcess[str]:
        """Run ``command`` (a shell line) as root over ssh; raise `ServerError` on non-zero when ``check``."""
        try:
            done = subprocess.run([*self.ssh_argv(connect_timeout), "--", command], input=input,
                                  stdin=None if input is not None else subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            if check:
                raise ServerError(f"{self.name}: {command!r} took more than {timeout:g} s") from exc
            return subprocess.CompletedProcess(exc.cmd, 255, "", f"timed out after {timeout:g} s")
        if check and done.returncode != 0:
            raise ServerError(f"{self.name}: {command!r} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done

    # --- reboot, power off, stop -----------------------------------------------------------------

    def _wait_exit(self, timeout: float) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ServerError(f"{self.name}: nspawn still running {timeout:g} s later:\n"
                              f"{self._console_tail()}") from None

    def reboot(self, timeout: float = BOOT_TIMEOUT) -> str:
        """``systemctl reboot`` inside, wait for nspawn to exit (133), boot the same overlay again."""
        self.run("systemctl reboot", check=False, timeout=30)
        status = self._wait_exit(timeout)
        if status != NSPAWN_REBOOT_STATUS:
            raise ServerError(f"{self.name}: nspawn exited {status} on reboot, not {NSPAWN_REBOOT_STATUS}")
        started = time.monotonic()
        state = self.boot(timeout)
        boots.record(self.name, None, time.monotonic() - started, state, self.boots)
        return state

    def poweroff(self, timeout: float = STOP_TIMEOUT) -> int:
        """``systemctl poweroff`` inside; return nspawn's exit status (0). The overlay stays mounted."""
        self.run("systemctl poweroff", check=False, timeout=30)
        return self._wait_exit(timeout)

    def shutdown(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop nspawn by its pid: SIGTERM (a clean shutdown inside), SIGKILL if it outlasts ``timeout``."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)

    def stop(self) -> list[str]:
        """Shut down, unmount the overlay, remove the folder; return what could not be cleaned (empty)."""
        problems: list[str] = []
        try:
            self.shutdown()
        except (OSError, subprocess.SubprocessError) as exc:
            problems.append(f"{self.name}: stopping nspawn: {exc}")
        for pid in processes_rooted_under(self.root):
            problems.append(f"{self.name}: process {pid} still runs inside")
        for cgroup in cgroups.existing(self.cgroup_id):
            problems += [f"{self.name}: process {pid} still in {cgroup}" for pid in cgroups.procs(cgroup)]
            problems += [f"{self.name}: {problem}" for problem in cgroups.remove(cgroup)]
        for point in reversed(mounts_under(self.folder)):
            done = subprocess.run(["umount", point], capture_output=True, text=True, timeout=30, check=False)
            if done.returncode != 0:
                problems.append(f"{self.name}: umount {point}: {done.stderr.strip()}")
        if not problems:
            shutil.rmtree(self.folder, ignore_errors=True)
        return problems
