"""Waits on a host end by a clock that nobody sets.

bash's ``SECONDS`` follows the wall clock: when the clock is set while a script waits (NTP stepping it
just after boot, a virtual machine resumed), a deadline computed from ``SECONDS`` passes at once, and
``wait_gone`` reported "the old gunicorn master did not stop" 1.2 s after TERM (seen on booted servers
under load). The recipes count on ``now`` (seconds since boot, ``/proc/uptime``) instead.

Here a wall-clock step is made the way bash itself sees one: ``SECONDS`` is assigned (its later
readings count from that value), by a ``sleep`` wrapper, in the middle of the wait.
"""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from wsgideploy.commands.recipe import recipe

RECIPES = Path(__file__).resolve().parents[2] / "tasks" / "recipes"
# The clock steps an hour forward at the first sleep of the wait.
CLOCK_STEP = 'stepped=0\nsleep() { if [ "$stepped" = 0 ]; then SECONDS=$((SECONDS + 3600)); stepped=1; fi; command sleep "$@"; }\n'


def run(script: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=timeout, check=False)


def wait_gone_on(child_seconds: float, clock: str, wait: int) -> tuple[str, float]:
    """``wait_gone`` on a child that lives ``child_seconds``, with ``clock`` (bash) defined first: what it
    answered, and how long it took."""
    child = subprocess.Popen(["sleep", str(child_seconds)])
    try:
        started = time.monotonic()
        result = run(recipe("process") + clock + f'wait_gone {child.pid} {wait} && echo gone || echo "not gone"\n')
        return result.stdout.strip() or result.stderr, time.monotonic() - started
    finally:
        child.kill()
        child.wait()


def test_wait_gone_still_waits_when_the_wall_clock_is_set_during_the_wait() -> None:
    answer, waited = wait_gone_on(1.5, CLOCK_STEP, 20)
    assert answer == "gone"
    assert waited >= 1.0, "it waited for the process, not for the clock"


# Every reading of `now` an hour later than the one before: what a clock that jumps looks like to a
# deadline, whatever the cause (CI saw a 15 s wait_gone end after 0.2 s while uptime was its clock).
# (`now` runs in $(...), a subshell: the count of its readings lives in a file.)
NOW_JUMPS = ('readings=$(mktemp); trap \'rm -f "$readings"\' EXIT\n'
             'now() { echo x >> "$readings"; echo $(($(wc -l < "$readings") * 3600)); }\n')


@pytest.mark.parametrize("clock", [NOW_JUMPS, 'now() { echo ""; }\n'], ids=["now jumps", "now unreadable"])
def test_wait_gone_counts_its_sleeps_not_a_clock(clock: str) -> None:
    answer, waited = wait_gone_on(1.5, clock, 20)
    assert answer == "gone"
    assert waited >= 1.0, "it waited for the process, not for the clock"


def test_wait_gone_says_no_after_its_seconds() -> None:
    answer, waited = wait_gone_on(30, "", 1)
    assert answer == "not gone"
    assert 1.0 <= waited < 10


def test_now_counts_whole_seconds_since_boot() -> None:
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    value = int(run(recipe("process") + "now\n").stdout)
    assert abs(value - uptime) <= 2


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.sh")), ids=lambda p: p.name)
def test_no_recipe_counts_time_on_bash_seconds(path: Path) -> None:
    code = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if re.search(r"\bSECONDS\b", line)], \
        f"{path.name}: a deadline on SECONDS ends at once when the wall clock is set; use $(now)"


# A `sleep` that returns at once: what a wait counted in sleeps alone would see if its sleeps were cut short
# (CI saw a runner's 15 s stop end after 0.2 s, then a KILL, with the wait counted in sleeps).
SLEEP_RETURNS = 'sleep() { :; }\n'


def test_wait_gone_waits_its_seconds_by_the_uptime_too_when_its_sleeps_return_at_once() -> None:
    answer, waited = wait_gone_on(30, SLEEP_RETURNS, 2)
    assert answer == "not gone"
    assert waited >= 1.9, f"a KILL after {waited:.2f} s of a 2 s wait would cut requests in flight"


def test_wait_gone_with_sleeps_cut_short_still_sees_a_process_go() -> None:
    answer, waited = wait_gone_on(1.0, SLEEP_RETURNS, 20)
    assert answer == "gone" and waited < 10
