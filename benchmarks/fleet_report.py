"""The report's parts about scale and size: the controller's CPU per host (and what it means for
100 and 1,000 hosts), and the larger app (benchmarks/large_app) beside the floor."""
from __future__ import annotations

from typing import Sequence

from .scenarios import Measurements

FLEETS = (100, 1000)


def cpu_per_extra_host(m: Measurements, host_counts: Sequence[int]) -> float | None:
    """CPU seconds of wsgideploy's process per host beyond the first, code-only redeploys:
    (median at the largest host count - median at 1 host) / (hosts - 1)."""
    many = max(host_counts)
    one, most = m.median_cpu("code", 1, "wsgideploy"), m.median_cpu("code", many, "wsgideploy")
    if 1 not in host_counts or many < 2 or one is None or most is None:
        return None
    return (most - one) / (many - 1)


def controller_section(m: Measurements, host_counts: Sequence[int]) -> str:
    """The controller's CPU by host count, per extra host, and the estimate for larger fleets."""
    rows = []
    for n in host_counts:
        wd, fl = m.median_cpu("code", n, "wsgideploy"), m.median_cpu("code", n, "floor")
        if wd is not None:
            rows.append(f"| {n} | {wd:.3f} | {'n/a' if fl is None else f'{fl:.3f}'} |")
    if not rows:
        return ""
    text = ["CPU seconds (user + system) of the deploying side's processes for a code-only redeploy, median:",
            "`fab` with every thread and child it waited for (wsgideploy), every `ssh` (the floor).", "",
            "| hosts | wsgideploy | floor (its `ssh` processes) |", "|---:|---:|---:|", *rows]
    per_host = cpu_per_extra_host(m, host_counts)
    one = m.median_cpu("code", 1, "wsgideploy")
    if per_host is not None and one is not None:
        text += ["", f"Per host beyond the first: **{per_host * 1000:.1f} ms** of CPU. For a larger fleet, "
                 "from these figures (one `fab` process; its Python code runs on one core at a time, so "
                 "this is also about the least wall time the controller itself adds to a run):", "",
                 "| hosts | controller CPU, estimated |", "|---:|---:|"]
        text += [f"| {n:,} | {one + (n - 1) * per_host:.1f} s |" for n in FLEETS]
        text += ["", "The hosts' own work (pip, the check, the new app server) runs on each host, side by "
                 "side; with `--parallel N` the controller holds N connections at a time, and a run of "
                 "many batches adds each batch's slowest host."]
    return "\n".join(text)


def large_app_section(m: Measurements) -> str:
    """benchmarks/large_app (about 50 pinned dependencies): wsgideploy beside the floor, 1 host."""
    rows = []
    for scenario, title in (("cold", "cold deploy"), ("code", "code-only redeploy")):
        wd, fl = m.median_seconds(scenario, 1, "large"), m.median_seconds(scenario, 1, "floorlarge")
        if wd is None or fl is None:
            continue
        rows.append(f"| {title} | {wd:.2f} | {fl:.2f} | {wd / fl:.2f}× | "
                    f"{m.round_trips(scenario, 1, 'large')} / {m.round_trips(scenario, 1, 'floorlarge')} |")
    if not rows:
        return ""
    return "\n".join(["| scenario, 1 host | wsgideploy | floor | wsgideploy ÷ floor | round trips |",
                      "|---|---:|---:|---:|---|", *rows])
