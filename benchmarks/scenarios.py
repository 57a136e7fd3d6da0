"""The scenarios, run the same way for every deployer, taking turns run by run.

- ``cold``: the deployer's app root is gone (no releases, no venv), its app server stopped and
  its nginx site removed; Debian's nginx itself keeps running (it serves the other deployers' sites)
  and pip's caches are as warm as earlier runs left them. Then a deploy.
- ``code``: a new ``VERSION`` in app.py, then a deploy (the venv is reused).
- ``requirements``: requirements.txt changes (a new venv key: a new venv is built), then a deploy.
- ``rollback``: an untimed code-only deploy, then a timed rollback to the release before it.
- ``load``: ``code`` while a bounded stream of requests runs through every host's nginx (`LOAD`: threads
  that each keep one ``/work?ms=...`` request in flight, more than the app's workers can take at once, so
  every worker is busy when the deploy starts); every request must succeed.

After every timed command each host must serve the expected version over HTTP, through its
nginx, or the run fails: a fast broken deploy must not win.
"""
from __future__ import annotations

import re
import statistics
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

from tests.integration.load import RequestStream

from .deployers import Deployer, Outcome
from .hosts import BenchHost, stop_app
from .workload import release_id

SCENARIOS = ("cold", "code", "requirements", "rollback", "load")
SCENARIO_TITLES = {"cold": "cold deploy", "code": "code-only redeploy",
                   "requirements": "requirements-change redeploy", "rollback": "rollback",
                   "load": "code-only redeploy under load"}
# The load: per host, 4 threads each with one 200 ms request in flight (the apps run 2 sync workers), a
# new connection per request; bounded in count and time, it ends by itself.
LOAD = {"path": "/work?ms=200", "threads": 4, "max_requests": 5000, "max_seconds": 180.0, "timeout": 30.0}

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class WrongVersion(Exception):
    """A host did not serve the version the last command should have made live."""


def served_version(address: str, port: int, timeout: float = 5) -> str:
    """The version the example app says it is, through the host's nginx on ``port``."""
    request = urllib.request.Request(f"http://{address}:{port}/", headers={"Host": "localhost"})
    try:
        with _NO_PROXY.open(request, timeout=timeout) as response:
            body = response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        return f"(no answer: {exc})"
    match = re.search(r"version (\S+?)</h1>", body)
    return match.group(1) if match else f"(unexpected page: {body[:80]!r})"


def verify(deployer: Deployer, version: str) -> None:
    wrong = {h.alias: got for h in deployer.hosts
             if (got := served_version(h.address, h.app(deployer.name).http_port)) != version}
    if wrong:
        raise WrongVersion(f"{deployer.name}: expected version {version}, got " +
                           ", ".join(f"{a}: {v}" for a, v in sorted(wrong.items())))


@dataclass
class Measurements:
    """Every timed outcome, by (scenario, host count, deployer)."""

    outcomes: dict[tuple[str, int, str], list[Outcome]] = field(default_factory=dict)

    def to_json(self) -> list[dict]:
        """Every outcome as plain data (for ``benchmarks/results/*.json``)."""
        return [{"scenario": s, "hosts": n, "deployer": d, **asdict(o)}
                for (s, n, d), found in self.outcomes.items() for o in found]

    @classmethod
    def from_json(cls, rows: list[dict]) -> "Measurements":
        m = cls()
        for row in rows:
            m.add(row["scenario"], int(row["hosts"]), row["deployer"],
                  Outcome(float(row["seconds"]), dict(row["round_trips"]), dict(row.get("steps", {})),
                          dict(row.get("sshd_sessions", {})), int(row.get("requests", 0)),
                          int(row.get("failed_requests", 0)), float(row.get("controller_cpu", 0.0))))
        return m

    def add(self, scenario: str, hosts: int, deployer: str, outcome: Outcome) -> None:
        self.outcomes.setdefault((scenario, hosts, deployer), []).append(outcome)

    def median_seconds(self, scenario: str, hosts: int, deployer: str) -> float | None:
        found = self.outcomes.get((scenario, hosts, deployer))
        return statistics.median(o.seconds for o in found) if found else None

    def median_cpu(self, scenario: str, hosts: int, deployer: str) -> float | None:
        """The median CPU seconds the deploying side spent (`Outcome.controller_cpu`), if measured."""
        found = [o.controller_cpu for o in self.outcomes.get((scenario, hosts, deployer), []) if o.controller_cpu]
        return statistics.median(found) if found else None

    def failed_requests(self, scenario: str, hosts: int, deployer: str) -> tuple[int, int]:
        """(failed, sent) requests over every run of ``scenario`` (the load scenario's)."""
        found = self.outcomes.get((scenario, hosts, deployer), [])
        return sum(o.failed_requests for o in found), sum(o.requests for o in found)

    def round_trips(self, scenario: str, hosts: int, deployer: str) -> int | None:
        """Round trips per host: the median over runs of the busiest host's count."""
        found = self.outcomes.get((scenario, hosts, deployer))
        if not found:
            return None
        return int(statistics.median(max(o.round_trips.values()) for o in found))

    def step_medians(self, scenario: str, hosts: int, deployer: str) -> dict[str, float]:
        """wsgideploy: the median (over runs, of the mean over hosts) seconds of each step."""
        per_step: dict[str, list[float]] = {}
        for outcome in self.outcomes.get((scenario, hosts, deployer), []):
            sums: dict[str, list[float]] = {}
            for steps in outcome.steps.values():
                for step in steps:
                    sums.setdefault(step["name"], []).append(float(step["seconds"]))
            for name, values in sums.items():
                per_step.setdefault(name, []).append(sum(values) / len(values))
        return {name: statistics.median(values) for name, values in per_step.items()}


