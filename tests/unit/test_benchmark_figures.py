"""The benchmark's own arithmetic and process accounting (benchmarks/procs.py, fleet_report.py, report.py):
the figures docs/performance.md is written from."""
from __future__ import annotations

import sys
import time

import pytest

from benchmarks import procs
from benchmarks.deployers import Outcome
from benchmarks.fleet_report import controller_section, cpu_per_extra_host, large_app_section
from benchmarks.targets import targets
from benchmarks.scenarios import Measurements


def test_a_finished_command_has_its_exit_code_output_and_the_cpu_it_and_its_children_spent() -> None:
    burn = ("import subprocess, sys, time\n"
            "end = time.process_time() + 0.15\n"
            "while time.process_time() < end: pass\n"
            "subprocess.run([sys.executable, '-c', 'import time\\nend = time.process_time() + 0.15\\n"
            "while time.process_time() < end: pass'])\n"
            "print(sys.stdin.read().upper()); sys.exit(3)")
    done = procs.run([sys.executable, "-c", burn], stdin=b"hello", timeout=60)
    assert (done.returncode, done.stdout.strip()) == (3, "HELLO")
    assert done.cpu_seconds >= 0.3, "the child's CPU, waited for by the process, counts too"
    assert not procs.stop_all(), "a finished command is no longer tracked"


def test_a_command_past_its_timeout_is_killed_and_reported() -> None:
    started = time.monotonic()
    with pytest.raises(procs.CommandFailed, match="timed out after 0.5s"):
        procs.run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert time.monotonic() - started < 10
    assert not procs.stop_all()


def _measured(rows: list[tuple[str, int, str, float, float]]) -> Measurements:
    m = Measurements()
    for scenario, hosts, deployer, seconds, cpu in rows:
        m.add(scenario, hosts, deployer, Outcome(seconds, {"web01": 2}, controller_cpu=cpu))
    return m


def test_cpu_per_extra_host_is_the_difference_of_the_medians_over_the_extra_hosts() -> None:
    m = _measured([("code", 1, "wsgideploy", 1.0, 0.30), ("code", 1, "wsgideploy", 1.0, 0.34),
                   ("code", 10, "wsgideploy", 2.0, 0.60), ("code", 10, "wsgideploy", 2.0, 0.50),
                   ("code", 10, "wsgideploy", 2.0, 0.40), ("code", 1, "floor", 0.8, 0.01)])
    assert cpu_per_extra_host(m, [1, 10]) == pytest.approx((0.50 - 0.32) / 9)
    assert cpu_per_extra_host(m, [1]) is None
    section = controller_section(m, [1, 10])
    assert "| 1 | 0.320 | 0.010 |" in section and "**20.0 ms**" in section
    assert "| 1,000 | 20.3 s |" in section, "0.32 s + 999 × 0.02 s"
    target = next(t for t in targets(m, [1, 10]) if t.text.startswith("controller CPU"))
    assert (target.value, target.verdict) == (pytest.approx(0.02), "PASS")


def test_the_hup_floor_and_the_large_app_are_reported_beside_wsgideploy() -> None:
    m = _measured([("code", 1, "wsgideploy", 1.5, 0.3), ("code", 1, "hup", 0.5, 0.0),
                   ("cold", 1, "large", 30.0, 0.3), ("cold", 1, "floorlarge", 25.0, 0.0),
                   ("code", 1, "large", 3.0, 0.3), ("code", 1, "floorlarge", 2.0, 0.0)])
    hup = next(t for t in targets(m, [1]) if "HUP floor" in t.text)
    assert (hup.value, hup.verdict) == (pytest.approx(3.0), "MISS")
    assert "| cold deploy | 30.00 | 25.00 | 1.20× | 2 / 2 |" in large_app_section(m)
    assert "| code-only redeploy | 3.00 | 2.00 | 1.50× |" in large_app_section(m)
    assert large_app_section(Measurements()) == ""
