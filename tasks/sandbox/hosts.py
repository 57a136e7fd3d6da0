"""Provisioning for local simulated hosts: a deploy user, a private sshd, a private nginx prefix.

Used by the sandbox CLI (``python -m wsgideploy.sandbox``) and by the integration test
fixtures. Everything here runs on *this* machine, as root, and only ever binds
loopback addresses. Processes are started through their pidfiles and stopped by
pid (never by name); every subprocess call has a timeout.

Public API:

- `ensure_deploy_user`, `remove_deploy_user`, `user_exists`: the login user with passwordless sudo.
- `free_port`: a free TCP port on 127.0.0.1.
- `SshdHost`: an sshd on a loopback port with its own host key, client key and known_hosts.
- `NginxPrefix`: an nginx prefix (config, pidfile, logs, temp dirs, sites dirs); never started here.
- `toml_dumps`: a tiny TOML writer for inventories.
- `stop_pidfile`, `stop_pid`, `pid_alive`, `read_pidfile`, `processes_under`, `file_lock`: process and lock helpers.
"""
from __future__ import annotations

import contextlib
import fcntl
import math
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
SUDOERS_DIR = Path("/etc/sudoers.d")
PRIVSEP_DIR = Path("/run/sshd")
DEFAULT_TIMEOUT = 30.0


class ProvisionError(Exception):
    """A provisioning step failed; the message says which and why."""


# --- subprocesses ----------------------------------------------------------------


