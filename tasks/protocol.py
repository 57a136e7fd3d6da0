"""The output protocol: the marker lines the host scripts print and the Python that reads them.

A script's other output is for people (shown with ``-v``, kept in the run log). A marker line is for
wsgideploy: a marker, then a value, one a line. Every marker is declared here and read here:

==============================  =========================================  ==========================
line                            printed by                                 read by
==============================  =========================================  ==========================
``wsgideploy-fact:key=value``   any script: what the controller needs      `parse_facts`, `fact_values`
``wsgideploy-step:N``           a batch of steps (steps.combine)           `step_index`
``wsgideploy-soft-error:text``  a step allowed to fail (steps.combine)     `soft_error`
``wsgideploy-session:SID``      every script's prelude (commands.shell)    `session_id`
``wsgideploy-log:json``         the deploy log (commands.history)          `parse_marked`
``wsgideploy-venv:key``         plan: a complete venv on the host          `parse_marked`
``wsgideploy-file:label=b64``   plan: a live config file, base64           `parse_marked`
``wsgideploy-missing:label``    plan: a live config file that is absent    `parse_marked`
==============================  =========================================  ==========================
"""
from __future__ import annotations

FACTS_MARK = "wsgideploy-fact:"
STEP_MARK = "wsgideploy-step:"
SOFT_ERROR_MARK = "wsgideploy-soft-error:"
SESSION_MARK = "wsgideploy-session:"
LOG_MARK = "wsgideploy-log:"
VENV_MARK = "wsgideploy-venv:"
FILE_MARK = "wsgideploy-file:"
MISSING_MARK = "wsgideploy-missing:"


def parse_facts(stdout: str) -> dict[str, str]:
    """The ``wsgideploy-fact:key=value`` lines of ``stdout`` (the last value of a key wins)."""
    facts = {}
    for line in stdout.splitlines():
        if line.startswith(FACTS_MARK):
            key, _, value = line[len(FACTS_MARK):].partition("=")
            facts[key] = value
    return facts


def fact_values(stdout: str, key: str) -> list[str]:
    """Every value printed for ``key``, in order (for facts printed once per item)."""
    prefix = FACTS_MARK + key + "="
    return [line[len(prefix):] for line in stdout.splitlines() if line.startswith(prefix)]


def step_index(line: str) -> int | None:
    """N for a ``wsgideploy-step:N`` line, else None."""
    value = line[len(STEP_MARK):] if line.startswith(STEP_MARK) else ""
    return int(value) if value.isdigit() else None


def soft_error(line: str) -> str | None:
    """The message of a ``wsgideploy-soft-error:`` line, else None."""
    return line[len(SOFT_ERROR_MARK):] if line.startswith(SOFT_ERROR_MARK) else None


def session_id(line: str) -> int | None:
    """The remote session id of a ``wsgideploy-session:SID`` line, else None."""
    value = line[len(SESSION_MARK):].strip() if line.startswith(SESSION_MARK) else ""
    return int(value) if value.isdigit() else None


def parse_marked(stdout: str, mark: str) -> list[str]:
    """The values of every ``mark`` line of ``stdout``, in order."""
    return [line[len(mark):] for line in stdout.splitlines() if line.startswith(mark)]
