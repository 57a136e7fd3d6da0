"""How long the command takes to start: ``wsgideploy --list`` against ``fab --list`` before the packaging change.

    python3 benchmarks/startup.py [--runs 21] [--baseline 534ea9c]

Needs no root and no host. The baseline is the last commit before the package was named
``wsgideploy``: its ``fab --list`` runs from a ``git worktree`` of that commit (removed at the
end), where the fabfile imports the old top-level ``tasks`` package. Every command runs
``--runs`` times, interleaved so that a busy moment of the machine hits them all alike; the
report gives medians and ratios measured in this one run, then the slowest imports of
``wsgideploy --list`` (``python -X importtime``).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
BASELINE = "534ea9c"  # "One sshd start-with-retry ...": the release before `pip install wsgideploy`


def timed(argv: list[str], cwd: Path) -> float:
    """Seconds for one whole process, start to exit; a failure stops the benchmark."""
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                            env={k: v for k, v in os.environ.items() if not k.startswith("WSGIDEPLOY_")})
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} (in {cwd}) failed:\n{result.stdout}{result.stderr}")
    return seconds


def slowest_imports(argv: list[str], cwd: Path, count: int = 8) -> list[tuple[str, float]]:
    """The ``count`` top-level imports of ``argv`` (a Python command) that took longest, cumulative ms."""
    result = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=cwd, capture_output=True, text=True,
                            timeout=60)
    rows = []
    for line in result.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit() and len(parts[2]) - len(parts[2].lstrip()) == 1:
            rows.append((parts[2].strip(), int(parts[1]) / 1000))  # a top-level import (one space deep)
    return sorted(rows, key=lambda row: -row[1])[:count]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python3 benchmarks/startup.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each command (default 21)")
    parser.add_argument("--baseline", default=BASELINE, help=f"commit whose `fab --list` is the reference ({BASELINE})")
    args = parser.parse_args(argv)
    wsgideploy = [sys.executable, "-m", "wsgideploy"]
    fab = [sys.executable, "-c", "import sys; from fabric.main import program; program.run(sys.argv)"]
    with tempfile.TemporaryDirectory(prefix="wsgideploy-startup-") as tmp:
        old = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(PROJECT), "worktree", "add", "-q", "--detach", str(old), args.baseline],
                       check=True, capture_output=True)
        try:
            commands = {
                f"fab --list at {args.baseline} (before)": (fab + ["--list"], old),
                "fab --list (now, through wsgideploy.fab)": (fab + ["--list"], PROJECT),
                "wsgideploy --list": (wsgideploy + ["--list"], PROJECT),
                "python -c 'import wsgideploy'": ([sys.executable, "-c", "import wsgideploy"], PROJECT),
                "python -c 'pass' (the interpreter alone)": ([sys.executable, "-c", "pass"], PROJECT),
            }
            samples: dict[str, list[float]] = {name: [] for name in commands}
            for name, (command, cwd) in commands.items():  # one warm-up each: byte-code caches
                timed(command, cwd)
            for _ in range(args.runs):
                for name, (command, cwd) in commands.items():
                    samples[name].append(timed(command, cwd))
        finally:
            subprocess.run(["git", "-C", str(PROJECT), "worktree", "remove", "--force", str(old)],
                           capture_output=True)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    reference = medians[next(iter(medians))]
    print(f"start-up, median of {args.runs} interleaved runs, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    for name, value in medians.items():
        print(f"  {name:<45} {value * 1000:7.1f} ms   {value / reference:5.2f}x the baseline")
    target = medians["wsgideploy --list"] / reference
    print(f"wsgideploy --list / fab --list before: {target:.2f} (target: at most 0.50) "
          + ("met" if target <= 0.5 else "MISSED"))
    print("slowest imports of `wsgideploy --list` (cumulative ms):")
    for module, ms in slowest_imports(["-m", "wsgideploy", "--list"], PROJECT):
        print(f"  {module:<40} {ms:7.1f}")


if __name__ == "__main__":
    main()
