"""Simulated hosts for the benchmark: each its own sshd, nginx prefix and app roots.

A `BenchHost` lives in ``/srv/wsgideploy-bench/<alias>-<pid>-<random>/`` and is reached as
the non-root user ``wsgibench`` (passwordless sudo) on a free 127.0.0.1 port, exactly like the
integration tests' hosts (see `tests.hosts`). Each deployer gets its own app (name,
root and nginx port) on every host, so that the three deployers can take turns run by run.

`HostPool` makes N hosts and tears all of them down, whatever happened; `reap_stale` removes
the hosts of an earlier benchmark that died without its teardown.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.hosts.files import make_dir
from tests.hosts.nginx import NginxPrefix
from tests.hosts.ports import free_port
from tests.hosts.processes import (
    ProvisionError,
    kill_pids,
    pid_alive,
    processes_under,
    run,
    stop_pidfile,
)
from tests.hosts.sshd import SshdHost, start_sshd
from tests.hosts.users import ensure_deploy_user

BENCH_USER = "wsgibench"
BENCH_ROOT = Path("/srv/wsgideploy-bench")
NGINX_BINARY = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/nginx"
DEPLOYERS = ("wsgideploy", "floor", "naive")


@dataclass(frozen=True)
class AppSite:
    """One deployer's app on one host: its name (nginx site file), root and nginx port."""

    name: str
    root: Path
    http_port: int

    @property
    def run_dir(self) -> Path:
        return self.root / "shared" / "run"


@dataclass(frozen=True)
class BenchHost:
    """One simulated host: an sshd, an nginx prefix run as the bench user, and an app per deployer."""

    alias: str
    user: str
    base: Path
    sshd: SshdHost
    nginx: NginxPrefix
    apps: dict[str, AppSite]

    @property
    def ssh_port(self) -> int:
        return self.sshd.port

    def app(self, deployer: str) -> AppSite:
        return self.apps[deployer]

    def host_table(self) -> dict[str, object]:
        """The ``[hosts.<alias>]`` table of an inventory."""
        return {"hostname": "127.0.0.1", "port": self.ssh_port, "user": self.user,
                "identity": str(self.sshd.identity), "known_hosts": str(self.sshd.known_hosts)}

    def nginx_table(self) -> dict[str, object]:
        """The ``[nginx]`` table for this host's private prefix (run as the user, no sudo)."""
        return {"sites_available": str(self.nginx.sites_available),
                "sites_enabled": str(self.nginx.sites_enabled), "conf": str(self.nginx.conf),
                "binary": NGINX_BINARY, "sudo": False, "control": "signal"}

    def sessions_started(self) -> int:
        """How many SSH sessions (one remote command or SFTP subsystem each) sshd has started.

        sshd logs ``Starting session:`` once per channel at LogLevel VERBOSE; the difference of
        two readings is the round trips of what ran in between, whoever the client was.
        """
        try:
            text = self.sshd.log.read_text(errors="replace")
        except OSError:
            return 0
        return text.count("Starting session:")


def start_host(alias: str, user: str = BENCH_USER, attempts: int = 5) -> BenchHost:
    """Create the host's directory, prepare its nginx prefix and start its sshd."""
    make_dir(BENCH_ROOT, owner=None, mode=0o755)
    base = BENCH_ROOT / f"{alias}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    make_dir(base, owner=user, mode=0o755)
    nginx = NginxPrefix(base / "nginx", owner=user)
    try:
        nginx.prepare()
        make_dir(base / "apps", owner=user, mode=0o755)
        sshd = start_sshd(base / "ssh", user, alias, attempts)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    try:
        start_nginx(nginx, user)
    except BaseException:
        sshd.stop()
        shutil.rmtree(base, ignore_errors=True)
        raise
    ports: set[int] = set()
    apps = {}
    for deployer in DEPLOYERS:
        port = free_port()
        while port in ports:
            port = free_port()
        ports.add(port)
        apps[deployer] = AppSite(name=f"hello-{deployer}", root=base / "apps" / deployer, http_port=port)
    return BenchHost(alias=alias, user=user, base=base, sshd=sshd, nginx=nginx, apps=apps)


