"""`Script`: how Python composes a host script from shell recipes, with no string surgery.

A script is the strict prelude (`shell.PRELUDE`), then its values as quoted assignments, then the
recipe files it uses (``tasks/recipes/<name>.sh``: bash functions, checked by shellcheck), then the
commands to run, usually one function call::

    Script("gunicorn_upgrade", {"pidfile": f"{layout.run}/gunicorn.pid", "START_TIMEOUT": 60, ...},
           ("process", "pidfile", "gunicorn")).text()

A value is written as ``name='value'`` (`shlex.quote`), or bare when it is an int, so no value
is ever expanded by the shell. Names must be shell identifiers. ``functions`` is bash that a builder
writes itself, before the recipes: a front server's functions (`apache.functions`), which the
app servers that run inside Apache (mod_wsgi, cgi) call.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from .shell import q, script

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@cache
def recipe(name: str) -> str:
    """The text of ``tasks/recipes/<name>.sh`` (package data ``wsgideploy/recipes``)."""
    if not _NAME.match(name):
        raise ValueError(f"not a recipe name: {name!r}")
    return resources.files("wsgideploy.recipes").joinpath(f"{name}.sh").read_text(encoding="utf-8")


def assignment(name: str, value: str | int) -> str:
    """``name=<value>``: an int bare, anything else quoted."""
    if not _NAME.match(name):
        raise ValueError(f"not a shell variable name: {name!r}")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{name}: a script value is a str or an int, not {type(value).__name__}")
    return f"{name}={value}" if isinstance(value, int) else f"{name}={q(value)}"


@dataclass(frozen=True)
class Script:
    """A host script: values, the recipes that define its functions, and what it runs."""

    run: str
    values: Mapping[str, str | int] = field(default_factory=dict)
    recipes: tuple[str, ...] = ()
    functions: str = ""

    def text(self) -> str:
        assignments = "\n".join(assignment(name, value) for name, value in self.values.items())
        return script(assignments, self.functions, *(recipe(name) for name in self.recipes), self.run)
