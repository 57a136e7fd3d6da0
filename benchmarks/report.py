"""The report: a table per host count, the targets with PASS/MISS, and docs/performance.md."""
from __future__ import annotations

import platform
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from .scenarios import SCENARIO_TITLES, Measurements

DEPLOYER_ORDER = ("wsgideploy", "floor", "naive")


@dataclass(frozen=True)
class Target:
    """One goal of issue 5, measured in this run."""

    text: str
    value: float | None
    limit: float
    unit: str  # "x" (a ratio) or "s"
    reference: str = ""  # what the floor measured for the same ratio, for context

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "n/a"
        return "PASS" if self.value <= self.limit else "MISS"

    def shown(self) -> str:
        if self.value is None:
            return "not measured"
        unit = "×" if self.unit == "x" else " s"
        return f"{self.value:.2f}{unit} (limit {self.limit:g}{unit})" + (f"; {self.reference}" if self.reference else "")


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def targets(m: Measurements, host_counts: Sequence[int]) -> list[Target]:
    med = m.median_seconds
    found: list[Target] = []
    if 1 in host_counts:
        for scenario in ("code", "rollback"):
            found.append(Target(f"{SCENARIO_TITLES[scenario]}, 1 host: wsgideploy ÷ floor",
                                _ratio(med(scenario, 1, "wsgideploy"), med(scenario, 1, "floor")), 1.5, "x"))
    for n in host_counts:
        found.append(Target(f"cold deploy, {n} host{'s' if n > 1 else ''}: wsgideploy ÷ floor",
                            _ratio(med("cold", n, "wsgideploy"), med("cold", n, "floor")), 1.1, "x"))
    many = [n for n in host_counts if n > 1]
    if 1 in host_counts:
        for n in many:
            for scenario in SCENARIO_TITLES:
                floor = _ratio(med(scenario, n, "floor"), med(scenario, 1, "floor"))
                found.append(Target(f"{SCENARIO_TITLES[scenario]}: wsgideploy {n} hosts ÷ 1 host",
                                    _ratio(med(scenario, n, "wsgideploy"), med(scenario, 1, "wsgideploy")),
                                    1.5, "x", f"the floor: {floor:.2f}×" if floor else ""))
        found.append(Target("code-only redeploy, 1 host, wsgideploy", med("code", 1, "wsgideploy"), 2.0, "s"))
    return [t for t in found if t.value is not None]


def _fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{suffix}"


def table(m: Measurements, host_count: int, scenarios: Sequence[str]) -> str:
    """A markdown table: median seconds, ratios to the floor, round trips per host."""
    med = m.median_seconds
    lines = [f"**{host_count} host{'s' if host_count > 1 else ''}** (median seconds of "
             f"{_runs(m, host_count)} runs)", "",
             "| scenario | wsgideploy | floor | naive | wsgideploy ÷ floor | naive ÷ floor "
             "| round trips per host (wsgideploy / floor / naive) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for scenario in scenarios:
        wd, fl, nv = (med(scenario, host_count, d) for d in DEPLOYER_ORDER)
        trips = " / ".join(_fmt_int(m.round_trips(scenario, host_count, d)) for d in DEPLOYER_ORDER)
        lines.append(f"| {SCENARIO_TITLES[scenario]} | {_fmt(wd)} | {_fmt(fl)} | {_fmt(nv)} | "
                     f"{_fmt(_ratio(wd, fl), suffix='×')} | {_fmt(_ratio(nv, fl), suffix='×')} | {trips} |")
    return "\n".join(lines)


def _fmt_int(value: int | None) -> str:
    return "n/a" if value is None else str(value)


def _runs(m: Measurements, host_count: int) -> str:
    counts = {len(v) for (s, n, d), v in m.outcomes.items() if n == host_count}
    return "/".join(str(c) for c in sorted(counts)) or "0"


def steps_table(m: Measurements, host_counts: Sequence[int], scenarios: Sequence[str]) -> str:
    """wsgideploy's steps (median seconds, mean over hosts), one column per scenario and host count."""
    columns = [(s, n) for n in host_counts for s in scenarios if m.step_medians(s, n, "wsgideploy")]
    if not columns:
        return ""
    names: list[str] = []
    for s, n in columns:
        for name in m.step_medians(s, n, "wsgideploy"):
            if name not in names:
                names.append(name)
    header = "| step | " + " | ".join(f"{SCENARIO_TITLES[s]}, {n}h" for s, n in columns) + " |"
    lines = [header, "|---|" + "---:|" * len(columns)]
    for name in names:
        cells = [m.step_medians(s, n, "wsgideploy").get(name) for s, n in columns]
        lines.append(f"| {name} | " + " | ".join(_fmt(c) for c in cells) + " |")
    return "\n".join(lines)


def targets_table(found: Sequence[Target]) -> str:
    lines = ["| target | measured | result |", "|---|---|---|"]
    lines += [f"| {t.text} | {t.shown()} | **{t.verdict}** |" for t in found]
    return "\n".join(lines)


def text_report(m: Measurements, host_counts: Sequence[int], scenarios: Sequence[str]) -> str:
    parts = [table(m, n, scenarios) for n in host_counts]
    parts.append("Targets\n\n" + targets_table(targets(m, host_counts)))
    steps = steps_table(m, host_counts, scenarios)
    if steps:
        parts.append("wsgideploy's steps (median seconds per host)\n\n" + steps)
    return "\n\n".join(parts)


# --- the machine --------------------------------------------------------------------------

def _out(argv: Sequence[str]) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return (proc.stdout + proc.stderr).strip().splitlines()[0] if (proc.stdout + proc.stderr).strip() else "?"


def machine_facts(gunicorn_version: str = "?") -> list[tuple[str, str]]:
    cpu = "?"
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = match.group(1).strip() if match else "?"
    except OSError:
        pass
    try:
        debian = Path("/etc/debian_version").read_text().strip()
    except OSError:
        debian = "?"
    mem = "?"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, AttributeError):
        pass
    import fabric
    import paramiko
    return [
        ("CPU", f"{_out(['nproc'])} cores, {cpu}"),
        ("memory", mem),
        ("OS", f"Debian {debian}, kernel {platform.release()}"),
        ("Python (hosts: venvs, gunicorn)", _out(["/usr/bin/python3", "--version"])),
        ("Python (the deploying side)", f"Python {platform.python_version()}"),
        ("gunicorn", gunicorn_version),
        ("nginx", _out(["/usr/sbin/nginx", "-v"]).replace("nginx version: ", "")),
        ("OpenSSH", _out(["ssh", "-V"])),
        ("Fabric / paramiko", f"{fabric.__version__} / {paramiko.__version__}"),
    ]


