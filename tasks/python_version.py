"""The app's ``requires-python`` (pyproject.toml) against the host's Python, before anything is uploaded.

Pure. The specifier is PEP 440's, for the clauses that ``requires-python`` uses in practice: ``>=``, ``>``,
``<=``, ``<``, ``==`` and ``!=`` (with a ``.*`` wildcard), ``~=``, joined by commas. A clause this does not
read is not held against the host (pip, which reads them all, still refuses such a venv).
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

_CLAUSE = re.compile(r"^(~=|==|!=|<=|>=|<|>)\s*([0-9]+(?:\.[0-9]+)*)(\.\*)?$")


def requires_python(source: Path) -> str | None:
    """``[project] requires-python`` of ``source/pyproject.toml``, or None."""
    try:
        with open(source / "pyproject.toml", "rb") as fh:
            project = tomllib.load(fh).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    value = project.get("requires-python") if isinstance(project, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _pad(numbers: tuple[int, ...], length: int) -> tuple[int, ...]:
    return numbers + (0,) * (length - len(numbers))


def satisfies(version: str, specifier: str) -> bool:
    """Whether the release ``version`` (``3.11.2``) meets every clause of ``specifier`` (``>=3.9,<4``)."""
    have = _numbers(re.match(r"[0-9]+(?:\.[0-9]+)*", version).group(0))  # type: ignore[union-attr]
    for clause in filter(None, (c.strip() for c in specifier.split(","))):
        match = _CLAUSE.match(clause)
        if not match:
            continue
        op, text, wildcard = match.groups()
        want = _numbers(text)
        if wildcard or op in ("~=",):
            prefix = want if wildcard else want[:-1]
            same = have[:len(prefix)] == prefix
            if op == "==" and not same or op == "!=" and same:
                return False
            if op == "~=" and not (same and _pad(have, len(want)) >= want):
                return False
            continue
        size = max(len(have), len(want))
        mine, theirs = _pad(have, size), _pad(want, size)
        ok = {"==": mine == theirs, "!=": mine != theirs, "<=": mine <= theirs, ">=": mine >= theirs,
              "<": mine < theirs, ">": mine > theirs}[op]
        if not ok:
            return False
    return True


def python_problem(source: Path, python: str, version: str) -> str | None:
    """Why the host's ``python`` (its ``version``) cannot run the app, or None."""
    specifier = requires_python(source)
    if not specifier or not version or satisfies(version, specifier):
        return None
    return (f"the app requires Python {specifier} (pyproject.toml requires-python) and the host's {python} is "
            f"{version}: set [app] python to a version that meets it (e.g. \"3.12\": the host's python3.12, "
            "else installed with uv)")


def missing_python(python: str, root: str, uv: bool) -> tuple[str, bool]:
    """What plan says of a host without ``[app] python``, and whether a deploy would fail for it: a version
    (``3.12``) that uv can install is a note, anything else a problem that names the fix."""
    if not re.match(r"^3\.[0-9]{1,2}$", python):
        return f"{python} is not installed on the host", True
    if uv:
        return f"Python {python} is not on the host: a deploy installs it with uv into {root}/.python", False
    return (f"Python {python} is not on the host (no python{python}), and uv is not there to install it: "
            "pip install --user uv on the host, or set [app] python to a Python it has"), True
