"""Reading /proc while processes come and go prints nothing.

A process can exit between the glob (or the test) that found its file and the redirection that opens
it. A redirection's error is printed before a later ``2>/dev/null`` on the same command applies, so
``read -r stat < "$f" 2>/dev/null`` printed ``/proc/280/stat: No such file or directory`` into a
deploy's output on a clean-clone CI run (nginx's ``children``, during the nginx step).
"""
from __future__ import annotations

import subprocess

import pytest

from tests.unit.recipe_text import function_body

# Short-lived processes for as long as the check runs: each /proc entry found may be gone when read.
CHURN = "( while :; do /bin/true & /bin/true & wait; done ) & churn=$!\n"
STOP_CHURN = 'kill "$churn"; wait "$churn" 2>/dev/null\n'


def run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("recipe_name", ["nginx", "uwsgi"])
def test_children_prints_nothing_while_processes_exit(recipe_name: str) -> None:
    body = function_body(recipe_name, "children")
    result = run(body + CHURN + "for _ in $(seq 150); do children 1 > /dev/null; done\n" + STOP_CHURN)
    assert result.stderr == ""


def test_pid_in_prints_nothing_when_the_pidfile_goes_after_its_test() -> None:
    # `[` answers, then the file is removed: the window between `[ -s FILE ]` and `< FILE`.
    vanish = '[() { builtin [ "$@"; local r=$?; rm -f "$pidfile"; return $r; }\n'
    body = function_body("process", "pid_in")
    result = run('pidfile=$(mktemp); echo 123 > "$pidfile"\n' + vanish + body
                 + 'pid_in "$pidfile"; echo "pid=[$(pid_in "$pidfile")]"\n')
    assert (result.stdout, result.stderr) == ("pid=[]\n", "")
