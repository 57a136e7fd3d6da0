"""The three ways the benchmark deploys: wsgideploy's CLI, the one-ssh-call floor, the naive fabfile.

Each `Deployer` deploys (or rolls back) its own app on every host of a run, all hosts at
once, and returns an `Outcome`: the wall time of the whole command as a person would wait
for it (process start, local packing, connections, every host finished), and the SSH round
trips each host saw. Round trips are sessions counted in the host's sshd log, for all three
alike; wsgideploy's own count from its JSON document is used when the CLI writes one.
"""
from __future__ import annotations

import io
import json
import os
import re
import shlex
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tests.hosts.toml_writer import toml_dumps

from . import procs
from .configs import CONFIG_DIR, gunicorn_conf, nginx_site
from .hosts import BenchHost
from .workload import EXAMPLE, LARGE, PROJECT, AppCopy

KEEP_RELEASES = 5
SHARED = ("instance",)
PYTHON = "python3"
START_TIMEOUT = 60
COMMAND_TIMEOUT = 600
FLOOR_SCRIPT = Path(__file__).resolve().parent / "floor.sh"
NAIVE_FABFILE = Path(__file__).resolve().parent / "naive_fabfile.py"
# The `fab` of this Python (not a version manager's shim, which adds its own start-up time).
FAB = str(Path(sys.executable).parent / "fab") if (Path(sys.executable).parent / "fab").exists() else "fab"


class DeployFailed(Exception):
    """A deployer's command failed; the message holds its output."""


@dataclass
class Outcome:
    """One timed deploy or rollback over a set of hosts."""

    seconds: float
    round_trips: dict[str, int]
    steps: dict[str, list[dict]] = field(default_factory=dict)  # wsgideploy: per host, from its JSON
    sshd_sessions: dict[str, int] = field(default_factory=dict)  # as counted in the sshd logs
    requests: int = 0         # the load scenario: requests sent through the hosts' nginx during the command
    failed_requests: int = 0  # of which failed (no answer, or not 2xx)
    controller_cpu: float = 0.0  # CPU seconds of the deploying side's processes (fab; each ssh of the floor)


def _sessions(hosts: Sequence[BenchHost]) -> dict[str, int]:
    return {h.alias: h.sessions_started() for h in hosts}


def _sessions_since(hosts: Sequence[BenchHost], before: dict[str, int]) -> dict[str, int]:
    return {h.alias: h.sessions_started() - before[h.alias] for h in hosts}


def _check(finished: procs.Finished, what: str) -> None:
    if finished.returncode != 0:
        raise DeployFailed(f"{what} exited {finished.returncode}\n--- stdout\n{finished.stdout[-4000:]}"
                           f"\n--- stderr\n{finished.stderr[-4000:]}")


class Deployer:
    """What the scenario driver calls; one instance per deployer per host set."""

    name = ""
    scenarios: tuple[str, ...] | None = None  # the scenarios this deployer takes part in (None: all)
    example: Path = EXAMPLE  # the app it ships (a copy of it: `AppCopy`)
    pyproject = False        # that app as a pyproject-only package
    one_host_only = False    # measured on the smallest host count only

    def __init__(self, hosts: Sequence[BenchHost], app: AppCopy, workdir: Path) -> None:
        self.hosts = list(hosts)
        self.app = app
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)

    def deploy(self, release: str) -> Outcome:
        raise NotImplementedError

    def rollback(self) -> Outcome:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


# --- wsgideploy ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CliFeatures:
    """Options the installed ``fab deploy`` has (they land while this benchmark exists)."""

    json_file: bool
    parallel: bool

    @classmethod
    def detect(cls, env: dict[str, str]) -> "CliFeatures":
        text = procs.run([FAB, "deploy", "--help"], env=env, cwd=str(PROJECT), timeout=60).stdout
        return cls(json_file="--json-file" in text, parallel="--parallel" in text)