def performance_page(m: Measurements, host_counts: Sequence[int], scenarios: Sequence[str],
                     command: str, describe: dict[str, str], facts: list[tuple[str, str]],
                     revision: str, minutes: float, notes: str = "") -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    found = targets(m, host_counts)
    steps = steps_table(m, host_counts, scenarios)
    machine = "\n".join(f"| {k} | {v} |" for k, v in facts)
    return f"""# Performance

How long a deploy takes, measured against a floor: what the same work costs when it is sent as
one shell script over one `ssh` call. Generated by `{command}` on {now}
(wsgideploy {revision}; the whole run took {minutes:.1f} minutes). Every figure below comes from
that one run: re-run the command to measure your machine.

## What is compared

- **wsgideploy**: the real CLI, `{describe.get('wsgideploy', 'fab deploy')}`, and `fab rollback`.
- **floor**: [`benchmarks/floor.sh`](../benchmarks/floor.sh), {describe.get('floor', '')}. The same work: a
  lock, the tar stream unpacked into `releases/<id>`, shared links, `venvs/<key>` reused or built (key from
  the requirements and the Python version, the same pip flags), the app loaded once with
  `gunicorn --check-config`, the nginx site tested (`nginx -t`) and reloaded, `current` switched
  atomically, gunicorn upgraded with USR2 (the new master's workers ready, then TERM to the old master) or
  started, an HTTP check through nginx. Rollback: switch back, upgrade, check.
- **naive**: [`benchmarks/naive_fabfile.py`](../benchmarks/naive_fabfile.py), the same steps written as
  a plain Fabric script does: one `c.run`/`c.put` per step, waits as loops of `c.run`; hosts in
  parallel, a thread per host.

Each simulated host is its own sshd (OpenSSH, on a free 127.0.0.1 port, key login as the non-root user
`wsgibench` with sudo), its own nginx prefix and its own app root per deployer, all on this machine:
10 hosts share its {facts[0][1].split(',')[0]}. The deployers take turns run by run; after every
command each host must serve the expected version over HTTP or the benchmark stops.

Scenarios: **cold** = no app root on the host (no release, no venv), its app server stopped and its
nginx site removed, nginx running; pip downloads from the index every time (its HTTP cache
stays empty here), so a cold deploy and a requirements change both build a venv from scratch.
**code-only** = a new `VERSION` in `app.py` (the venv is reused). **requirements change** = a new
line in `requirements.txt` (a new venv key, the same packages). **rollback** = back to the release
before the live one (after an untimed code-only deploy).

Times are wall-clock medians, from starting the command to its exit. Round trips are SSH sessions
per host (one remote command, or an SFTP session), counted in each host's sshd log{'' if not describe.get('json') else ' (wsgideploy: from its `--json-file` document)'}.

## Results

{chr(10).join(table(m, n, scenarios) + chr(10) for n in host_counts)}
## Targets

{targets_table(found)}

{notes}
""" + (f"""
## Where wsgideploy's time goes

Median seconds of each step per host (the mean over the hosts of a run), from wsgideploy's own report.
The time not in a step is the `fab` process itself: starting Python, importing Fabric, packing the release.

{steps}
""" if steps else "") + f"""
## The machine

| | |
|---|---|
{machine}
"""
