"""The report: a table per host count, the targets with PASS/MISS, and docs/performance.md."""
from __future__ import annotations

import platform
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from .analysis import analysis
from .fleet_report import controller_section, large_app_section
from .scenarios import SCENARIO_TITLES, Measurements
from .targets import Target, ratio, targets

DEPLOYER_ORDER = ("wsgideploy", "floor", "naive")


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
        if wd is None and fl is None and nv is None:
            continue  # not run at this host count (--many-scenarios)
        trips = " / ".join(_fmt_int(m.round_trips(scenario, host_count, d)) for d in DEPLOYER_ORDER)
        lines.append(f"| {SCENARIO_TITLES[scenario]} | {_fmt(wd)} | {_fmt(fl)} | {_fmt(nv)} | "
                     f"{_fmt(ratio(wd, fl), suffix='×')} | {_fmt(ratio(nv, fl), suffix='×')} | {trips} |")
    return "\n".join(lines)


def _fmt_int(value: int | None) -> str:
    return "n/a" if value is None else str(value)


def _runs(m: Measurements, host_count: int) -> str:
    counts = {len(v) for (s, n, d), v in m.outcomes.items() if n == host_count}
    return "/".join(str(c) for c in sorted(counts)) or "0"


def steps_table(m: Measurements, host_count: int, scenarios: Sequence[str]) -> str:
    """Each step's median seconds per host (the mean over the hosts of a run), wsgideploy beside the
    floor, one column per scenario; the last row is the time outside the steps: process start-up,
    connecting, packing and sending, waiting for the other hosts of a phase."""
    columns = [s for s in scenarios if m.step_medians(s, host_count, "wsgideploy")]
    if not columns:
        return ""
    names: list[str] = []
    for deployer in ("wsgideploy", "floor"):
        for s in columns:
            for name in m.step_medians(s, host_count, deployer):
                if name not in names:
                    names.append(name)
    lines = ["| step (wsgideploy / floor) | " + " | ".join(SCENARIO_TITLES[s] for s in columns) + " |",
             "|---|" + "---:|" * len(columns)]

    def pair(a: float | None, b: float | None) -> str:
        return f"{_fmt(a)} / {_fmt(b)}" if a is not None or b is not None else ""
    for name in names:
        cells = [pair(m.step_medians(s, host_count, "wsgideploy").get(name),
                      m.step_medians(s, host_count, "floor").get(name)) for s in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    outside = []
    for s in columns:
        values = []
        for deployer in ("wsgideploy", "floor"):
            total, steps = m.median_seconds(s, host_count, deployer), m.step_medians(s, host_count, deployer)
            values.append(total - sum(steps.values()) if total is not None and steps else None)
        outside.append(pair(*values))
    lines.append("| *outside the steps* | " + " | ".join(outside) + " |")
    lines.append("| **total (median)** | " + " | ".join(
        pair(m.median_seconds(s, host_count, "wsgideploy"), m.median_seconds(s, host_count, "floor"))
        for s in columns) + " |")
    return "\n".join(lines)


def targets_table(found: Sequence[Target]) -> str:
    lines = ["| target | measured | result |", "|---|---|---|"]
    lines += [f"| {t.text} | {t.shown()} | **{t.verdict}** |" for t in found]
    return "\n".join(lines)


def text_report(m: Measurements, host_counts: Sequence[int], scenarios: Sequence[str]) -> str:
    parts = [table(m, n, scenarios) for n in host_counts]
    parts.append("Targets\n\n" + targets_table(targets(m, host_counts)))
    parts += [f"{title}\n\n{text}" for title, text in (("The larger app", large_app_section(m)),
                                                        ("The controller", controller_section(m, host_counts))) if text]
    for n in host_counts:
        steps = steps_table(m, n, scenarios)
        if steps:
            parts.append(f"Steps, {n} host{'s' if n > 1 else ''} (median seconds per host)\n\n" + steps)
    return "\n\n".join(parts)


# --- the machine --------------------------------------------------------------------------

def _out(argv: Sequence[str]) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return (proc.stdout + proc.stderr).strip().splitlines()[0] if (proc.stdout + proc.stderr).strip() else "?"


def machine_facts(gunicorn_version: str = "?", host_facts: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """This machine (where the deployers and every booted host run), then ``host_facts``: what the
    hosts run, asked on one of them (`benchmarks.hosts.host_facts`)."""
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
        ("OS (this machine)", f"Debian {debian}, kernel {platform.release()}"),
        *host_facts,
        ("gunicorn", gunicorn_version),
        ("Python (the deploying side)", f"Python {platform.python_version()}"),
        ("OpenSSH (the deploying side)", _out(["ssh", "-V"])),
        ("Fabric / paramiko", f"{fabric.__version__} / {paramiko.__version__}"),
    ]


def performance_page(m: Measurements, host_counts: Sequence[int], scenarios: Sequence[str],
                     command: str, describe: dict[str, str], facts: list[tuple[str, str]],
                     revision: str, minutes: float, date: str = "") -> str:
    now = date or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    found = targets(m, host_counts)
    steps = "\n\n".join(f"**{n} host{'s' if n > 1 else ''}**\n\n{per_host}" for n in host_counts
                         if (per_host := steps_table(m, n, scenarios)))
    machine = "\n".join(f"| {k} | {v} |" for k, v in facts)
    misses = analysis(m, host_counts)
    results = "\n\n".join(table(m, n, scenarios) for n in host_counts)
    page = f"""# Performance

How long a deploy takes, against a floor: the same work sent as one shell script over one `ssh`
call per host. Measured on {now} with wsgideploy {revision}, by
`{command}` (as root; {minutes:.0f} minutes). Every figure comes from that one run; run the
command again to measure another machine or version.

## What is compared

- **wsgideploy**: the real CLI, `{describe.get('wsgideploy', 'fab deploy')}`, run from this checkout with Python's byte-code caches
  kept between commands (as an installed package has them).
- **floor**: [`benchmarks/floor.sh`](../benchmarks/floor.sh), {describe.get('floor', 'one ssh call per host')}.
  It does what wsgideploy does, minus its bookkeeping (deploy log, bad marks, facts): a lock; the tar
  stream unpacked into `releases/<id>`; shared links; `venvs/<key>` reused or built (the key from the
  requirements and the Python version, the same pip flags); the app loaded once with
  `gunicorn --check-config`; the nginx site tested (`nginx -t`) and reloaded (left alone when unchanged); `current` switched
  atomically; gunicorn upgraded with USR2 (the new master's workers ready, TERM to the old master, the
  pidfile taken over) or started; an HTTP check through nginx; old releases and venvs pruned. Its
  rollback switches back to the release before the live one, upgrades gunicorn and checks.
- **HUP floor** (`hup`): floor.sh with `RELOAD=hup`: the same script without the app check, and
  gunicorn's master sent `HUP` (new workers load the new `current`) instead of upgraded; the least a
  deploy can do, safe or not. Code-only redeploys, 1 host.
- **naive**: [`benchmarks/naive_fabfile.py`](../benchmarks/naive_fabfile.py), the same steps as a
  plain Fabric script writes them: one `c.run`/`c.put` per step, waits as loops of `c.run`, a thread
  per host.

The hosts are booted Debian 12 servers: each one a `systemd-nspawn` container with systemd as PID 1
(`tests/servers`), on a bridge of its own, booted in parallel for each host count. Each runs
Debian's OpenSSH (key login as the user `deploy`, who has passwordless sudo) and Debian's nginx
under systemd, with its packaged layout: every deployer installs its site under /etc/nginx through
`sudo` and reloads nginx with `systemctl reload`. Each deployer has its own app root
(`/srv/bench/hello-<deployer>`) and port on every server. The servers reach PyPI only through a
tinyproxy on the bridge. All of them run on this one machine, so **10 hosts share its
{facts[0][1].split(',')[0]}**. The deployers take turns run by run (who goes first rotates). After
every command, each host must serve the expected version over HTTP (from this machine, through the
host's nginx), or the benchmark stops.

Scenarios:
- **cold deploy**: no app root on the host (no release, no venv), its app server stopped and its
  nginx site removed; nginx keeps running. The venv is built from scratch, like a requirements
  change; pip's cache in the deploy user's home on each server is warm (one untimed deploy per deployer
  after boot, before the first timed run).
- **code-only redeploy**: a new `VERSION` in `app.py`; the venv is reused.
- **requirements-change redeploy**: a new line in `requirements.txt` (a new venv key, the same packages).
- **rollback**: back to the release before the live one, after an untimed code-only deploy.
- **code-only redeploy under load**: the same, while 4 threads per host each keep one request to
  `/work?ms=200` in flight through the host's nginx (the app runs 2 sync workers: every worker is busy and
  connections wait), a new connection per request, bounded in count and time. Every request must succeed;
  the failed ones are counted for each deployer.

Times are wall-clock medians, from starting the command to its exit. Round trips are SSH sessions per
host (one remote command, or one SFTP session), counted in each server's sshd log (`LogLevel
VERBOSE`, one `Starting session:` line each, in a file read through the server's file system);
wsgideploy's come from its `--json-file` document.

## Results

{results}

## Targets

{targets_table(found)}
"""
    if misses:
        page += "\n### What the missed targets come down to\n\n" + "\n".join(misses) + "\n"
    large = large_app_section(m)
    if large:
        page += f"""
## A larger app

[`benchmarks/large_app`](../benchmarks/large_app): a Flask app of the usual shape with its whole
dependency tree pinned in `requirements.txt` (56 packages: SQLAlchemy, Alembic, Celery, pydantic,
sentry-sdk, requests and more, most imported at start), deployed by wsgideploy and by the floor on the
same host, taking turns; the cold deploy builds its venv from the warm pip cache.

{large}
"""
    controller = controller_section(m, host_counts)
    if controller:
        page += f"""
## The controller: CPU per host

{controller}
"""
    if steps:
        page += f"""
## Where the time goes

Median seconds of each step per host (the mean over the hosts of a run): wsgideploy's from its
`--json-file` document, the floor's from timestamps its script prints. wsgideploy's `connect` is
its SSH connection; the floor's `prepare` is its `mkdir`s and lock. *Outside the steps* is the rest
of the wall time: starting the process (`fab`: Python and its imports; the floor: `ssh`), connecting,
packing the release, and, with many hosts, waiting for the slowest host of a phase.

{steps}
"""
    page += f"""
## The machine

| | |
|---|---|
{machine}
"""
    return page
