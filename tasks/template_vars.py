"""The template variables (``[vars]``, and a host's ``vars``): one declaration of those the bundled
templates use, each with its type and range, and the rule for any other (a custom template's).

Every value ends up inside a config file (nginx, Apache, lighttpd, gunicorn's Python, uWSGI's ini,
logrotate's), where a quote, a ``;``, a brace, a ``#``, a line break or a ``$`` could end the directive and
start another (an audit added a whole nginx ``server`` block through ``client_max_body_size``). So a
bundled variable must be its type, within its range; any other variable must be a bool, a number, or a
string of plain characters (`PLAIN`); anything else is refused with its key, before any connection
(docs/inventory.md, "Template variables").
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .checks import Check, is_abs_path, is_int, is_number

# Letters, digits and . _ / @ + : , = - %: nothing that quotes, ends or comments a directive in any of
# the config languages, or that a shell or uWSGI expands (no $, no space, no parenthesis).
PLAIN = re.compile(r"^[A-Za-z0-9._/@+:,=%-]*$")
_NGINX_SIZE = re.compile(r"^[0-9]{1,12}[kKmMgG]?$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def _matches(pattern: re.Pattern[str], what: str) -> Check:
    def check(v: Any) -> str | None:
        return None if isinstance(v, str) and pattern.fullmatch(v) else f"must be {what}, not {v!r}"
    return check


def _seconds(v: Any) -> str | None:
    problem = is_number(v)
    if problem is None and not 0 < v <= 86400:
        return f"must be between 0 and 86400 seconds, not {v}"
    return problem


# name -> (check, what it is for): the variables the bundled templates read.
BUNDLED: dict[str, tuple[Check, str]] = {
    "workers": (is_int(1, 1024), "app server worker processes (gunicorn, uWSGI, mod_wsgi)"),
    "threads": (is_int(1, 1024), "threads per worker"),
    "timeout": (_seconds, "seconds a request may take before its worker is replaced"),
    "graceful_timeout": (_seconds, "seconds the old workers have to finish their requests"),
    "client_max_body_size": (_matches(_NGINX_SIZE, "an nginx size such as 10m, 512k or 1g"),
                             "nginx: the largest request body"),
    "log_rotate_days": (is_int(1, 3650), "days of logs logrotate keeps"),
    "front_log_dir": (is_abs_path, "where the front server writes the app's logs"),
    "front_user": (_matches(_USER, "a user name"), "the front server's user, which may pass through the app's root"),
    "apache_modules_dir": (is_abs_path, "where Apache's modules are"),
    "app_user": (_matches(_USER, "a user name"), "mod_wsgi: the daemon's user"),
    "app_group": (_matches(_USER, "a group name"), "mod_wsgi: the daemon's group"),
    "uwsgi_listen": (is_int(1, 65535), "uWSGI's listen queue"),
    "standalone_threads": (is_int(1, 1024), "the gevent/tornado/twisted runner's threads"),
    "standalone_connections": (is_int(1, 1_000_000), "the runner's open connections"),
    "standalone_backlog": (is_int(1, 65535), "the runner's listen backlog"),
}


def custom_value(v: Any) -> str | None:
    """A variable no bundled template reads (a custom template's): a bool, a number, or a plain string."""
    if isinstance(v, (bool, int, float)):
        return None
    if isinstance(v, str) and PLAIN.fullmatch(v):
        return None
    if isinstance(v, str):
        return ("must use only letters, digits and . _ / @ + : , = % - (it goes into config files, where a "
                f"quote, ';', '{{', '#', '$', a space or a line break could add a directive), not {v!r}")
    return f"must be a bool, a number or a string, not {type(v).__name__}"


def vars_problem(table: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first (name, problem) of ``table``'s variables, or None when every one is fine."""
    for name, value in table.items():
        check = BUNDLED[name][0] if name in BUNDLED else custom_value
        problem = check(value)
        if problem:
            return name, problem
    return None
