"""The Python that makes the app's venvs (``[app] python``): a command the host must have (``python3``,
``python3.11``, ``/usr/bin/python3.12``), or a version (``"3.12"``): the host's ``python3.12`` when it has
one, else an interpreter that uv manages under ``<root>/.python``, installed by uv on the first deploy that
needs it (``tasks/recipes/python.sh``; docs/inventory.md). Pure builders, str in, str out.

uv's interpreters live under the app root, not in the deploy user's data directory (uv's default): the app
runs as its own user, whose venvs link to the interpreter, and a home folder may be closed to it (0700).
"""
from __future__ import annotations

import re

from ..layout import Layout
from .recipe import assignment, recipe

VERSION = re.compile(r"^3\.[0-9]{1,2}$")
MANAGED_DIR = ".python"


def is_version(python: str) -> bool:
    """Whether ``[app] python`` asks for a version (``3.12``) rather than names a command."""
    return bool(VERSION.match(python))


def managed_dir(layout: Layout) -> str:
    """``<root>/.python``: uv's interpreters for this app."""
    return f"{layout.root}/{MANAGED_DIR}"


def find_python(python: str, layout: Layout, install: bool, with_process: bool = True) -> str:
    """Shell, in a subshell: the facts ``python`` (the interpreter's path) and ``python_version``; with
    ``install`` (a deploy), a version that the host lacks is installed with uv (the fact
    ``python_installed``), and a Python that cannot be had fails the script with the fix. Without it
    (plan), both facts are empty when there is none. ``with_process=False``: the script already defines
    process.sh's functions (a subshell inherits them)."""
    values = {"want": python, "managed_dir": managed_dir(layout), "may_install": int(install),
              "version_cache": f"{layout.deploy_dir}/python-versions"}
    body = "\n".join(assignment(k, v) for k, v in values.items())
    recipes = (("process",) if with_process else ()) + (("python", "python_uv", "python_record") if install
                                                         else ("python",))
    return "(\n" + "\n".join([body, *(recipe(name).strip() for name in recipes), "find_python"]) + "\n)"