def start_nginx(nginx: NginxPrefix, user: str) -> None:
    """Start the prefix's nginx as ``user`` with no site yet, so that every deploy, the first one
    too, finds it running (as on a real host) and only reloads it."""
    run(["runuser", "-u", user, "--", NGINX_BINARY, "-c", str(nginx.conf)])
    deadline = time.monotonic() + 10
    while nginx.pid is None:
        if time.monotonic() > deadline:
            raise ProvisionError(f"nginx -c {nginx.conf} did not write its pidfile")
        time.sleep(0.05)


def stop_app(host: BenchHost, site: AppSite) -> None:
    """Stop one app's server (by its pidfiles) and remove its root and nginx site: an empty host for it."""
    if site.run_dir.is_dir():
        for pidfile in sorted([*site.run_dir.glob("*.pid"), *site.run_dir.glob("*.pid.2")]):
            stop_pidfile(pidfile, signal.SIGTERM, 15.0, expect=str(host.base))
    left = processes_under(site.root)
    if left:
        kill_pids([p.pid for p in left])
    shutil.rmtree(site.root, ignore_errors=True)
    for path in (host.nginx.sites_enabled / site.name, host.nginx.sites_available / site.name):
        if path.exists() or path.is_symlink():
            path.unlink()


def stop_host(host: BenchHost) -> list[str]:
    """Stop everything the host ran (app servers, nginx, sshd, anything left under its
    directory, by pid) and remove the directory. Returns the problems found."""
    problems: list[str] = []
    for site in host.apps.values():
        try:
            stop_app(host, site)
        except Exception as exc:  # noqa: BLE001 - keep tearing down
            problems.append(f"{host.alias}: stopping {site.name}: {exc}")
    for what, stop in (("nginx", host.nginx.stop), ("sshd", host.sshd.stop)):
        try:
            stop()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{host.alias}: stopping {what}: {exc}")
    left = processes_under(host.base)
    if left:
        kill_pids([p.pid for p in left])
        problems.append(f"{host.alias}: killed leftover processes: "
                        + ", ".join(f"{p.pid} ({p.cmdline[:60]})" for p in left))
    shutil.rmtree(host.base, ignore_errors=True)
    return problems


_BASE_NAME = re.compile(r"^(?P<alias>.+)-(?P<pid>\d+)-[0-9a-f]{8}$")


def reap_stale(user: str = BENCH_USER) -> list[Path]:
    """Tear down hosts of benchmark runs whose process is gone (killed before its cleanup)."""
    reaped = []
    if not BENCH_ROOT.is_dir():
        return reaped
    for base in sorted(BENCH_ROOT.iterdir()):
        match = _BASE_NAME.match(base.name)
        if not base.is_dir() or not match or pid_alive(int(match["pid"])):
            continue
        sshd = SshdHost(base / "ssh", user, 0)
        apps = {d: AppSite(f"hello-{d}", base / "apps" / d, 0) for d in DEPLOYERS}
        stop_host(BenchHost(match["alias"], user, base, sshd, NginxPrefix(base / "nginx", owner=user), apps))
        reaped.append(base)
    return reaped


class HostPool:
    """N hosts, ``web01``..``webNN``; a context manager that always tears them all down."""

    def __init__(self, count: int, user: str = BENCH_USER) -> None:
        self.count = count
        self.user = user
        self.hosts: list[BenchHost] = []

    def __enter__(self) -> list[BenchHost]:
        ensure_deploy_user(self.user)
        try:
            for index in range(1, self.count + 1):
                self.hosts.append(start_host(f"web{index:02d}", self.user))
        except BaseException:
            self.close()
            raise
        return self.hosts

    def close(self) -> list[str]:
        problems = [p for host in reversed(self.hosts) for p in stop_host(host)]
        self.hosts = []
        try:
            BENCH_ROOT.rmdir()  # only when no other run's hosts are in it
        except OSError:
            pass
        return problems

    def __exit__(self, *exc: object) -> None:
        # A second Ctrl-C must not cut the teardown short and leave processes behind.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for problem in self.close():
                print(f"  teardown: {problem}", flush=True)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
