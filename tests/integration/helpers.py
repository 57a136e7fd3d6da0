"""Helpers for the integration tests: simulated hosts, HTTP, app copies, SSH.

Import them in a test module with ``from .helpers import ...`` when ``tests/`` and
``tests/integration/`` are packages (have ``__init__.py``), or ``from helpers import ...`` when
they are not (pytest then puts ``tests/integration`` on ``sys.path``). The fixtures that use them
live in ``tests/integration/conftest.py``.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import pytest

from tests.hosts.files import make_dir
from tests.hosts.nginx import NginxPrefix
from tests.hosts.ports import free_port
from tests.hosts.processes import (
    ProcInfo,
    kill_pids,
    pid_alive,
    processes_under,
    stop_pidfile,
)
from tests.hosts.sshd import SshdHost, start_sshd

PROJECT = Path(__file__).resolve().parents[2]
HELLO_APP = PROJECT / "examples" / "hello"
TEST_USER = "wsgitest"
TESTS_ROOT = Path("/srv/wsgideploy-tests")
LOCK_FILE = Path("/tmp/wsgideploy-tests.lock")
NGINX_BINARY = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/nginx"

# The start of a Python script run on a test server (``python3 -c SCRIPT PORT ...``): ``get()`` asks the front
# server on 127.0.0.1:PORT for /info and returns the status. Each call is a new connection.
ON_SERVER_GET = r"""
import os, sys, time, urllib.error, urllib.request
port = sys.argv.pop(1)
def get():
    try:
        return urllib.request.urlopen("http://127.0.0.1:%s/info" % port, timeout=5).status
    except urllib.error.HTTPError as exc:
        return exc.code
"""


@dataclass(frozen=True)
class TestHost:
    """One simulated host: its own sshd, nginx prefix and app root under ``base``.

    Everything runs as `user` (``wsgitest``, passwordless sudo) on 127.0.0.1.
    """

    __test__ = False  # not a test class, despite its name

    alias: str
    user: str
    ssh_port: int
    http_port: int
    identity: Path
    known_hosts: Path
    app_root: Path
    nginx_prefix: Path
    nginx_conf: Path
    base: Path
    sshd: SshdHost = field(repr=False)
    nginx: NginxPrefix = field(repr=False)

    def host_table(self) -> dict[str, Any]:
        """The ``[hosts.<alias>]`` table of an inventory."""
        return {
            "hostname": "127.0.0.1",
            "port": self.ssh_port,
            "user": self.user,
            "identity": str(self.identity),
            "known_hosts": str(self.known_hosts),
        }

    def nginx_table(self) -> dict[str, Any]:
        """The ``[nginx]`` table for this host's private nginx prefix (run as `user`, no sudo).

        ``binary`` is absolute because /usr/sbin is not on the PATH of a non-root SSH session.
        """
        return {
            "sites_available": str(self.nginx.sites_available),
            "sites_enabled": str(self.nginx.sites_enabled),
            "conf": str(self.nginx_conf),
            "binary": NGINX_BINARY,
            "sudo": False,
            "control": "signal",
        }

    @property
    def run_dir(self) -> Path:
        """``<app_root>/shared/run``: the app server's pidfiles and sockets."""
        return self.app_root / "shared" / "run"


def start_host(user: str, alias: str = "web1", attempts: int = 5) -> TestHost:
    """Create ``/srv/wsgideploy-tests/<unique>/`` and start its sshd; prepare its nginx prefix.

    A port taken between `free_port` and sshd's bind is retried with another port.
    """
    make_dir(TESTS_ROOT, owner=None, mode=0o755)
    base = TESTS_ROOT / f"{alias}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    make_dir(base, owner=user, mode=0o755)
    nginx = NginxPrefix(base / "nginx", owner=user)
    try:
        nginx.prepare()
        sshd = start_sshd(base / "ssh", user, alias, attempts)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    return TestHost(
        alias=alias, user=user, ssh_port=sshd.port, http_port=free_port(),
        identity=sshd.identity, known_hosts=sshd.known_hosts, app_root=base / "app",
        nginx_prefix=nginx.prefix, nginx_conf=nginx.conf, base=base, sshd=sshd, nginx=nginx,
    )


def _stop_apache(host: TestHost) -> None:
    """Stop the host's own Apache (tests of the Apache modes start one), by its pidfile."""
    if (host.base / "apache").exists():
        from tests.hosts.apache import ApachePrefix
        ApachePrefix(host.base / "apache").stop()


def _stop_lighttpd(host: TestHost) -> None:
    """Stop the host's own lighttpd (tests of the FastCGI mode start one), by its pidfile."""
    if (host.base / "lighttpd").exists():
        from tests.hosts.lighttpd import LighttpdPrefix
        LighttpdPrefix(host.base / "lighttpd", port=0).stop()


