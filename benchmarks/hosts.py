"""The benchmark's hosts: booted Debian 12 servers (`tests.servers`), Debian's nginx on each.

`HostPool` opens a `ServerLab`, boots ``web01``..``webNN`` over the cached nginx layer in
parallel, and makes each a deploy target (user ``deploy``: key login, passwordless sudo).
Every deployer gets its own app on every server (root ``/srv/bench/hello-<deployer>``, nginx
site ``hello-<deployer>``, its own port), so the three deployers can take turns run by run,
all of them against the same Debian nginx (sites under /etc/nginx, ``systemctl reload`` through
sudo). Leaving the pool stops the lab, whose `close` asserts that nothing is left.

Round trips are counted in each server's sshd log. Before boot, every server gets a drop-in
``/etc/ssh/sshd_config.d/90-wsgibench.conf`` (``LogLevel VERBOSE``: one ``Starting session:``
line per channel) and an ``ssh.service`` drop-in that adds ``-E /var/log/wsgibench-sshd.log``,
so sshd (and the per-connection children, which inherit the file) write that file, which this
machine reads through the overlay (`Server.root`). The benchmark's own root logins (`stop_app`,
the facts) are sessions too; they never fall between the two readings around a timed command.
"""
from __future__ import annotations

import shlex
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers import ServerLab
from tests.servers.deploy_target import DeployTarget, make_target
from tests.servers.lab import reap_stale as reap_stale_sessions
from tests.servers.machine import Server

FRONT = "nginx"
APPS_DIR = "/srv/bench"  # owned by the deploy user: a cold deploy finds no app root and makes it
DEPLOYERS = ("wsgideploy", "floor", "naive", "pyproject", "hup", "large", "floorlarge")
# beside Debian's default site on 80; "pyproject": wsgideploy with the same app as a pyproject-only package;
# "hup": the HUP floor; "large" and "floorlarge": wsgideploy and the floor with benchmarks/large_app
HTTP_PORTS = {"wsgideploy": 8081, "floor": 8082, "naive": 8083, "pyproject": 8084, "hup": 8085,
              "large": 8086, "floorlarge": 8087}
SSHD_LOG = "/var/log/wsgibench-sshd.log"
SSHD_CONFIG_DROP_IN = "etc/ssh/sshd_config.d/90-wsgibench.conf"
SSH_SERVICE_DROP_IN = "etc/systemd/system/ssh.service.d/90-wsgibench.conf"


@dataclass(frozen=True)
class AppSite:
    """One deployer's app on one host: its name (nginx site file), root (on the server) and port."""

    name: str
    root: str
    http_port: int

    @property
    def run_dir(self) -> str:
        return f"{self.root}/shared/run"


@dataclass(frozen=True)
class BenchHost:
    """One booted server as a deploy target, with an app per deployer."""

    alias: str
    target: DeployTarget
    apps: dict[str, AppSite]

    @property
    def server(self) -> Server:
        return self.target.server

    @property
    def address(self) -> str:
        return self.target.address

    @property
    def user(self) -> str:
        return self.target.user

    def app(self, deployer: str) -> AppSite:
        return self.apps[deployer]

    def host_table(self) -> dict[str, Any]:
        """The ``[hosts.<alias>]`` table of an inventory (the server's address, port 22, ``deploy``)."""
        return self.target.host_table()

    def nginx_table(self) -> dict[str, Any]:
        """The ``[nginx]`` table with Debian's defaults: sites under /etc/nginx, sudo, systemd."""
        return self.target.front_table()

    def local_path(self, remote: str) -> Path:
        """A path on the server as this machine sees it (through the overlay mount)."""
        return self.server.root / remote.lstrip("/")

    def run(self, command: str, timeout: float = 120) -> str:
        """Run ``command`` as root on the server (its own ssh session); return its stdout."""
        return self.server.run(command, timeout=timeout).stdout

    def sessions_started(self) -> int:
        """How many SSH sessions (one remote command or SFTP subsystem each) sshd has started.

        sshd logs ``Starting session:`` once per channel at LogLevel VERBOSE; the difference of
        two readings is the round trips of what ran in between, whoever the client was.
        """
        try:
            text = self.local_path(SSHD_LOG).read_text(errors="replace")
        except OSError:
            return 0
        return text.count("Starting session:")


def write_sshd_logging(server: Server) -> None:
    """Before boot: sshd at LogLevel VERBOSE, logging to `SSHD_LOG` (see the module's doc)."""
    config = server.root / SSHD_CONFIG_DROP_IN
    config.write_text("# wsgideploy benchmark: one 'Starting session:' line per channel\nLogLevel VERBOSE\n")
    unit = server.root / SSH_SERVICE_DROP_IN
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text("# wsgideploy benchmark: sshd's log in a file the benchmark reads through the overlay\n"
                    "[Service]\nExecStart=\n"
                    f"ExecStart=/usr/sbin/sshd -D $SSHD_OPTS -E {SSHD_LOG}\n")


