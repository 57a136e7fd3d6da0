"""Checks of inventory values: each takes a value from the TOML and returns a problem, or None.

A problem is the end of an error message (``must be an integer, not str``); the loader
puts the file and the key path in front of it. Pure: no file system, no network.
"""
from __future__ import annotations

import difflib
import ipaddress
import posixpath
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Check = Callable[[Any], str | None]  # returns a problem, or None when the value is fine

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
WSGI = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*(\(.*\))?$")
USER = re.compile(r"^[a-z_][a-z0-9_-]*\$?$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Values that end up in shell scripts or nginx configs: no quotes, spaces, ';', '$', ...
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/@+:,=-]*$")
_SAFE_WORD = re.compile(r"^[A-Za-z0-9._/@+:,=-]+$")
_SERVER_NAMES = re.compile(r"^[^\s;{}'\"#`\\]+( [^\s;{}'\"#`\\]+)*$")
_EMAIL = re.compile(r"^[^@\s'\"`$;\\]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/%+=:@-]*)?$")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def is_str(v: Any) -> str | None:
    return None if isinstance(v, str) and v != "" else "must be a non-empty string"


def is_int(lo: int, hi: int) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, int) or isinstance(v, bool):
            return f"must be an integer, not {type(v).__name__}"
        return None if lo <= v <= hi else f"must be between {lo} and {hi}, not {v}"
    return check


def is_number(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"must be a number, not {type(v).__name__}"
    return None if v > 0 else f"must be greater than 0, not {v}"


def is_bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"must be true or false, not {type(v).__name__}"


def is_table(v: Any) -> str | None:
    return None if isinstance(v, dict) else f"must be a table, not {type(v).__name__}"


def one_of(choices: tuple[str, ...]) -> Check:
    def check(v: Any) -> str | None:
        if v in choices:
            return None
        hint = did_you_mean(str(v), choices)
        return f"must be one of {', '.join(repr(c) for c in choices)}, not {v!r}{hint}"
    return check


def matches(pattern: re.Pattern[str], what: str) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, str):
            return f"must be a string ({what}), not {type(v).__name__}"
        return None if pattern.fullmatch(v) else f"must be {what}, not {v!r}"
    return check


def is_abs_path(v: Any) -> str | None:
    if not isinstance(v, str) or not v.startswith("/"):
        return f"must be an absolute path on the host, not {v!r}"
    if not _SAFE_PATH.fullmatch(v):
        return f"must use only letters, digits and . _ / @ + : , = - (no spaces, quotes or $), not {v!r}"
    return None


# A folder root writes a file into (a site, a Listen file, a logrotate snippet) must be one for that kind of file:
# never the system's own top folders, or a server's main one beside its main config.
_NOT_CONFIG_DIRS = frozenset({"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/opt", "/proc", "/root", "/run",
                              "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/etc/nginx", "/etc/apache2",
                              "/etc/lighttpd", "/etc/systemd", "/etc/systemd/system", "/etc/sudoers.d", "/etc/cron.d",
                              "/etc/ssh", "/etc/pam.d", "/etc/security", "/etc/profile.d", "/etc/ld.so.conf.d"})


def is_config_dir(v: Any) -> str | None:
    problem = is_abs_path(v)
    if problem is not None:
        return problem
    v = v.rstrip("/") or "/"
    if posixpath.normpath(v) != v:
        return f"must be written plainly (no '.', '..' or '//'): {posixpath.normpath(v)!r}?"
    if v in _NOT_CONFIG_DIRS:
        return (f"must be a folder for these files only (such as /etc/nginx/sites-available), not {v}: root "
                "writes into it")
    return None


def is_config_dir_or_false(v: Any) -> str | None:
    return None if v is False else is_config_dir(v)


# An app root is the app's own folder: never a system folder or one below it (uninstall --purge removes the
# root as root), nor a folder that holds other things (/srv, /home, /var/www itself).
_SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin",
                 "/sys", "/usr", "/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/run", "/var/lock")
_SHARED_FOLDERS = ("/", "/home", "/opt", "/root", "/srv", "/tmp", "/var", "/var/tmp", "/var/www", "/mnt", "/media")


def is_app_root(v: Any) -> str | None:
    problem = is_abs_path(v)
    if problem is not None:
        return problem
    if v.rstrip("/") == "":
        return "must be a directory below '/', not '/' itself"
    v = v.rstrip("/")
    if posixpath.normpath(v) != v:
        return f"must be written plainly (no '.', '..' or '//'): {posixpath.normpath(v)!r}?"
    if v in _SHARED_FOLDERS:
        return f"must be the app's own folder, not {v} itself (e.g. {v.rstrip('/')}/<app>)"
    for tree in _SYSTEM_TREES:
        if v == tree or v.startswith(tree + "/"):
            return f"must not be in the system folder {tree} (use /srv/<app>, /opt/<app> or the deploy user's home)"
    return None


def is_command_word(v: Any) -> str | None:
    if isinstance(v, str) and _SAFE_WORD.fullmatch(v):
        return None
    return f"must be a command name or path without spaces, quotes or $, not {v!r}"