class WsgideployCli(Deployer):
    """The real CLI on one stage of N hosts: ``fab bench deploy --parallel N --json-file doc.json``.

    Every server carries the three deployers' apps, so this one has its own app root and port
    (``[app]``); nginx is Debian's on every server (``[nginx]``: sites under /etc/nginx, sudo, systemd).
    """

    name = "wsgideploy"
    stage = "bench"

    def __init__(self, hosts: Sequence[BenchHost], app: AppCopy, workdir: Path) -> None:
        super().__init__(hosts, app, workdir)
        self.inventories = workdir / "inventories"
        self.inventories.mkdir(exist_ok=True)
        site = self.hosts[0].app(self.name)
        data = {
            "app": {"name": site.name, "source": str(app.path), "wsgi": "app:app", "root": site.root,
                    "server_name": "localhost", "listen": site.http_port,
                    "shared": list(SHARED), "keep_releases": KEEP_RELEASES, "python": PYTHON,
                    # the floor and the naive fabfile install no logrotate snippet either
                    "logrotate": False},
            "nginx": self.hosts[0].nginx_table(),
            "hosts": {h.alias: h.host_table() for h in self.hosts},
        }
        (self.inventories / f"{self.stage}.toml").write_text(toml_dumps(data))
        # PROJECT first; a PYTHONPATH given to the benchmark stays after it (e.g. a `wsgideploy`
        # package of a clean copy, ahead of an editable install of a working tree)
        path = os.pathsep.join(p for p in (str(PROJECT), os.environ.get("PYTHONPATH", "")) if p)
        self.env = {**os.environ, "WSGIDEPLOY_INVENTORIES": str(self.inventories), "PYTHONPATH": path}
        # Python's byte-code caches, as an installed package has them: the untimed deploys write them (a
        # PYTHONDONTWRITEBYTECODE of this machine's would make every timed command compile the project again)
        for name in ("FABRIC_DEPLOY_STAGE", "PYTHONDONTWRITEBYTECODE"):
            self.env.pop(name, None)
        self.features = CliFeatures.detect(self.env)
        self.doc_path = workdir / "run.json"

    def describe(self) -> str:
        opts = []
        if self.features.parallel and len(self.hosts) > 1:
            opts.append(f"--parallel {len(self.hosts)}")
        if self.features.json_file:
            opts.append("--json-file")
        return f"fab {self.stage} deploy|rollback" + (" " + " ".join(opts) if opts else "")

    def _fab(self, task: str) -> Outcome:
        argv = [FAB, self.stage, task]
        if self.features.parallel and len(self.hosts) > 1:
            argv += ["--parallel", str(len(self.hosts))]
        if self.features.json_file:
            self.doc_path.unlink(missing_ok=True)
            argv += ["--json-file", str(self.doc_path)]
        before = _sessions(self.hosts)
        finished = procs.run(argv, env=self.env, cwd=str(PROJECT), timeout=COMMAND_TIMEOUT)
        _check(finished, " ".join(argv))
        sessions = _sessions_since(self.hosts, before)
        trips = dict(sessions)
        steps = steps_from_output(finished.stdout)
        if self.features.json_file and self.doc_path.exists():
            doc = json.loads(self.doc_path.read_text())
            for alias, host_doc in doc.get("hosts", {}).items():
                if isinstance(host_doc.get("round_trips"), int):
                    trips[alias] = host_doc["round_trips"]
                steps[alias] = list(host_doc.get("steps", []))
        return Outcome(finished.seconds, trips, steps, sessions, controller_cpu=finished.cpu_seconds)

    def deploy(self, release: str) -> Outcome:
        return self._fab("deploy")  # wsgideploy picks its own release id (the same kind of timestamp)

    def rollback(self) -> Outcome:
        return self._fab("rollback")


_STEP_LINE = re.compile(r"^\[(?P<host>[^\]]+)\] (?P<name>\S+)\s+(?P<result>ok|FAILED)\s+(?P<seconds>[0-9.]+)s(?:\s+(?P<detail>.*))?$")