def run(argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT, check: bool = True,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (no shell) with a timeout; on failure raise `ProvisionError` with its output."""
    try:
        proc = subprocess.run(list(argv), input=input, capture_output=True, text=True,
                              timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ProvisionError(f"{' '.join(argv)}: timed out after {timeout:g}s") from None
    except FileNotFoundError:
        raise ProvisionError(f"{argv[0]}: command not found") from None
    if check and proc.returncode != 0:
        out = (proc.stderr.strip() or proc.stdout.strip() or "(no output)")
        raise ProvisionError(f"{' '.join(argv)}: exit {proc.returncode}: {out}")
    return proc


# --- users ---------------------------------------------------------------------------


def user_exists(name: str) -> bool:
    """Whether the local account ``name`` exists."""
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def sudoers_path(name: str) -> Path:
    """The sudoers drop-in this module installs for ``name`` (no '.' in it: sudo skips such files)."""
    return SUDOERS_DIR / f"wsgideploy-{name}"


def _shadow_password(name: str) -> str | None:
    try:
        with open("/etc/shadow", encoding="utf-8") as fh:
            for line in fh:
                fields = line.rstrip("\n").split(":")
                if fields and fields[0] == name:
                    return fields[1] if len(fields) > 1 else ""
    except OSError:
        return None
    return None


def ensure_deploy_user(name: str = "deploy") -> None:
    """Make ``name`` a login user with passwordless sudo that sshd accepts for key auth. Idempotent.

    - ``useradd -m -s /bin/bash`` if the user is missing;
    - ``/etc/sudoers.d/wsgideploy-<name>`` = ``<name> ALL=(ALL) NOPASSWD:ALL``, mode 0440,
      checked with ``visudo -cf`` before it is installed;
    - a password field of ``!`` (what useradd leaves) marks the account *locked*, and with
      ``UsePAM no`` sshd then refuses even key authentication; it is set to ``*`` (no
      password, not locked). A locked account that has a real password hash is left alone.
    """
    if not re.fullmatch(r"[a-z_][a-z0-9_-]*", name):
        raise ProvisionError(f"not a safe user name: {name!r}")
    if not user_exists(name):
        run(["useradd", "-m", "-s", "/bin/bash", name])
    if _shadow_password(name) in ("!", "!!", "!*", ""):
        run(["usermod", "-p", "*", name])
    target = sudoers_path(name)
    content = f"# Installed by wsgideploy (tasks/sandbox/hosts.py).\n{name} ALL=(ALL) NOPASSWD:ALL\n"
    try:
        if target.read_text() == content and (target.stat().st_mode & 0o777) == 0o440:
            return
    except OSError:
        pass
    # The temporary name contains a '.', so sudo ignores it should we die before the rename.
    tmp = SUDOERS_DIR / f".wsgideploy-{name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o440)
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
        os.chown(tmp, 0, 0)
        os.chmod(tmp, 0o440)
        run(["visudo", "-cf", str(tmp)])
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def remove_deploy_user(name: str, remove_user: bool = True) -> list[str]:
    """Remove the sudoers drop-in and (if ``remove_user``) the user with ``userdel -r``.

    Returns what was removed, for the caller to report. Idempotent.
    """
    removed: list[str] = []
    target = sudoers_path(name)
    if target.exists():
        target.unlink()
        removed.append(str(target))
    if remove_user and user_exists(name):
        home = pwd.getpwnam(name).pw_dir
        proc = run(["userdel", "-r", name], check=False)
        # userdel exits 12 when it could not remove the home or mail spool; the user is gone anyway.
        if proc.returncode not in (0, 12):
            raise ProvisionError(f"userdel -r {name}: exit {proc.returncode}: {proc.stderr.strip()}")
        removed.append(f"user {name} (home {home})")
    return removed


# --- ports ---------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0 and let the kernel pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# --- processes -----------------------------------------------------------------------


@dataclass(frozen=True)
class ProcInfo:
    """A running process as seen in /proc."""

    pid: int
    ppid: int
    uid: int
    cwd: str
    cmdline: str


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, ppid) of ``pid``, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            data = fh.read()
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1])


def pid_alive(pid: int | None) -> bool:
    """Whether ``pid`` names a live (not zombie) process."""
    if not pid or pid <= 0:
        return False
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def proc_info(pid: int) -> ProcInfo | None:
    """What /proc says about ``pid`` (None if it is gone or a zombie)."""
    stat = _proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = ""
    return ProcInfo(pid=pid, ppid=stat[1], uid=uid, cwd=cwd, cmdline=cmdline)


def all_processes() -> list[ProcInfo]:
    """Every live process (a snapshot of /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = proc_info(int(entry))
            if info is not None:
                out.append(info)
    return out


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` (children first)."""
    children: dict[int, list[int]] = {}
    for info in all_processes():
        children.setdefault(info.ppid, []).append(info.pid)
    found: list[int] = []
    queue = list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def processes_under(path: Path | str, exclude: Sequence[int] = ()) -> list[ProcInfo]:
    """Live processes whose cwd is ``path`` or below it, or whose command line mentions it.

    This process and its ancestors are never listed.
    """
    base = str(path).rstrip("/")
    mention = re.compile(re.escape(base) + r"(?=/|\s|$)")
    skip = set(exclude) | {os.getpid()}
    ancestor = os.getppid()
    while ancestor > 1 and ancestor not in skip:
        skip.add(ancestor)
        stat = _proc_stat(ancestor)
        ancestor = stat[1] if stat else 0
    found = []
    for info in all_processes():
        if info.pid in skip:
            continue
        cwd = info.cwd.removesuffix(" (deleted)")
        if cwd == base or cwd.startswith(base + "/") or mention.search(info.cmdline):
            found.append(info)
    return found


def _wait_gone(pids: Sequence[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if pid_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if pid_alive(p)]
    return alive


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def kill_pids(pids: Sequence[int], sig: int = signal.SIGTERM, timeout: float = 5.0) -> list[int]:
    """Send ``sig`` to each pid, wait up to ``timeout``, then SIGKILL what is left.

    Returns the pids that survived even SIGKILL (normally none).
    """
    live = [p for p in pids if pid_alive(p)]
    for pid in live:
        _signal(pid, sig)
    left = _wait_gone(live, timeout)
    for pid in left:
        _signal(pid, signal.SIGKILL)
    return _wait_gone(left, 5.0)


def read_pidfile(path: Path | str) -> int | None:
    """The pid in ``path``, or None if the file is missing or does not hold a pid."""
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def stop_pid(pid: int, sig: int = signal.SIGTERM, timeout: float = 10.0, expect: str | None = None,
             kill_descendants: bool = True) -> bool:
    """Stop ``pid`` with ``sig``; after ``timeout`` seconds SIGKILL it. Returns whether it was running.

    ``expect``, when given, must appear in the process's command line or cwd, so that a stale
    pid that the kernel has since given to another process is left alone. With
    ``kill_descendants``, children that outlive the process (e.g. sshd's per-connection
    processes, or workers orphaned by a SIGKILLed master) are stopped too, by pid.
    """
    info = proc_info(pid)
    if info is None:
        return False
    if expect is not None and expect not in info.cmdline and expect not in info.cwd:
        return False
    kids = descendants(pid) if kill_descendants else []
    _signal(pid, sig)
    if _wait_gone([pid], timeout):
        _signal(pid, signal.SIGKILL)
        if _wait_gone([pid], 5.0):
            raise ProvisionError(f"pid {pid} ({info.cmdline}) survived SIGKILL")
    if kids:
        # Give children a moment to exit on their own after their parent did.
        left = _wait_gone(kids, 2.0)
        if kill_descendants and left:
            kill_pids(left, signal.SIGTERM, 3.0)
    return True


def stop_pidfile(path: Path | str, sig: int = signal.SIGTERM, timeout: float = 10.0,
                 expect: str | None = None) -> int | None:
    """Stop the process named in pidfile ``path`` if it is alive (see `stop_pid`).

    Returns the pid that was stopped, or None if there was nothing to stop. Never looks
    processes up by name.
    """
    pid = read_pidfile(path)
    if pid is None:
        return None
    return pid if stop_pid(pid, sig, timeout, expect) else None


@contextlib.contextmanager
def file_lock(path: Path | str, timeout: float = 120.0) -> Iterator[None]:
    """An exclusive ``fcntl.flock`` on ``path`` (created if missing), for cross-process safety."""
    fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ProvisionError(f"timed out waiting for the lock {path}") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# --- sshd ------------------------------------------------------------------------------


def check_sshd_path(path: Path, user: str | None = None) -> None:
    """Fail unless ``path`` and every parent pass sshd's StrictModes checks.

    Each directory must be owned by root (or by ``user``) and not group- or world-writable,
    otherwise sshd refuses the keys with "bad ownership or modes".
    """
    allowed = {0}
    if user is not None and user_exists(user):
        allowed.add(pwd.getpwnam(user).pw_uid)
    for p in [path, *path.parents]:
        st = p.stat()
        if st.st_uid not in allowed or st.st_mode & 0o022:
            raise ProvisionError(
                f"{p}: sshd (StrictModes) needs it owned by root{' or ' + user if user else ''} and "
                f"not group/world-writable (it is uid {st.st_uid}, mode {oct(st.st_mode & 0o7777)})")


@dataclass(frozen=True)
class SshdHost:
    """A private sshd on ``127.0.0.1:<port>`` that lets ``user`` in with one client key only.

    Everything lives in ``state_dir`` (root-owned): the host key, the client key pair
    (`identity`), ``authorized_keys``, ``sshd_config``, the pidfile, ``sshd.log`` and a
    `known_hosts` that pins the host key for ``[127.0.0.1]:<port>``. The user's home is not
    touched. Keys are generated only when missing, so a restart keeps them.
    """

    state_dir: Path
    user: str
    port: int

    @property
    def config(self) -> Path:
        return self.state_dir / "sshd_config"

    @property
    def host_key(self) -> Path:
        return self.state_dir / "ssh_host_ed25519_key"

    @property
    def identity(self) -> Path:
        """The client private key (its public half is ``identity.pub``)."""
        return self.state_dir / "id_ed25519"

    @property
    def authorized_keys(self) -> Path:
        return self.state_dir / "authorized_keys"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def pidfile(self) -> Path:
        return self.state_dir / "sshd.pid"

    @property
    def log(self) -> Path:
        return self.state_dir / "sshd.log"

    @property
    def pid(self) -> int | None:
        """The daemon's pid from its pidfile, if that process is alive."""
        pid = read_pidfile(self.pidfile)
        return pid if pid_alive(pid) else None

    def config_text(self) -> str:
        """The sshd_config this host runs with."""
        return "\n".join([
            "# Generated by wsgideploy (tasks/sandbox/hosts.py): a private loopback sshd.",
            "ListenAddress 127.0.0.1",
            f"Port {self.port}",
            f"HostKey {self.host_key}",
            f"PidFile {self.pidfile}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin no",
            "UsePAM no",
            f"AllowUsers {self.user}",
            "StrictModes yes",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
            "MaxStartups 100:30:200",
            "MaxSessions 100",
            "",
        ])

    def _keygen(self, path: Path, comment: str) -> None:
        if path.exists() and path.with_name(path.name + ".pub").exists():
            return
        for p in (path, path.with_name(path.name + ".pub")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])

    def prepare(self) -> None:
        """Create the state dir, keys, authorized_keys and sshd_config, and check the config."""
        if not user_exists(self.user):
            raise ProvisionError(f"user {self.user!r} does not exist (ensure_deploy_user first)")
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.state_dir, 0, 0)
        os.chmod(self.state_dir, 0o755)
        check_sshd_path(self.state_dir, self.user)
        self._keygen(self.host_key, f"wsgideploy-host-{self.port}")
        self._keygen(self.identity, "wsgideploy-client")
        public = self.identity.with_name(self.identity.name + ".pub").read_text().strip()
        _write(self.authorized_keys, public + "\n", 0o644)
        _write(self.config, self.config_text(), 0o644)
        run([SSHD, "-t", "-f", str(self.config)])

    def start(self, timeout: float = 15.0) -> None:
        """Prepare, start the daemon and wait until it answers with an SSH banner.

        Raises `ProvisionError` with the tail of ``sshd.log`` if it does not come up (for
        example when the port was taken in the meantime). Starting a running host is a no-op.
        """
        self.prepare()
        if self.pid is not None:
            self._write_known_hosts()
            return
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()
        proc = run([SSHD, "-f", str(self.config), "-E", str(self.log)], check=False, timeout=timeout)
        if proc.returncode != 0:
            raise ProvisionError(f"sshd on port {self.port} did not start (exit {proc.returncode}): "
                                 f"{proc.stderr.strip()} {self._log_tail()}")
        deadline = time.monotonic() + timeout
        while True:
            if self.pid is not None and _ssh_banner(self.port):
                break
            if time.monotonic() > deadline:
                pid = read_pidfile(self.pidfile)
                if pid is not None:
                    stop_pid(pid, expect=str(self.config))
                raise ProvisionError(f"sshd on port {self.port} did not come up in {timeout:g}s. "
                                     f"{self._log_tail()}")
            time.sleep(0.05)
        self._write_known_hosts()

    def _write_known_hosts(self) -> None:
        keytype, key = self.host_key.with_name(self.host_key.name + ".pub").read_text().split()[:2]
        _write(self.known_hosts, f"[127.0.0.1]:{self.port} {keytype} {key}\n", 0o644)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            tail = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "(no sshd.log)"
        return "sshd.log: " + " | ".join(tail)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the daemon from its pidfile and wait (SIGKILL after ``timeout``).

        Its per-connection processes are stopped too. Returns the pid stopped, or None.
        """
        return stop_pidfile(self.pidfile, signal.SIGTERM, timeout, expect=str(self.config))


def _ssh_banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _write(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to ``path`` atomically, root-owned with ``mode``."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# --- nginx ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NginxPrefix:
    """A private nginx prefix: ``nginx.conf``, pidfile, logs, temp dirs and the sites dirs.

    `prepare` writes it; nothing here starts nginx (the deploy tool starts it when it is not
    running, with ``nginx -c <conf>``). With ``owner`` the whole prefix is chowned to that user
    (the test hosts run nginx as the deploy user, without sudo and without a ``user``
    directive); ``user_directive`` adds ``user <value>;`` for an nginx started as root.
    """

    prefix: Path
    owner: str | None = None
    user_directive: str | None = None
    worker_processes: int = 2

    @property
    def conf(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def pidfile(self) -> Path:
        return self.prefix / "nginx.pid"

    @property
    def error_log(self) -> Path:
        return self.prefix / "error.log"

    @property
    def access_log(self) -> Path:
        return self.prefix / "access.log"

    @property
    def sites_available(self) -> Path:
        return self.prefix / "sites-available"

    @property
    def sites_enabled(self) -> Path:
        return self.prefix / "sites-enabled"

    @property
    def tmp(self) -> Path:
        return self.prefix / "tmp"

    @property
    def pid(self) -> int | None:
        """The master's pid from the pidfile, if that process is alive."""
        pid = read_pidfile(self.pidfile)
        return pid if pid_alive(pid) else None

    def config_text(self) -> str:
        """The nginx.conf of this prefix."""
        p = self.prefix
        user = f"user {self.user_directive};\n" if self.user_directive else ""
        return (
            "# Generated by wsgideploy (tasks/sandbox/hosts.py): a private nginx prefix.\n"
            f"{user}"
            f"worker_processes {self.worker_processes};\n"
            f"pid {p}/nginx.pid;\n"
            f"error_log {p}/error.log;\n"
            "\n"
            "events {\n"
            "    worker_connections 512;\n"
            "}\n"
            "\n"
            "http {\n"
            "    include /etc/nginx/mime.types;\n"
            "    default_type application/octet-stream;\n"
            "    types_hash_max_size 2048;\n"
            "    sendfile on;\n"
            f"    access_log {p}/access.log;\n"
            f"    client_body_temp_path {p}/tmp/client_body;\n"
            f"    proxy_temp_path {p}/tmp/proxy;\n"
            f"    fastcgi_temp_path {p}/tmp/fastcgi;\n"
            f"    uwsgi_temp_path {p}/tmp/uwsgi;\n"
            f"    scgi_temp_path {p}/tmp/scgi;\n"
            f"    include {p}/sites-enabled/*;\n"
            "}\n"
        )

    def prepare(self) -> None:
        """Write ``nginx.conf`` and create the sites and temp dirs; chown to ``owner`` if given."""
        for d in (self.prefix, self.sites_available, self.sites_enabled, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o755)
        _write(self.conf, self.config_text(), 0o644)
        if self.owner is not None:
            entry = pwd.getpwnam(self.owner)
            for root, dirs, files in os.walk(self.prefix):
                os.chown(root, entry.pw_uid, entry.pw_gid)
                for name in dirs + files:
                    os.lchown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)

    def stop(self, timeout: float = 10.0) -> int | None:
        """If the pidfile names this prefix's live nginx master: SIGQUIT (graceful), SIGKILL after
        ``timeout``, then any worker left (see `stop_pidfile`). Returns the pid stopped, or None."""
        return stop_pidfile(self.pidfile, signal.SIGQUIT, timeout, expect="nginx")


# --- TOML ---------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"TOML keys must be strings, not {type(key).__name__}")
    return key if _BARE_KEY.match(key) else _toml_str(key)


def _toml_str(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, os.PathLike):
        return _toml_str(os.fspath(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):  # only inside a list: an inline table
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML: {value!r}")


def toml_dumps(data: Mapping[str, Any]) -> str:
    """Serialise ``data`` as TOML.

    Supports str (and `os.PathLike`, written as a string), int, float, bool, lists of those
    (a table in a list is written inline), and nested tables, which are written as ``[a.b]`` sections. A table holding only
    sub-tables gets no header of its own; an empty table gets one, so that it exists.
    """
    lines: list[str] = []

    def emit(table: Mapping[str, Any], path: list[str]) -> None:
        scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
        tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
        if path and (scalars or not tables):
            if lines:
                lines.append("")
            lines.append("[" + ".".join(_toml_key(k) for k in path) + "]")
        for key, value in scalars:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        for key, value in tables:
            emit(value, [*path, key])

    emit(data, [])
    return "\n".join(lines) + "\n"


# --- directories --------------------------------------------------------------------------


def make_dir(path: Path, owner: str | None = None, mode: int = 0o755) -> None:
    """``mkdir -p`` then set ``mode`` and (if given) the owner of ``path`` itself."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    if owner is not None:
        entry = pwd.getpwnam(owner)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def remove_tree(path: Path) -> bool:
    """``rm -rf path``; returns whether it existed."""
    if not path.exists() and not path.is_symlink():
        return False
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return True


def start_sshd(directory: Path, user: str, alias: str, attempts: int = 5) -> SshdHost:
    """An `SshdHost` for ``user`` in ``directory``, started on a free loopback port; a port
    taken between `free_port` and sshd's bind is retried with another one."""
    last: Exception | None = None
    for _ in range(attempts):
        sshd = SshdHost(directory, user, free_port())
        try:
            sshd.start()
            return sshd
        except ProvisionError as exc:
            last = exc
    raise ProvisionError(f"could not start sshd for {alias} after {attempts} attempts: {last}")
