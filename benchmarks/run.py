"""Benchmark wsgideploy against a one-ssh-call floor and a naive fabfile, on 1 and 10 local hosts.

    python3 benchmarks/run.py [--runs 5] [--hosts 1,10] [--scenarios cold,code,requirements,rollback,load]
                              [--many-scenarios code]
                              [--quick] [--write docs/performance.md]
    python3 benchmarks/run.py --from-results benchmarks/results/run-<date>.json [--write docs/performance.md]

Runs as root: its hosts are booted Debian 12 servers (`tests.servers`: systemd-nspawn on a
bridge of their own, Debian's nginx under systemd, user ``deploy`` with sudo), N booted in
parallel for each host count; see benchmarks/hosts.py. Every server, the proxy and the bridge are
stopped at the end, also after a failure, Ctrl-C or SIGTERM (the lab asserts nothing is left), and
the run is bounded by ``--max-minutes``. The raw figures of
every run go to benchmarks/results/ (git-ignored).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import procs  # noqa: E402
from benchmarks.deployers import DEPLOYER_CLASSES, Deployer, WsgideployCli  # noqa: E402
from benchmarks.hosts import HostPool, host_facts, reap_stale  # noqa: E402
from benchmarks.report import machine_facts, performance_page, text_report  # noqa: E402
from benchmarks.targets import targets  # noqa: E402
from benchmarks.scenarios import SCENARIOS, Driver, Measurements  # noqa: E402
from benchmarks.workload import PROJECT, AppCopy  # noqa: E402
from tests.servers import unavailable_reason  # noqa: E402


class OutOfTime(Exception):
    """The run went past ``--max-minutes``."""


def log(text: str) -> None:
    print(text, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 benchmarks/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per scenario, deployer and host count (default 5)")
    parser.add_argument("--quick", action="store_true", help="2 runs each: for development, not for the record")
    parser.add_argument("--hosts", default="1,10", help="host counts, comma-separated (default 1,10)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, from {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--many-scenarios", metavar="LIST",
                        help="the scenarios for the host counts above the smallest (default: --scenarios)")
    parser.add_argument("--write", metavar="PATH", help="write the results page there (e.g. docs/performance.md)")
    parser.add_argument("--from-results", metavar="JSON",
                        help="measure nothing: print (and --write) the report of a saved run in benchmarks/results/")
    parser.add_argument("--max-minutes", type=float, default=40, help="stop (and clean up) after this long (default 40)")
    args = parser.parse_args(argv)
    args.runs = 2 if args.quick else args.runs
    args.host_counts = [int(n) for n in args.hosts.split(",") if n.strip()]
    args.scenario_list = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    args.many_list = ([s.strip() for s in args.many_scenarios.split(",") if s.strip()]
                      if args.many_scenarios else list(args.scenario_list))
    unknown = [s for s in args.scenario_list + args.many_list if s not in SCENARIOS]
    if unknown or args.runs < 1 or not args.host_counts or min(args.host_counts) < 1:
        parser.error(f"unknown scenario(s) {unknown}" if unknown else "--runs and --hosts must be positive")
    return args


def gunicorn_version(deployers: list[Deployer]) -> str:
    """``gunicorn --version`` of a deployed venv, run on its server."""
    for deployer in deployers:
        for host in deployer.hosts:
            binary = f"{host.app(deployer.name).root}/current/venv/bin/gunicorn"
            if host.local_path(binary).exists():
                done = host.server.run(f"{binary} --version", check=False, timeout=30)
                return (done.stdout or done.stderr).strip() or "?"
    return "?"


def revision() -> str:
    """The commit measured: ``$BENCH_REVISION`` (for a copy outside git), else git's HEAD."""
    if os.environ.get("BENCH_REVISION"):
        return os.environ["BENCH_REVISION"]

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(PROJECT), *args], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return commit + ("+local changes" if git("status", "--porcelain", "--", "tasks", "templates") else "")


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def measure(args: argparse.Namespace, workdir: Path,
            results: Measurements) -> tuple[dict[str, str], str, list[tuple[str, str]]]:
    describe: dict[str, str] = {}
    version = "?"
    facts: list[tuple[str, str]] = []
    for count in args.host_counts:
        log(f"== {count} host(s): booting Debian 12 servers")
        started = time.monotonic()
        with HostPool(count) as hosts:
            log(f"   {count} server(s) booted and made deploy targets in {time.monotonic() - started:.1f} s")
            facts = facts or host_facts(hosts[0])
            deployers: list[Deployer] = []
            try:
                for name, cls in DEPLOYER_CLASSES.items():
                    if cls.one_host_only and count != min(args.host_counts):
                        continue
                    app = AppCopy.create(workdir / f"{count}" / name / "app", name, pyproject=cls.pyproject,
                                         example=cls.example)
                    deployers.append(cls(hosts, app, workdir / f"{count}" / name))
                for d in deployers:
                    describe[d.name] = d.describe() if count == max(args.host_counts) else describe.get(d.name, d.describe())
                    if isinstance(d, WsgideployCli):
                        describe["json"] = "yes" if d.features.json_file else ""
                        log(f"   wsgideploy CLI: --json-file {'yes' if d.features.json_file else 'not yet (round trips from sshd logs)'}, "
                            f"--parallel {'yes' if d.features.parallel else 'not yet (hosts one after another)'}")
                driver = Driver(hosts, deployers, args.runs, results, log)
                # Untimed: the servers are fresh, so the first deploy on each would fetch every
                # package from PyPI and fill the deploy user's pip cache for the deployers after it.
                driver.warm_up()
                driver.run(args.scenario_list if count == min(args.host_counts) else args.many_list)
                version = gunicorn_version(deployers)
            finally:
                stopped = procs.stop_all()  # before the hosts go: nothing of ours may still talk to them
                if stopped:
                    log(f"   stopped commands still running: pids {stopped}")
            log(f"== {count} host(s): done, stopping the servers")
    return describe, version, facts


