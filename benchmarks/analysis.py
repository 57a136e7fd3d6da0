"""What each missed target comes down to, written from the run's own figures (docs/performance.md)."""
from __future__ import annotations

from typing import Sequence

from .scenarios import SCENARIO_TITLES, Measurements
from .targets import Target, targets


def analysis(m: Measurements, host_counts: Sequence[int]) -> list[str]:
    """What each missed target comes down to, from the measurements: one paragraph per miss."""
    notes: list[str] = []
    scaling: list[Target] = []
    for t in targets(m, host_counts):
        if t.verdict != "MISS":
            continue
        if t.kind == "hup":
            notes.append(_hup_note(m, t))
        elif t.kind == "floor":
            notes.append(_floor_note(m, t, host_counts))
        elif t.kind == "scaling":
            scaling.append(t)
        elif t.kind == "package":
            notes.append(_package_note(m, t))
        elif t.kind == "cpu":
            notes.append(_cpu_note(m, t, max(host_counts)))
        else:
            notes.append(f"- **{t.text}: {t.shown()}.**")
    if scaling:
        notes.append(_scaling_note(scaling))
    return notes


def _hup_note(m: Measurements, t: Target) -> str:
    """The HUP floor checks nothing; wsgideploy's start and its check alone, against what the target allows."""
    hup, wd = m.median_seconds("code", 1, "hup"), m.median_seconds("code", 1, "wsgideploy")
    wd_steps = m.step_medians("code", 1, "wsgideploy")
    start = wd - sum(wd_steps.values()) + wd_steps.get("connect", 0.0) if wd and wd_steps else None
    check = wd_steps.get("check") if wd_steps else None
    text = (f"- **{t.text}: {t.value:.2f}×.** The HUP floor deploys in {hup:.2f} s (the floor's script "
            "without the app check and without a new master: the old one re-forks its workers, which "
            "load the new code after the deploy has returned, checked by nothing)")
    if start is not None and check is not None:
        text += (f"; wsgideploy's start of `fab` and its connection alone take {start:.2f} s, and its check "
                 "(the new release's instance started and answering on its own socket before any traffic "
                 f"reaches it) {check:.2f} s: together {start + check:.2f} s of the {1.6 * hup:.2f} s the "
                 "target allows")
    return text + "."


def _floor_note(m: Measurements, t: Target, host_counts: Sequence[int]) -> str:
    """How much longer than the floor, outside the steps and in the steps that differ most."""
    scenario = next(s for s, title in SCENARIO_TITLES.items() if t.text.startswith(title))
    n = 1 if ", 1 host" in t.text else max(host_counts)
    wd, fl = m.median_seconds(scenario, n, "wsgideploy"), m.median_seconds(scenario, n, "floor")
    wd_steps, fl_steps = m.step_medians(scenario, n, "wsgideploy"), m.step_medians(scenario, n, "floor")
    wd_out = wd - sum(wd_steps.values()) if wd is not None and wd_steps else None
    fl_out = fl - sum(fl_steps.values()) if fl is not None and fl_steps else None
    diffs = sorted(((wd_steps.get(k, 0.0) - fl_steps.get(k, 0.0), k) for k in {*wd_steps, *fl_steps}), reverse=True)
    biggest = ", ".join(f"{name} {d:+.2f} s" for d, name in diffs[:3] if d > 0.005)
    text = (f"- **{t.text}: {t.value:.2f}×.** wsgideploy takes {wd - fl:.2f} s more than the floor "
            f"({wd:.2f} s against {fl:.2f} s).")
    if wd_out is not None and fl_out is not None:
        text += (f" Outside its steps (starting `fab`: Python, Fabric and paramiko imports, the local "
                 f"archive, the connection) it spends {wd_out:.2f} s, the floor {fl_out:.2f} s (starting `ssh`).")
    if biggest:
        text += f" The steps that take longer than the floor's: {biggest}."
    return text


def _scaling_note(scaling: list[Target]) -> str:
    """The N-host ÷ 1-host ratios beside the floor's own, and why this machine bounds them."""
    listed = "; ".join(f"{t.text.split(':')[0]} {t.value:.2f}× (floor {t.floor:.2f}×)" if t.floor else
                       f"{t.text.split(':')[0]} {t.value:.2f}×" for t in scaling)
    worse = [t for t in scaling if t.floor and t.value is not None and t.value > t.floor * 1.1]
    text = f"- **{scaling[0].text.split(': ')[1]}, wsgideploy against the floor's own ratio:** {listed}. "
    if not worse:
        text += "wsgideploy scales like the floor (within 10%, or better). "
    else:
        text += "wsgideploy scales worse than the floor in: " + ", ".join(t.text.split(':')[0] for t in worse) + ". "
    return text + ("The booted servers share this machine's cores, so what each host does itself (pip, "
                   "loading the app for the check, a new gunicorn master and its workers) costs ten times "
                   "the CPU of one host, and no deployer stays within 1.5× here; on real hosts that work "
                   "runs side by side. The floor's ratio is the bound this machine allows.")


def _package_note(m: Measurements, t: Target) -> str:
    """The pyproject-only app's deploy differs by its venv step: its own package built and installed."""
    text = f"- **{t.text}: {t.shown()}.**"
    pyproject, plain = m.step_medians("code", 1, "pyproject"), m.step_medians("code", 1, "wsgideploy")
    whole = m.median_seconds("code", 1, "wsgideploy")
    if "venv" in pyproject and "venv" in plain and whole:
        text += (f" Its venv step (the venv reused; the app's own package built by its build backend on the host "
                 f"and installed into the release) takes {pyproject['venv']:.2f} s, the requirements.txt app's "
                 f"{plain['venv']:.2f} s: the limit allows {0.3 * whole:.2f} s more than that app's whole deploy "
                 f"({whole:.2f} s).")
    return text


def _cpu_note(m: Measurements, t: Target, many: int) -> str:
    """The medians the CPU per extra host comes from, and the floor's for the same runs."""
    text = f"- **{t.text}: {t.shown()}.**"
    one, more = m.median_cpu("code", 1, "wsgideploy"), m.median_cpu("code", many, "wsgideploy")
    floor_one, floor_more = m.median_cpu("code", 1, "floor"), m.median_cpu("code", many, "floor")
    if one and more:
        text += (f" `fab` used {one:.3f} s of CPU for one host and {more:.3f} s for {many} (medians of the runs)")
        if floor_one and floor_more:
            text += f"; the floor's `ssh` processes {floor_one:.3f} s and {floor_more:.3f} s"
        text += "."
    return text