def steps_from_output(stdout: str) -> dict[str, list[dict]]:
    """The steps of wsgideploy's human output (``[web01] venv  ok  0.05s  reused ...``), for a
    CLI without ``--json-file``; the JSON document's steps replace them when there is one."""
    steps: dict[str, list[dict]] = {}
    for line in stdout.splitlines():
        match = _STEP_LINE.match(line.strip())
        if match:
            steps.setdefault(match["host"], []).append(
                {"name": match["name"], "result": match["result"], "seconds": float(match["seconds"]),
                 "detail": match["detail"] or ""})
    return steps


# --- the floor ------------------------------------------------------------------------------

def _app_tar(source: Path, extra: dict[str, str]) -> bytes:
    """The source (minus caches) plus ``extra`` files, as one gzipped tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source)
            if path.is_file() and "__pycache__" not in rel.parts and path.suffix != ".pyc":
                tar.add(path, arcname=rel.as_posix())
        for name, text in extra.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def floor_steps(stdout: str) -> list[dict]:
    """The ``floor-step NAME MICROSECONDS`` lines floor.sh prints, as steps like wsgideploy's."""
    steps = []
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "floor-step" and parts[2].isdigit():
            steps.append({"name": parts[1], "result": "ok", "seconds": int(parts[2]) / 1e6, "detail": ""})
    return steps


def ssh_argv(host: BenchHost, remote_command: str) -> list[str]:
    """OpenSSH, non-interactive, as the deploy user with the lab's key and the server's pinned host
    key, nothing from ~/.ssh."""
    table = host.host_table()
    return ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-i", str(table["identity"]), "-o", f"UserKnownHostsFile={table['known_hosts']}",
            "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=15", "-p", str(table["port"]),
            f"{table['user']}@{table['hostname']}", remote_command]


class Floor(Deployer):
    """benchmarks/floor.sh for each host over one ``ssh`` call, all hosts at once (a process each)."""

    name = "floor"
    reload = "usr2"  # floor.sh's RELOAD

    def describe(self) -> str:
        return "one `ssh host bash -c floor.sh < release.tar.gz` per host, in parallel"

    def _script(self, host: BenchHost, mode: str, release: str) -> str:
        site = host.app(self.name)
        nginx = host.nginx_table()
        values = {"MODE": mode, "ROOT": site.root, "RELEASE": release, "NAME": site.name,
                  "PYTHON": PYTHON, "KEEP": str(KEEP_RELEASES), "SHARED": " ".join(SHARED),
                  "HTTP_PORT": str(site.http_port), "START_TIMEOUT": str(START_TIMEOUT),
                  "SITES_AVAILABLE": nginx["sites_available"], "SITES_ENABLED": nginx["sites_enabled"],
                  "RELOAD": self.reload}
        header = "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items())
        return header + FLOOR_SCRIPT.read_text()

    def _run(self, mode: str, release: str) -> Outcome:
        started = time.monotonic()
        before = _sessions(self.hosts)
        jobs = []
        for host in self.hosts:
            stdin = b""
            if mode == "deploy":
                site = host.app(self.name)
                stdin = _app_tar(self.app.path, {
                    f"{CONFIG_DIR}/gunicorn.conf.py": gunicorn_conf(site.root, site.name),
                    f"{CONFIG_DIR}/nginx.conf": nginx_site(site.root, site.name, site.http_port)})
            argv = ssh_argv(host, "bash -c " + shlex.quote(self._script(host, mode, release)))
            jobs.append((host, procs.start(argv), stdin))
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            results = list(pool.map(lambda job: procs.finish(job[1], started, job[2], COMMAND_TIMEOUT), jobs))
        seconds = time.monotonic() - started
        steps = {}
        for (host, _, _), finished in zip(jobs, results):
            _check(finished, f"floor {mode} on {host.alias}")
            steps[host.alias] = floor_steps(finished.stdout)
        return Outcome(seconds, _sessions_since(self.hosts, before), steps,
                       controller_cpu=sum(f.cpu_seconds for f in results))

    def deploy(self, release: str) -> Outcome:
        return self._run("deploy", release)

    def rollback(self) -> Outcome:
        return self._run("rollback", "")


