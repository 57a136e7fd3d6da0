"""The files ``wsgideploy init`` writes, and what it prints, as text. Pure.

The stage file carries a short comment on every key, so that a first-time user can
edit it without the reference open; docs/inventory.md has the rest.
"""
from __future__ import annotations

import json
import re

from .detect import Detected

FABFILE = ('"""Deploy tasks for `fab` (written by `wsgideploy init`); `wsgideploy --list` shows the same."""\n'
           "from wsgideploy.fab import ns  # noqa: F401\n")
# Local run logs live in .wsgideploy/; ignoring everything there keeps the git tree clean.
GITIGNORE = "*\n"
PLACEHOLDER_HOST = "web1.example.com"
DEFAULT_ALIAS = "web1"
STAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_COMMENT_COLUMN = 32


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string: JSON's string escapes are all valid TOML ones."""
    return json.dumps(value)


def _line(text: str, comment: str) -> str:
    """``text`` with ``# comment`` at a fixed column, so the comments line up."""
    return f"{text:<{_COMMENT_COLUMN}} # {comment}" if comment else text


def stage_file(detected: Detected, stage: str, hostname: str | None = None, alias: str = DEFAULT_ALIAS) -> str:
    """The text of ``deploy/<stage>.toml`` for ``detected``, with host ``alias`` at ``hostname``
    (else the placeholder `PLACEHOLDER_HOST`)."""
    d = detected
    also = f"; also found: {', '.join(d.others)}" if d.others else ""
    lines = [
        f'# Stage "{stage}" of {d.name}: the app, and the hosts it is deployed to.',
        "# Written by `wsgideploy init` from what it found in this repository; edit it freely.",
        "# Every key, its type and its default: docs/inventory.md in wsgideploy's documentation.",
        "# Check this file without connecting: wsgideploy inventory.check",
        "",
        "[app]",
        _line(f"name = {toml_string(d.name)}", "the nginx site's and the processes' name ([a-z0-9_-])"),
        _line(f"wsgi = {toml_string(d.wsgi)}", f"found in {d.wsgi_file}{also}"),
        _line('# source = ".."', "the local directory to deploy; default: the repository root (above deploy/)"),
        _line('server = "gunicorn"', "the app server (uwsgi, mod_wsgi, fastcgi, ...: docs/modes/)"),
        _line('proxy = "nginx"', "the front server, which serves the static files itself"),
        _line(f"root = {toml_string('/srv/' + d.name)}", "on the host: releases/, current, shared/, venvs/"),
        _line('server_name = "_"', "your domain (app.example.com); \"_\" answers any name"),
    ]
    if d.static_dir:
        lines.append(_line(f"static_dir = {toml_string(d.static_dir)}", "served by nginx at /static"))
    elif d.framework == "django":
        lines.append("# static_dir: not set; the deploy runs collectstatic and serves STATIC_ROOT at STATIC_URL")
    else:
        lines.append(_line('# static_dir = "static"', "none found; the folder nginx serves at /static"))
    if d.python:
        lines.append(_line(f'python = "python{d.python}"', f"the host's Python for the venvs (from {d.python_source})"))
    else:
        lines.append(_line('# python = "python3.11"', "the host's Python for the venvs; default: python3"))
    lines += [
        "",
        _line(f"[hosts.{alias}]", f"the host's alias: wsgideploy -H {alias} deploy"),
        _line(f"hostname = {toml_string(hostname or PLACEHOLDER_HOST)}",
              "the server's name or IP address" if hostname else "placeholder: your server's name or IP address"),
        _line('user = "deploy"', "the SSH user that deploys; the app runs as its own user (`setup` makes both)"),
        _line("# port = 22", ""),
        _line('# identity = "~/.ssh/id_ed25519"', "the SSH key; the file must exist (default: ssh-agent, ~/.ssh/id_*)"),
        _line('# roles = ["web"]', "labels for --roles and hooks"),
        "",
    ]
    return "\n".join(lines)


def summary(detected: Detected) -> list[str]:
    """What ``init`` found, one fact per line, for the person running it."""
    d = detected
    requirements = {
        "requirements.txt": "requirements.txt (pip install -r)",
        "pyproject.toml": "pyproject.toml ([project] dependencies; the package itself into each release)",
        None: "neither requirements.txt nor pyproject.toml: the venv gets the app server only",
    }[d.requirements]
    if d.static_dir:
        static = d.static_dir
    elif d.framework == "django":
        static = "Django's STATIC_ROOT (the deploy runs collectstatic)"
    else:
        static = "none found"
    python = f"python{d.python} (from {d.python_source})" if d.python else "not found: the host's python3"
    lines = [f"Detected in {d.root}:",
             f"  app       {d.name}",
             f"  wsgi      {d.wsgi}  ({d.framework}, in {d.wsgi_file})"]
    lines += [f"            also found: {other}" for other in d.others]
    lines += [f"  installs  {requirements}",
              f"  static    {static}",
              f"  python    {python}"]
    return lines


def next_steps(stage: str, alias: str = DEFAULT_ALIAS) -> list[str]:
    """The commands that take a fresh config to a first deploy."""
    return [
        "Next:",
        f"  1. edit deploy/{stage}.toml: hostname and user of [hosts.{alias}]",
        '  2. git add deploy fabfile.py && git commit -m "wsgideploy config"',
        f"  3. wsgideploy -H {alias} deploy",
        f"  4. wsgideploy -H {alias} status",
    ]
