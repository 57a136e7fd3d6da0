"""The targets of issues 5 and 16, each measured in one run: its value, its limit and PASS or MISS."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .fleet_report import cpu_per_extra_host
from .scenarios import SCENARIO_TITLES, Measurements


@dataclass(frozen=True)
class Target:
    """One goal (issues 5 and 16), measured in this run."""

    text: str
    value: float | None
    limit: float
    unit: str  # "x" (a ratio), "s" or "n" (a count)
    reference: str = ""  # what the floor measured for the same ratio, for context
    # what it measures, for the analysis of a miss: "floor", "hup", "load", "failed", "scaling", "seconds",
    # "cpu" or "package"
    kind: str = ""
    floor: float | None = None  # a scaling target's: the floor's own N-host ÷ 1-host ratio

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "n/a"
        return "PASS" if self.value <= self.limit else "MISS"

    def shown(self) -> str:
        if self.value is None:
            return "not measured"
        if self.unit == "n":
            return f"{self.value:.0f} (limit {self.limit:g})" + (f"; {self.reference}" if self.reference else "")
        unit = "×" if self.unit == "x" else " s"
        return f"{self.value:.3f}{unit} (limit {self.limit:g}{unit})" + (f"; {self.reference}" if self.reference else "")


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def targets(m: Measurements, host_counts: Sequence[int]) -> list[Target]:
    med = m.median_seconds
    found: list[Target] = []
    if 1 in host_counts:
        for scenario in ("code", "rollback"):
            found.append(Target(f"{SCENARIO_TITLES[scenario]}, 1 host: wsgideploy ÷ floor",
                                ratio(med(scenario, 1, "wsgideploy"), med(scenario, 1, "floor")), 1.2, "x",
                                kind="floor"))
        found.append(Target("code-only redeploy, 1 host: wsgideploy ÷ HUP floor",
                            ratio(med("code", 1, "wsgideploy"), med("code", 1, "hup")), 1.6, "x", kind="hup"))
    for n in host_counts:
        plural = "s" if n > 1 else ""
        found.append(Target(f"cold deploy, {n} host{plural}: wsgideploy ÷ floor",
                            ratio(med("cold", n, "wsgideploy"), med("cold", n, "floor")), 1.05, "x", kind="floor"))
        found.append(Target(f"code-only redeploy, {n} host{plural}: wsgideploy under load ÷ idle",
                            ratio(med("load", n, "wsgideploy"), med("code", n, "wsgideploy")), 1.5, "x",
                            _load_reference(m, n), kind="load"))
        failed, sent = m.failed_requests("load", n, "wsgideploy")
        if sent:
            found.append(Target(f"requests failed during wsgideploy's deploys under load, {n} host{plural}",
                                float(failed), 0, "n", f"of {sent} sent", kind="failed"))
    if 1 in host_counts:
        for n in (n for n in host_counts if n > 1):
            for scenario in SCENARIO_TITLES:
                floor = ratio(med(scenario, n, "floor"), med(scenario, 1, "floor"))
                found.append(Target(f"{SCENARIO_TITLES[scenario]}: wsgideploy {n} hosts ÷ 1 host",
                                    ratio(med(scenario, n, "wsgideploy"), med(scenario, 1, "wsgideploy")),
                                    1.5, "x", f"the floor: {floor:.2f}×" if floor else "", kind="scaling",
                                    floor=floor))
        found.append(Target("code-only redeploy, 1 host, wsgideploy", med("code", 1, "wsgideploy"), 2.0, "s",
                            kind="seconds"))
        found.append(Target(f"controller CPU per host beyond the first ({max(host_counts)} hosts, code-only), seconds",
                            cpu_per_extra_host(m, host_counts), 0.020, "s", kind="cpu"))
        found.append(Target("code-only redeploy, 1 host: pyproject-only app ÷ the same app with requirements.txt",
                            ratio(med("code", 1, "pyproject"), med("code", 1, "wsgideploy")), 1.3, "x",
                            kind="package"))
    return [t for t in found if t.value is not None]


def _load_reference(m: Measurements, n: int) -> str:
    """The floor's and the naive fabfile's ratio under load, and their failed requests, for context."""
    parts = []
    for deployer in ("floor", "naive"):
        under_load = ratio(m.median_seconds("load", n, deployer), m.median_seconds("code", n, deployer))
        failed, sent = m.failed_requests("load", n, deployer)
        if under_load is not None:
            parts.append(f"{deployer} {under_load:.2f}× ({failed} of {sent} requests failed)")
    return ", ".join(parts)