def is_rel_paths(v: Any) -> str | None:
    if not isinstance(v, list) or not all(isinstance(p, str) and p for p in v):
        return "must be a list of non-empty strings"
    for p in v:
        parts = Path(p).parts
        if p.startswith("/") or ".." in parts or not parts or not _SAFE_WORD.fullmatch(p):
            return f"{p!r} must be a relative path inside the release, without '..', spaces or quotes"
    return None


# What wsgideploy itself puts in a release: a shared path with one of these names would replace it.
RESERVED_IN_RELEASE = (".wsgideploy", "venv", ".wsgideploy-bad")


def is_shared_paths(v: Any) -> str | None:
    problem = is_rel_paths(v)
    if problem is None:
        for p in v:
            if Path(p).parts[0] in RESERVED_IN_RELEASE:
                return f"{p!r} is wsgideploy's own in every release ({', '.join(RESERVED_IN_RELEASE)}): share another path"
    return problem


def is_rel_path(v: Any) -> str | None:
    if not isinstance(v, str) or not v:
        return "must be a non-empty string"
    return is_rel_paths([v])


def is_str_list(v: Any) -> str | None:
    if isinstance(v, list) and all(isinstance(x, str) and x for x in v):
        return None
    return "must be a list of non-empty strings"


def is_server_names(v: Any) -> str | None:
    if isinstance(v, str) and _SERVER_NAMES.fullmatch(v):
        return None
    return f"must be nginx server names separated by single spaces (no quotes, ';', '{{' or '}}'), not {v!r}"


# URL paths go into the front servers' configs, uWSGI's ini (where "@(...)" would run a command) and the
# probes: an allow-list, and segments that never start with "." (no "." or "..").
_URL_SEGMENTS = re.compile(r"^(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+/?$")
_REQUEST_PATH = re.compile(r"^/[A-Za-z0-9._~/%?&=+:,-]*$")


def is_url_path(v: Any) -> str | None:
    """A path to request (the health check's): letters, digits and . _ ~ / % ? & = + : , -, no '..'."""
    if isinstance(v, str) and _REQUEST_PATH.fullmatch(v) and "/.." not in v:
        return None
    return f"must be a URL path starting with '/' (letters, digits and . _ ~ / % ? & = + : , -), not {v!r}"


def is_url_prefix(v: Any) -> str | None:
    """Where the app is mounted: "" (at '/'), or segments of letters, digits and . _ ~ -."""
    if v in ("", "/") or (isinstance(v, str) and _URL_SEGMENTS.fullmatch(v)):
        return None
    return f"must be '' or a path such as '/app' (segments of letters, digits and . _ ~ -), not {v!r}"


def is_static_url(v: Any) -> str | None:
    if isinstance(v, str) and v.rstrip("/") == "":
        return "must be a path below '/' (the app itself is served at '/')"
    if isinstance(v, str) and _URL_SEGMENTS.fullmatch(v):
        return None
    return f"must be a path such as '/static' (segments of letters, digits and . _ ~ -), not {v!r}"


def is_ip_address(v: Any) -> str | None:
    try:
        ipaddress.ip_address(v if isinstance(v, str) else "")
        return None
    except ValueError:
        return f"must be an IP address such as '127.0.0.1' or '::1', not {v!r}"


def is_hostname(v: Any) -> str | None:
    if not isinstance(v, str):
        return f"must be a string, not {type(v).__name__}"
    try:
        ipaddress.ip_address(v)
        return None
    except ValueError:
        pass
    return None if _HOSTNAME.fullmatch(v) else f"is not a valid hostname or IP address: {v!r}"


def is_email(v: Any) -> str | None:
    return None if isinstance(v, str) and _EMAIL.fullmatch(v) else f"must be an email address, not {v!r}"


def is_https_url(v: Any) -> str | None:
    if isinstance(v, str) and _HTTPS_URL.fullmatch(v):
        return None
    return f"must be an https:// URL (no spaces or quotes), not {v!r}"


def is_dns_name(v: str) -> bool:
    """Whether ``v`` is a plain DNS name: not an IP address, no wildcard or regex."""
    try:
        ipaddress.ip_address(v)
        return False
    except ValueError:
        return bool(_HOSTNAME.fullmatch(v))


def is_environment(v: Any) -> str | None:
    """``[app.environment]``: names of environment variables, each a string, a whole number or a boolean."""
    if not isinstance(v, dict):
        return 'must be a table of plain settings, like { DATABASE_URL = "sqlite:///app.db" }'
    for name, value in v.items():
        if not _ENV_NAME.fullmatch(name):
            return f"{name}: is not an environment variable name (letters, digits, '_')"
        if not isinstance(value, (str, int, bool)):
            return f"{name}: must be a string, a whole number or a boolean, not {type(value).__name__}"
        if isinstance(value, str) and "\0" in value:
            return f"{name}: a value cannot hold a NUL character"
    return None


def environment_value(value: str | int | bool) -> str:
    """A checked `is_environment` value as the app reads it: ``true``/``false`` for a boolean (TOML's words)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_env_names(v: Any) -> str | None:
    if isinstance(v, list) and all(isinstance(x, str) and _ENV_NAME.fullmatch(x) for x in v):
        return None
    return "must be a list of environment variable names (letters, digits, '_')"