def boot_host(lab: ServerLab, alias: str) -> BenchHost:
    """Boot one server over Debian's nginx with sshd's session log, and make it a deploy target."""
    server = lab.new_server(alias, FRONT)
    write_sshd_logging(server)
    server.boot()
    target = make_target(lab, server, front=FRONT, app_root=APPS_DIR)
    apps = {d: AppSite(name=f"hello-{d}", root=f"{APPS_DIR}/hello-{d}", http_port=HTTP_PORTS[d])
            for d in DEPLOYERS}
    for site in apps.values():  # wsgideploy runs each app as its own user, which `setup` would create
        target.add_app_user(site.name)
    host = BenchHost(alias=alias, target=target, apps=apps)
    if "Starting session:" not in host.local_path(SSHD_LOG).read_text(errors="replace"):
        raise RuntimeError(f"{alias}: sshd logs no 'Starting session:' in {SSHD_LOG}: round trips cannot be counted")
    return host


def stop_app_script(site: AppSite, sites_available: str, sites_enabled: str) -> str:
    """The root script that stops one app's gunicorn (by its pidfiles, then any process still
    running from its root, by pid) and removes its root and nginx site."""
    root = shlex.quote(site.root)
    return f"""set -u
root={root}
pids=
for f in "$root"/shared/run/*.pid "$root"/shared/run/*.pid.2; do
  [ -s "$f" ] || continue
  pid=$(tr -dc 0-9 < "$f")
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && pids="$pids $pid"
done
for _ in $(seq 150); do
  alive=
  for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=yes; done
  [ -z "$alive" ] && break
  sleep 0.1
done
for proc in /proc/[0-9]*; do
  [ "${{proc#/proc/}}" = "$$" ] && continue
  if tr '\\0' ' ' < "$proc/cmdline" 2>/dev/null | grep -qF "$root/"; then kill -KILL "${{proc#/proc/}}" 2>/dev/null || true; fi
done
rm -rf "$root"
rm -f {shlex.quote(f"{sites_enabled}/{site.name}")} {shlex.quote(f"{sites_available}/{site.name}")}
"""


def stop_app(host: BenchHost, site: AppSite) -> None:
    """Stop one app's server and remove its root and nginx site: an empty host for it (over ssh as
    root). nginx keeps running and is not reloaded: the next deploy reloads it, as on a real host."""
    table = host.nginx_table()
    host.run(stop_app_script(site, table["sites_available"], table["sites_enabled"]), timeout=60)


def host_facts(host: BenchHost) -> list[tuple[str, str]]:
    """What the hosts run, asked on one of them: Debian, systemd, Python, nginx, OpenSSH."""
    def ask(command: str) -> str:
        done = host.server.run(command, check=False, timeout=30)
        lines = (done.stdout + done.stderr).strip().splitlines()
        return lines[0].strip() if lines else "?"
    debian = ask("cat /etc/debian_version")
    systemd = ask("systemctl --version")
    return [
        ("hosts", (f"booted Debian {debian} servers (systemd-nspawn, {systemd.split('(')[0].strip()} as PID 1), "
                   "all on this machine, one bridge, key login as `deploy` (passwordless sudo)")),
        ("Python (hosts: venvs, gunicorn)", ask("python3 --version")),
        ("nginx (hosts: Debian's, under systemd)", ask("nginx -v").replace("nginx version: ", "")),
        ("OpenSSH (hosts' sshd)", ask("dpkg-query -W -f '${Version}' openssh-server")),
    ]


def reap_stale() -> list[str]:
    """Tear down the server sessions of earlier runs whose process is gone (the lab's own reaping)."""
    return reap_stale_sessions()


class HostPool:
    """N booted servers, ``web01``..``webNN``; a context manager that always stops them all."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.lab: ServerLab | None = None
        self.hosts: list[BenchHost] = []

    def __enter__(self) -> list[BenchHost]:
        self.lab = ServerLab()
        try:
            self.lab.open()
            aliases = [f"web{index:02d}" for index in range(1, self.count + 1)]
            with ThreadPoolExecutor(max_workers=len(aliases)) as pool:
                self.hosts = list(pool.map(lambda alias: boot_host(self.lab, alias), aliases))
        except BaseException:
            self.close()
            raise
        return self.hosts

    def close(self) -> list[str]:
        """Stop the lab (every server, the proxy, the bridge); return what it says was left."""
        lab, self.lab, self.hosts = self.lab, None, []
        if lab is None:
            return []
        try:
            lab.close()
        except Exception as exc:  # noqa: BLE001 - report it, like the old per-host teardown
            return [str(exc)]
        return []

    def __exit__(self, *exc: object) -> None:
        # A second Ctrl-C must not cut the teardown short and leave servers behind.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for problem in self.close():
                print(f"  teardown: {problem}", flush=True)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