class Driver:
    """Runs the scenarios for one set of hosts, the deployers taking turns."""

    def __init__(self, hosts: Sequence[BenchHost], deployers: Sequence[Deployer], runs: int,
                 results: Measurements, log: Callable[[str], None]) -> None:
        self.hosts = list(hosts)
        self.deployers = list(deployers)
        self.runs = runs
        self.results = results
        self.log = log
        self._last_release: dict[str, str] = {}

    def _release(self, deployer: Deployer) -> str:
        """A new timestamp id, later than this deployer's last one (ids have one-second steps)."""
        while (rid := release_id()) <= self._last_release.get(deployer.name, ""):
            time.sleep(0.05)
        self._last_release[deployer.name] = rid
        return rid

    def _deploy(self, deployer: Deployer, change: Callable[[], None] | None = None) -> Outcome:
        if change:
            change()
        version = deployer.app.next_version()
        outcome = deployer.deploy(self._release(deployer))
        verify(deployer, version)
        deployer.app.deployed(version)
        return outcome

    def _wipe(self, deployer: Deployer) -> None:
        for host in self.hosts:
            stop_app(host, host.app(deployer.name))

    def warm_up(self) -> None:
        """One untimed deploy each: a live release for scenarios that need one, and pip's cache on
        every host warm for all deployers alike (the servers boot fresh for each host count)."""
        for deployer in self.deployers:
            self._deploy(deployer)
            self.log(f"    warm-up {deployer.name}: ok")

    def step(self, scenario: str, deployer: Deployer) -> Outcome:
        if scenario == "cold":
            self._wipe(deployer)
            return self._deploy(deployer)
        if scenario == "code":
            return self._deploy(deployer)
        if scenario == "requirements":
            return self._deploy(deployer, deployer.app.change_requirements)
        if scenario == "load":
            return self._under_load(deployer)
        if scenario == "rollback":
            self._deploy(deployer)
            expected = deployer.app.rolled_back()
            outcome = deployer.rollback()
            verify(deployer, expected)
            return outcome
        raise ValueError(f"unknown scenario {scenario!r}")

    def _under_load(self, deployer: Deployer) -> Outcome:
        """A code-only deploy while `LOAD` runs through each host's nginx; the requests' outcome recorded."""
        streams = [RequestStream(h.app(deployer.name).http_port, LOAD["path"], address=h.address,
                                 threads=int(LOAD["threads"]), max_requests=int(LOAD["max_requests"]),
                                 max_seconds=float(LOAD["max_seconds"]), timeout=float(LOAD["timeout"]))
                   for h in self.hosts]
        for stream in streams:
            stream.start()
        try:
            time.sleep(1.0)  # every worker busy, connections queued
            outcome = self._deploy(deployer)
            time.sleep(0.5)
        finally:
            for stream in streams:
                stream.stop()
        outcome.requests = sum(s.count for s in streams)
        outcome.failed_requests = sum(len(s.failures) for s in streams)
        if outcome.failed_requests:
            first = min((f for s in streams for f in s.failures), key=lambda r: r.started)
            self.log(f"    {deployer.name}: {outcome.failed_requests} of {outcome.requests} requests failed, "
                     f"the first: {first.describe(streams[0].started_at or 0.0)}")
        return outcome

    def run(self, scenarios: Sequence[str]) -> None:
        count = len(self.hosts)
        for scenario in scenarios:
            for index in range(self.runs):
                # rotate who goes first, so no deployer always runs right after another's pip
                taking_part = [d for d in self.deployers if d.scenarios is None or scenario in d.scenarios]
                if not taking_part:
                    break
                shift = index % len(taking_part)
                order = taking_part[shift:] + taking_part[:shift]
                parts = []
                for deployer in order:
                    outcome = self.step(scenario, deployer)
                    self.results.add(scenario, count, deployer.name, outcome)
                    trips = max(outcome.round_trips.values())
                    if outcome.sshd_sessions and outcome.sshd_sessions != outcome.round_trips:
                        self.log(f"    note: {deployer.name} reports round trips {outcome.round_trips}, "
                                 f"the sshd logs count {outcome.sshd_sessions}")
                    parts.append(f"{deployer.name} {outcome.seconds:5.2f}s ({trips} rt)")
                self.log(f"  {count:>2} host(s)  {scenario:<12} run {index + 1}/{self.runs}: " + ", ".join(parts))