# --- the naive fabfile ------------------------------------------------------------------------

class Naive(Deployer):
    """``python3 benchmarks/naive_fabfile.py plan.json``: one Fabric ``c.run``/``c.put`` per step,
    a thread per host."""

    name = "naive"

    def describe(self) -> str:
        return "naive_fabfile.py: one c.run/c.put per step, a thread per host"

    def __init__(self, hosts: Sequence[BenchHost], app: AppCopy, workdir: Path) -> None:
        super().__init__(hosts, app, workdir)
        self.host_plans = []
        for host in self.hosts:
            site = host.app(self.name)
            config_dir = workdir / f"configs-{host.alias}"
            config_dir.mkdir(exist_ok=True)
            (config_dir / "gunicorn.conf.py").write_text(gunicorn_conf(site.root, site.name))
            (config_dir / "nginx.conf").write_text(nginx_site(site.root, site.name, site.http_port))
            table, nginx = host.host_table(), host.nginx_table()
            self.host_plans.append({
                "alias": host.alias, "hostname": table["hostname"], "port": table["port"], "user": table["user"],
                "identity": str(table["identity"]), "known_hosts": str(table["known_hosts"]),
                "root": site.root, "name": site.name, "http_port": site.http_port,
                "sites_available": nginx["sites_available"], "sites_enabled": nginx["sites_enabled"],
                "config_dir": str(config_dir)})

    def _run(self, mode: str, release: str) -> Outcome:
        plan = {"mode": mode, "release": release, "source": str(self.app.path), "keep": KEEP_RELEASES,
                "shared": list(SHARED), "python": PYTHON, "hosts": self.host_plans}
        plan_path = self.workdir / "plan.json"
        plan_path.write_text(json.dumps(plan))
        before = _sessions(self.hosts)
        finished = procs.run([sys.executable, str(NAIVE_FABFILE), str(plan_path)], cwd=str(PROJECT),
                             timeout=COMMAND_TIMEOUT)
        _check(finished, f"naive_fabfile.py {mode}")
        return Outcome(finished.seconds, _sessions_since(self.hosts, before), controller_cpu=finished.cpu_seconds)

    def deploy(self, release: str) -> Outcome:
        return self._run("deploy", release)

    def rollback(self) -> Outcome:
        return self._run("rollback", "")


class WsgideployPyproject(WsgideployCli):
    """wsgideploy with the same app as a pyproject-only package (its own stage, root and port): a code-only
    redeploy reuses the dependency venv and installs the package into the release."""

    name = "pyproject"
    stage = "benchpy"
    pyproject = True


class FloorHup(Floor):
    """The HUP floor: floor.sh with ``RELOAD=hup``: no app check before the switch, gunicorn's master
    HUPed (new workers load the new code) instead of upgraded; venv reused. The least a deploy can do."""

    name = "hup"
    reload = "hup"
    scenarios = ("code",)
    one_host_only = True

    def describe(self) -> str:
        return "floor.sh with RELOAD=hup: no app check, `kill -HUP` the master; one ssh per host"


class WsgideployLarge(WsgideployCli):
    """wsgideploy with benchmarks/large_app (about 50 pinned dependencies): cold and code-only."""

    name = "large"
    stage = "benchlarge"
    scenarios = ("cold", "code")
    example = LARGE
    one_host_only = True


class FloorLarge(Floor):
    """The floor with benchmarks/large_app, the comparison for ``large``."""

    name = "floorlarge"
    scenarios = ("cold", "code")
    example = LARGE
    one_host_only = True


DEPLOYER_CLASSES = {cls.name: cls for cls in (Floor, WsgideployCli, Naive, WsgideployPyproject,
                                              FloorHup, WsgideployLarge, FloorLarge)}