RESULTS_DIR = PROJECT / "benchmarks" / "results"  # git-ignored


def save_results(results: Measurements, meta: dict) -> Path:
    """Keep the raw figures of a run, so its page can be written again (``--from-results``)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"run-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps({"meta": meta, "outcomes": results.to_json()}, indent=1) + "\n")
    return path


def render_saved(args: argparse.Namespace) -> int:
    saved = json.loads(Path(args.from_results).read_text())
    meta, results = saved["meta"], Measurements.from_json(saved["outcomes"])
    log(text_report(results, meta["host_counts"], meta["scenarios"]))
    if args.write:
        Path(args.write).write_text(performance_page(
            results, meta["host_counts"], meta["scenarios"], meta["command"], meta["describe"],
            [tuple(f) for f in meta["facts"]], meta["revision"], meta["minutes"], meta["date"]))
        log(f"wrote {args.write}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_results:
        return render_saved(args)
    if os.geteuid() != 0:
        print("benchmarks/run.py: run it as root (it boots Debian servers with systemd-nspawn)", file=sys.stderr)
        return 2
    reason = unavailable_reason()
    if reason:
        print(f"benchmarks/run.py: cannot boot the hosts: {reason}", file=sys.stderr)
        return 2
    for path in reap_stale():
        log(f"stopped the servers of an earlier session that died: {path}")

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def out_of_time(signum: int, frame: object) -> None:
        raise OutOfTime(f"the run took longer than --max-minutes {args.max_minutes:g}")

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)  # also when started with SIGINT ignored (a background job)
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(int(args.max_minutes * 60))
    started = time.monotonic()
    measured, load_before = revision(), load_average()
    workdir = Path(tempfile.mkdtemp(prefix="wsgideploy-bench-"))
    results = Measurements()
    code = 0
    describe: dict[str, str] = {}
    version = "?"
    host_facts_found: list[tuple[str, str]] = []
    try:
        log(f"wsgideploy benchmark: {args.runs} run(s) of {', '.join(args.scenario_list)} on "
            f"{' and '.join(map(str, args.host_counts))} host(s); deployers take turns")
        describe, version, host_facts_found = measure(args, workdir, results)
    except KeyboardInterrupt:
        log("interrupted: cleaned up; partial results below")
        code = 130
    except Exception as exc:  # noqa: BLE001 - report, clean up, show what was measured
        log(f"FAILED: {type(exc).__name__}: {exc}")
        code = 1
    finally:
        signal.alarm(0)
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    minutes = (time.monotonic() - started) / 60
    if results.outcomes:
        log("")
        log(text_report(results, args.host_counts, args.scenario_list))
    log(f"\ntotal {minutes:.1f} min")
    if code == 0 and results.outcomes:
        command = "python3 benchmarks/run.py" + (f" --runs {args.runs}" if args.runs != 5 else "") + \
            (f" --hosts {args.hosts}" if args.hosts != "1,10" else "") + \
            (f" --scenarios {args.scenarios}" if args.scenario_list != list(SCENARIOS) else "") + \
            (f" --many-scenarios {args.many_scenarios}" if args.many_scenarios else "") + \
            (f" --write {args.write}" if args.write else "")
        facts = machine_facts(version, host_facts_found) + [(
            "load average (1, 5, 15 min)",
            f"{load_before} at the start, {load_average()} at the end (the benchmark's own servers count in it)")]
        date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        meta = {"command": command, "describe": describe, "facts": facts, "revision": measured,
                "minutes": minutes, "date": date, "host_counts": args.host_counts, "scenarios": args.scenario_list}
        log(f"raw figures: {save_results(results, meta)}")
        if args.write:
            Path(args.write).write_text(performance_page(results, args.host_counts, args.scenario_list, command,
                                                         describe, facts, measured, minutes, date))
            log(f"wrote {args.write}")
    missed = [t for t in targets(results, args.host_counts) if t.verdict == "MISS"]
    if code == 0 and missed:
        log(f"{len(missed)} target(s) missed (see above); the run itself succeeded")
    return code


if __name__ == "__main__":
    sys.exit(main())