def stop_host(host: TestHost) -> list[str]:
    """Tear ``host`` down; return the problems found (empty when it was clean).

    In order: the app server's pidfiles (``<app_root>/shared/run/*.pid`` and ``*.pid.2``),
    nginx, sshd, then any process whose cwd or command line still mentions ``base`` (each
    killed by pid and reported), then ``rm -rf base``.
    """
    problems: list[str] = []
    pidfiles: list[Path] = []
    if host.run_dir.is_dir():
        pidfiles = sorted([*host.run_dir.glob("*.pid"), *host.run_dir.glob("*.pid.2")])
    steps: list[tuple[str, Callable[[], object]]] = [
        *[(f"stop {p.name}", lambda p=p: stop_pidfile(p, signal.SIGTERM, 15.0, expect=str(host.base)))
          for p in pidfiles],
        ("stop nginx", host.nginx.stop),
        ("stop apache", lambda: _stop_apache(host)),
        ("stop lighttpd", lambda: _stop_lighttpd(host)),
        ("stop sshd", host.sshd.stop),
    ]
    for what, step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - keep tearing down, report at the end
            problems.append(f"{host.alias}: {what} failed: {exc}")
    leftovers: list[ProcInfo] = processes_under(host.base)
    if leftovers:
        survivors = kill_pids([p.pid for p in leftovers])
        problems.append(
            f"{host.alias}: processes left running under {host.base} (killed):\n"
            + "\n".join(f"    pid {p.pid} uid {p.uid} cwd {p.cwd} cmd {p.cmdline}" for p in leftovers)
            + (f"\n    and these survived SIGKILL: {survivors}" if survivors else ""))
    try:
        shutil.rmtree(host.base)
    except FileNotFoundError:
        pass
    except OSError as exc:
        problems.append(f"{host.alias}: rm -rf {host.base} failed: {exc}")
    return problems


_BASE_NAME = re.compile(r"^(?P<alias>.+)-(?P<pid>\d+)-[0-9a-f]{8}$")


def reap_stale_hosts(user: str) -> list[Path]:
    """Tear down hosts left in `TESTS_ROOT` by test processes that died without their teardown
    (``kill -9``, a crashed xdist worker): those whose creating pid is no longer alive.

    Returns the directories removed. Hosts of live test processes are never touched.
    """
    reaped: list[Path] = []
    if not TESTS_ROOT.is_dir():
        return reaped
    for base in sorted(TESTS_ROOT.iterdir()):
        match = _BASE_NAME.match(base.name)
        if not base.is_dir() or not match or pid_alive(int(match["pid"])):
            continue
        nginx = NginxPrefix(base / "nginx", owner=user)
        sshd = SshdHost(base / "ssh", user, 0)  # stop() needs only the pidfile and config path
        stale = TestHost(alias=match["alias"], user=user, ssh_port=0, http_port=0,
                         identity=sshd.identity, known_hosts=sshd.known_hosts, app_root=base / "app",
                         nginx_prefix=nginx.prefix, nginx_conf=nginx.conf, base=base, sshd=sshd, nginx=nginx)
        stop_host(stale)
        reaped.append(base)
    return reaped


@contextlib.contextmanager
def host_factory(user: str) -> Iterator[Callable[..., TestHost]]:
    """Yield ``make_host(alias="web1") -> TestHost``; on exit tear every host down.

    The teardown always runs; if it finds leftovers it fails the test (``pytest.fail``)
    with the list, after killing them and removing the hosts' directories.
    """
    made: list[TestHost] = []

    def make_host(alias: str = "web1") -> TestHost:
        host = start_host(user, alias)
        made.append(host)
        return host

    try:
        yield make_host
    finally:
        problems = [p for host in reversed(made) for p in stop_host(host)]
        if problems:
            pytest.fail("simulated host teardown:\n" + "\n".join(problems), pytrace=False)


# --- HTTP, apps, SSH -------------------------------------------------------------------------

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(port: int, path: str = "/", host: str = "localhost", timeout: float = 5) -> tuple[int, str]:
    """GET ``http://127.0.0.1:<port><path>`` with ``Host: <host>``; return (status, body).

    4xx/5xx come back as a status, not an exception; connection errors raise (``URLError``).
    Proxy environment variables are ignored.
    """
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    try:
        with _NO_PROXY.open(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode("utf-8", "replace")


_VERSION_LINE = re.compile(r'^VERSION = "[^"\n]*"$', re.MULTILINE)


# Appended to the example's app.py: its index answers once (the check's probe on the new instance's own socket),
# then raises. A release that fails its health check only after the switch, through the front server.
INDEX_ONCE = '''

_index_first = app.view_functions["index"]


def _index_once():
    answered = "/tmp/answered-" + RELEASE
    if os.path.exists(answered):
        raise RuntimeError("this release answers its index once")
    open(answered, "w").close()
    return _index_first()


app.view_functions["index"] = _index_once
'''


def copy_app(src: Path, dest: Path, version: str | None = None,
             extra_requirements: Sequence[str] = ()) -> Path:
    """Copy the app directory ``src`` to ``dest``; optionally set ``VERSION = "<version>"`` in
    ``app.py`` and append lines to ``requirements.txt``. Returns ``dest``."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if version is not None:
        app_py = dest / "app.py"
        text, count = _VERSION_LINE.subn(f'VERSION = "{version}"', app_py.read_text())
        if count != 1:
            raise ValueError(f"{app_py}: expected exactly one VERSION = \"...\" line, found {count}")
        app_py.write_text(text)
    if extra_requirements:
        req = dest / "requirements.txt"
        existing = req.read_text() if req.exists() else ""
        if existing and not existing.endswith("\n"):
            existing += "\n"
        req.write_text(existing + "".join(f"{line}\n" for line in extra_requirements))
    return dest


def ssh_run(host: TestHost, command: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run ``command`` on ``host`` as its user over a fresh SSH connection (host key pinned).

    Returns (exit status, stdout, stderr). Standard input is closed.
    """
    import paramiko

    client = paramiko.SSHClient()
    client.load_host_keys(str(host.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect("127.0.0.1", port=host.ssh_port, username=host.user, key_filename=str(host.identity),
                   look_for_keys=False, allow_agent=False, timeout=10, banner_timeout=10, auth_timeout=10)
    try:
        stdin, stdout, stderr = client.exec_command(command, timeout=timeout)
        stdin.channel.shutdown_write()
        out = stdout.read().decode("utf-8", "replace")
        err = stderr.read().decode("utf-8", "replace")
        return stdout.channel.recv_exit_status(), out, err
    finally:
        client.close()
