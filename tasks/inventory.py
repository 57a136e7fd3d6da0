"""Inventories: ``inventories/<stage>.toml`` parsed into frozen dataclasses.

Validation is strict and happens before any connection is made. Every error
names the file, the key path and, for a misspelt key, the likely spelling.
This module is pure: it reads local files and never touches the network.
"""
from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .modes import COMPATIBLE, PROXY_MODULES, SERVER_MODULES, is_available
from .rollout import batch_size_problem

SERVERS = tuple(SERVER_MODULES)
PROXIES = tuple(PROXY_MODULES)
NGINX_CONTROLS = ("auto", "systemd", "signal")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
INSTALLERS = ("pip", "uv")  # what fills a venv: its own pip, or the host's uv
PROXY_FIX_KEYS = ("x_for", "x_proto", "x_host", "x_port", "x_prefix")
# Upstreams where the app sees the client only through X-Forwarded-* headers.
HTTP_UPSTREAMS = ("http-unix",)

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_WSGI = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*(\(.*\))?$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]*\$?$")
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Values that end up in shell scripts or nginx configs: no quotes, spaces, ';', '$', ...
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/@+:,=-]*$")
_SAFE_WORD = re.compile(r"^[A-Za-z0-9._/@+:,=-]+$")
_SERVER_NAMES = re.compile(r"^[^\s;{}'\"#`\\]+( [^\s;{}'\"#`\\]+)*$")


class InventoryError(Exception):
    """An inventory is invalid. The message names the file and the key path."""

    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        self.path = str(path)
        self.key = key
        self.problem = problem
        where = f"{self.path}: {key}" if key else self.path
        super().__init__(f"{where}: {problem}")


class UnknownHostError(Exception):
    """A ``-H`` alias that no inventory defines."""


@dataclass(frozen=True)
class Health:
    """How ``deploy`` checks the app after the switch (through the proxy)."""

    path: str = "/"
    status: int = 200
    timeout: float = 30.0


@dataclass(frozen=True)
class ProxyFixCounts:
    """How many proxies in front set each X-Forwarded-* header (werkzeug's ProxyFix)."""

    x_for: int = 1
    x_proto: int = 1
    x_host: int = 0
    x_port: int = 0
    x_prefix: int = 0


@dataclass(frozen=True)
class Hook:
    """A shell command run in the new release before the switch, on hosts with one of ``roles``.

    A ``once`` hook (a migration, say) runs on one host of the run only.
    """

    run: str
    roles: tuple[str, ...] = ()
    once: bool = False

    def matches(self, host: "Host") -> bool:
        """Whether ``host`` has one of this hook's roles (no roles means every host)."""
        return not self.roles or any(role in host.roles for role in self.roles)

    def applies_to(self, host: "Host", selected: Sequence["Host"] = ()) -> bool:
        """Whether this hook runs on ``host`` in a run that selected ``selected`` (in order).

        A ``once`` hook runs only on the first host of ``selected`` that it matches,
        counting hosts of ``host``'s stage only; with no selection, ``host`` is taken as alone.
        """
        if not self.matches(host):
            return False
        if not self.once:
            return True
        first = next((h for h in selected if h.stage == host.stage and self.matches(h)), None)
        return first is None or first.alias == host.alias


@dataclass(frozen=True)
class Hooks:
    """Commands that run at fixed points of a deploy (``[hooks]``)."""

    before_switch: tuple[Hook, ...] = ()


@dataclass(frozen=True)
class App:
    """What is deployed, and where it lives on the host (the ``[app]`` table)."""

    name: str
    source: Path
    wsgi: str
    root: str
    server: str = "gunicorn"
    proxy: str = "nginx"
    server_name: str = "_"
    listen: int = 80
    listen_address: str | None = None
    python: str = "python3"
    shared: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    keep_releases: int = 5
    static_url: str = "/static"
    static_dir: str | None = None
    url_prefix: str = ""
    health: Health = field(default_factory=Health)
    env_file: Path | None = None
    env: tuple[str, ...] = ()
    templates: Path | None = None
    proxy_fix: ProxyFixCounts | None = None
    log_level: str = "INFO"
    logrotate: str | None = "/etc/logrotate.d"
    installer: str = "pip"
    pip_cache: bool = False

    @property
    def health_host(self) -> str:
        """The Host header for checks: the first plain name of ``server_name``, else ``localhost``."""
        for name in self.server_name.split():
            if name != "_" and not name.startswith("~") and "*" not in name and not name.startswith("."):
                return name
        return "localhost"


@dataclass(frozen=True)
class Nginx:
    """Where the nginx site goes and how nginx is controlled (``[nginx]``).

    The defaults are Debian's. Every path and command is configurable so that a
    host can run its own nginx prefix (the tests give each simulated host one).
    """

    sites_available: str = "/etc/nginx/sites-available"
    sites_enabled: str = "/etc/nginx/sites-enabled"
    binary: str = "nginx"
    conf: str | None = None
    sudo: bool = True
    control: str = "auto"


@dataclass(frozen=True)
class Apache:
    """Where the Apache site goes and how Apache is controlled (``[apache]``); Debian defaults.

    ``listen_dir`` holds the file with the ``Listen`` directive wsgideploy adds for
    ``app.listen``, so the host's own ports.conf is never edited.
    """

    sites_available: str = "/etc/apache2/sites-available"
    sites_enabled: str = "/etc/apache2/sites-enabled"
    listen_dir: str = "/etc/apache2/conf-enabled"
    conf: str | None = None
    binary: str = "apache2ctl"
    sudo: bool = True
    control: str = "auto"


@dataclass(frozen=True)
class Lighttpd:
    """Where the lighttpd site goes and how lighttpd is controlled (``[lighttpd]``); Debian defaults."""

    sites_available: str = "/etc/lighttpd/conf-available"
    sites_enabled: str = "/etc/lighttpd/conf-enabled"
    conf: str | None = None
    binary: str = "lighttpd"
    pidfile: str = "/run/lighttpd.pid"
    sudo: bool = True
    control: str = "auto"


@dataclass(frozen=True)
class Ssh:
    """Connection settings shared by every host of a stage (``[ssh]``)."""

    connect_timeout: float = 15.0
    command_timeout: float = 900.0


@dataclass(frozen=True)
class Rollout:
    """How a deploy goes live across the hosts of a run (``[rollout]``).

    ``batch_size`` hosts switch together (a count, or a percentage like ``"25%"``
    rounded up; None: all at once); at most ``parallel`` hosts work at a time.
    """

    batch_size: int | str | None = None
    parallel: int = 10


@dataclass(frozen=True)
class Host:
    """One target host (``[hosts.<alias>]``)."""

    alias: str
    stage: str
    hostname: str
    port: int = 22
    user: str | None = None
    identity: str | None = None
    known_hosts: str | None = None
    roles: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """One inventory file: an app, how to reach its hosts, and the hosts."""

    name: str
    path: Path
    app: App
    nginx: Nginx
    ssh: Ssh
    vars: Mapping[str, Any]
    hosts: tuple[Host, ...]
    hooks: Hooks = field(default_factory=Hooks)
    apache: Apache = field(default_factory=Apache)
    lighttpd: Lighttpd = field(default_factory=Lighttpd)
    rollout: Rollout = field(default_factory=Rollout)
    # The effective App of each host with a ``[hosts.<alias>.app]`` table, by alias.
    host_apps: Mapping[str, App] = field(default_factory=dict)
    host_fronts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # alias -> {"nginx": Nginx, ...}

    def host_vars(self, host: Host) -> dict[str, Any]:
        """Template variables for ``host``: stage ``[vars]`` overridden by host ``vars``."""
        return {**self.vars, **host.vars}

    def for_host(self, host: Host) -> "Stage":
        """This stage as ``host`` sees it: ``app`` is the host's effective App
        (``[app]`` with its ``[hosts.<alias>.app]`` over it), and its front-server tables
        (``[hosts.<alias>.nginx]`` over ``[nginx]``, ...). The same object when it has no overrides."""
        app = self.host_apps.get(host.alias)
        fronts = self.host_fronts.get(host.alias, {})
        if (app is None or app == self.app) and not fronts:
            return self
        return replace(self, app=app or self.app, **fronts)


# --- the schema ---------------------------------------------------------------

Check = Callable[[Any], str | None]  # returns a problem, or None when the value is fine


def _is_str(v: Any) -> str | None:
    return None if isinstance(v, str) and v != "" else "must be a non-empty string"


def _is_int(lo: int, hi: int) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, int) or isinstance(v, bool):
            return f"must be an integer, not {type(v).__name__}"
        return None if lo <= v <= hi else f"must be between {lo} and {hi}, not {v}"
    return check


def _is_number(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"must be a number, not {type(v).__name__}"
    return None if v > 0 else f"must be greater than 0, not {v}"


def _is_bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"must be true or false, not {type(v).__name__}"


def _one_of(choices: tuple[str, ...]) -> Check:
    def check(v: Any) -> str | None:
        if v in choices:
            return None
        hint = _did_you_mean(str(v), choices)
        return f"must be one of {', '.join(repr(c) for c in choices)}, not {v!r}{hint}"
    return check


def _matches(pattern: re.Pattern[str], what: str) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, str):
            return f"must be a string ({what}), not {type(v).__name__}"
        return None if pattern.fullmatch(v) else f"must be {what}, not {v!r}"
    return check


def _is_abs_path(v: Any) -> str | None:
    if not isinstance(v, str) or not v.startswith("/"):
        return f"must be an absolute path on the host, not {v!r}"
    if not _SAFE_PATH.fullmatch(v):
        return f"must use only letters, digits and . _ / @ + : , = - (no spaces, quotes or $), not {v!r}"
    return None


def _is_app_root(v: Any) -> str | None:
    problem = _is_abs_path(v)
    if problem is None and v.rstrip("/") == "":
        return "must be a directory below '/', not '/' itself"
    return problem


def _is_command_word(v: Any) -> str | None:
    if isinstance(v, str) and _SAFE_WORD.fullmatch(v):
        return None
    return f"must be a command name or path without spaces, quotes or $, not {v!r}"


def _is_rel_path(v: Any) -> str | None:
    if not isinstance(v, str) or not v:
        return "must be a non-empty string"
    return _is_rel_paths([v])


def _is_server_names(v: Any) -> str | None:
    if isinstance(v, str) and _SERVER_NAMES.fullmatch(v):
        return None
    return f"must be nginx server names separated by single spaces (no quotes, ';', '{{' or '}}'), not {v!r}"


def _is_static_url(v: Any) -> str | None:
    problem = _is_url_path(v)
    if problem is None and v.rstrip("/") == "":
        return "must be a path below '/' (the app itself is served at '/')"
    return problem


def _is_listen_address(v: Any) -> str | None:
    try:
        ipaddress.ip_address(v if isinstance(v, str) else "")
        return None
    except ValueError:
        return f"must be an IP address such as '127.0.0.1' or '::1', not {v!r}"


def _is_rel_paths(v: Any) -> str | None:
    if not isinstance(v, list) or not all(isinstance(p, str) and p for p in v):
        return "must be a list of non-empty strings"
    for p in v:
        parts = Path(p).parts
        if p.startswith("/") or ".." in parts or not parts or not _SAFE_WORD.fullmatch(p):
            return f"{p!r} must be a relative path inside the release, without '..', spaces or quotes"
    return None


def _is_str_list(v: Any) -> str | None:
    if isinstance(v, list) and all(isinstance(x, str) and x for x in v):
        return None
    return "must be a list of non-empty strings"


def _is_url_path(v: Any) -> str | None:
    if isinstance(v, str) and v.startswith("/") and not any(ch in v for ch in " \t\n;{}'\"`$\\"):
        return None
    return f"must be a URL path starting with '/', not {v!r}"


def _is_hostname(v: Any) -> str | None:
    if not isinstance(v, str):
        return f"must be a string, not {type(v).__name__}"
    try:
        ipaddress.ip_address(v)
        return None
    except ValueError:
        pass
    return None if _HOSTNAME.fullmatch(v) else f"is not a valid hostname or IP address: {v!r}"


def _is_env_names(v: Any) -> str | None:
    if isinstance(v, list) and all(isinstance(x, str) and _ENV_NAME.fullmatch(x) for x in v):
        return None
    return "must be a list of environment variable names (letters, digits, '_')"


HOOK_ITEM_KEYS = ("run", "roles", "once")


def _is_hook_list(v: Any) -> str | None:
    if not isinstance(v, list):
        return "must be a list of commands (strings or { run = \"...\", roles = [...] } tables)"
    for i, item in enumerate(v):
        if isinstance(item, str) and item.strip():
            continue
        if isinstance(item, dict):
            unknown = set(item) - set(HOOK_ITEM_KEYS)
            if unknown:
                key = sorted(unknown)[0]
                return f"[{i}].{key}: unknown key{_did_you_mean(key, HOOK_ITEM_KEYS)}"
            if not isinstance(item.get("run"), str) or not item["run"].strip():
                return f"[{i}].run: is required and must be a command string"
            if "roles" in item and _is_str_list(item["roles"]):
                return f"[{i}].roles: must be a list of role names"
            if "once" in item and _is_bool(item["once"]):
                return f"[{i}].once: {_is_bool(item['once'])}"
            continue
        return f"[{i}]: must be a command string or a table with 'run' (and 'roles', 'once')"
    return None


def _is_proxy_fix(v: Any) -> str | None:
    if v is False:
        return None
    if not isinstance(v, dict):
        return "must be false or a table of counts like { x_for = 1, x_proto = 1 }"
    for key, count in v.items():
        if key not in PROXY_FIX_KEYS:
            return f"{key}: unknown key{_did_you_mean(key, PROXY_FIX_KEYS)}"
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 5:
            return f"{key}: must be a count of proxies from 0 to 5"
    return None


def _is_dir_or_false(v: Any) -> str | None:
    return None if v is False else _is_abs_path(v)


def _is_table(v: Any) -> str | None:
    return None if isinstance(v, dict) else f"must be a table, not {type(v).__name__}"


APP_KEYS: dict[str, Check] = {
    "name": _matches(_NAME, "lowercase letters, digits, '-' or '_'"),
    "source": _is_str,
    "wsgi": _matches(_WSGI, "'module:app' or 'module:create_app()'"),
    "root": _is_app_root,
    "server": _one_of(SERVERS),
    "proxy": _one_of(PROXIES),
    "server_name": _is_server_names,
    "listen": _is_int(1, 65535),
    "listen_address": _is_listen_address,
    "python": _is_command_word,
    "shared": _is_rel_paths,
    "exclude": _is_str_list,
    "keep_releases": _is_int(2, 1000),
    "static_url": _is_static_url,
    "url_prefix": _is_url_path,
    "static_dir": _is_rel_path,
    "health": _is_table,
    "env_file": _is_str,
    "env": _is_env_names,
    "templates": _is_str,
    "proxy_fix": _is_proxy_fix,
    "log_level": _one_of(LOG_LEVELS),
    "logrotate": _is_dir_or_false,
    "installer": _one_of(INSTALLERS),
    "pip_cache": _is_bool,
}
APP_REQUIRED = ("name", "wsgi", "root")
HEALTH_KEYS: dict[str, Check] = {"path": _is_url_path, "status": _is_int(100, 599), "timeout": _is_number}
NGINX_KEYS: dict[str, Check] = {
    "sites_available": _is_abs_path,
    "sites_enabled": _is_abs_path,
    "binary": _is_command_word,
    "conf": _is_abs_path,
    "sudo": _is_bool,
    "control": _one_of(NGINX_CONTROLS),
}
APACHE_KEYS: dict[str, Check] = {
    "sites_available": _is_abs_path,
    "sites_enabled": _is_abs_path,
    "listen_dir": _is_abs_path,
    "conf": _is_abs_path,
    "binary": _is_command_word,
    "sudo": _is_bool,
    "control": _one_of(NGINX_CONTROLS),
}
LIGHTTPD_KEYS: dict[str, Check] = {
    "sites_available": _is_abs_path,
    "sites_enabled": _is_abs_path,
    "conf": _is_abs_path,
    "binary": _is_command_word,
    "pidfile": _is_abs_path,
    "sudo": _is_bool,
    "control": _one_of(NGINX_CONTROLS),
}
SSH_KEYS: dict[str, Check] = {"connect_timeout": _is_number, "command_timeout": _is_number}
HOST_KEYS: dict[str, Check] = {
    "hostname": _is_hostname,
    "port": _is_int(1, 65535),
    "user": _matches(_USER, "a user name"),
    "identity": _is_str,
    "known_hosts": _is_str,
    "roles": _is_str_list,
    "vars": _is_table,
    "app": _is_table,
    "nginx": _is_table,
    "apache": _is_table,
    "lighttpd": _is_table,
}
FRONT_TABLES = ("nginx", "apache", "lighttpd")  # a host may override its front server's table too
HOST_REQUIRED = ("hostname",)
HOOK_KEYS: dict[str, Check] = {"before_switch": _is_hook_list}
ROLLOUT_KEYS: dict[str, Check] = {"batch_size": batch_size_problem, "parallel": _is_int(1, 100)}
TOP_KEYS = ("app", "nginx", "apache", "lighttpd", "ssh", "vars", "hooks", "rollout", "hosts")


def did_you_mean(word: str, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or ''."""
    return _did_you_mean(word, choices)


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_table(path: Path, prefix: str, table: Mapping[str, Any], schema: Mapping[str, Check],
                 required: tuple[str, ...] = ()) -> None:
    for key, value in table.items():
        if key not in schema:
            raise InventoryError(path, f"{prefix}.{key}", f"unknown key{_did_you_mean(key, schema)}")
        problem = schema[key](value)
        if problem:
            raise InventoryError(path, f"{prefix}.{key}", problem)
    for key in required:
        if key not in table:
            raise InventoryError(path, f"{prefix}.{key}", "is required")


def _expand(path_text: str | None, base: Path) -> str | None:
    """Expand ``~``; a relative local path is relative to the inventory file."""
    if path_text is None:
        return None
    p = Path(path_text).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def parse_stage(path: Path, data: Mapping[str, Any]) -> Stage:
    """Validate the parsed TOML ``data`` of ``path`` and build a `Stage`."""
    stage_name = path.stem
    for key in data:
        if key not in TOP_KEYS:
            raise InventoryError(path, key, f"unknown table{_did_you_mean(key, TOP_KEYS)}")
        if not isinstance(data[key], dict):
            raise InventoryError(path, key, "must be a table")
    if "app" not in data:
        raise InventoryError(path, "app", "is required")
    raw_app = data["app"]
    _check_table(path, "app", raw_app, APP_KEYS, APP_REQUIRED)
    _check_table(path, "app.health", raw_app.get("health", {}), HEALTH_KEYS)
    app = _build_app(path, raw_app, lambda key, problem: InventoryError(path, f"app.{key}", problem))
    nginx_raw = data.get("nginx", {})
    _check_table(path, "nginx", nginx_raw, NGINX_KEYS)
    apache_raw = data.get("apache", {})
    _check_table(path, "apache", apache_raw, APACHE_KEYS)
    lighttpd_raw = data.get("lighttpd", {})
    _check_table(path, "lighttpd", lighttpd_raw, LIGHTTPD_KEYS)
    ssh_raw = data.get("ssh", {})
    _check_table(path, "ssh", ssh_raw, SSH_KEYS)
    hooks_raw = data.get("hooks", {})
    _check_table(path, "hooks", hooks_raw, HOOK_KEYS)
    hooks = Hooks(before_switch=tuple(
        Hook(run=item) if isinstance(item, str)
        else Hook(run=item["run"], roles=tuple(item.get("roles", ())), once=item.get("once", False))
        for item in hooks_raw.get("before_switch", [])))
    rollout_raw = data.get("rollout", {})
    _check_table(path, "rollout", rollout_raw, ROLLOUT_KEYS)
    hosts_raw = data.get("hosts", {})
    hosts, host_apps, host_fronts = [], {}, {}
    front_schemas = {"nginx": (NGINX_KEYS, Nginx, nginx_raw), "apache": (APACHE_KEYS, Apache, apache_raw),
                     "lighttpd": (LIGHTTPD_KEYS, Lighttpd, lighttpd_raw)}
    for alias, raw in hosts_raw.items():
        key = f"hosts.{alias}"
        if not _ALIAS.fullmatch(alias):
            raise InventoryError(path, key, "an alias uses letters, digits, '.', '-' or '_'")
        if not isinstance(raw, dict):
            raise InventoryError(path, key, "must be a table")
        _check_table(path, key, raw, HOST_KEYS, HOST_REQUIRED)
        hosts.append(Host(
            alias=alias, stage=stage_name, hostname=raw["hostname"], port=raw.get("port", 22),
            user=raw.get("user"), identity=_expand(raw.get("identity"), path.parent),
            known_hosts=_expand(raw.get("known_hosts"), path.parent),
            roles=tuple(raw.get("roles", ())), vars=dict(raw.get("vars", {})),
        ))
        if "app" in raw:
            host_apps[alias] = _host_app(path, alias, raw_app, raw["app"])
        for table in FRONT_TABLES:
            if table in raw:
                schema, kind, stage_raw = front_schemas[table]
                _check_table(path, f"{key}.{table}", raw[table], schema)
                host_fronts.setdefault(alias, {})[table] = kind(**{**stage_raw, **raw[table]})
    return Stage(
        name=stage_name, path=path, app=app, nginx=Nginx(**nginx_raw),
        ssh=Ssh(**{k: float(v) for k, v in ssh_raw.items()}), vars=dict(data.get("vars", {})),
        hosts=tuple(hosts), hooks=hooks, apache=Apache(**apache_raw), lighttpd=Lighttpd(**lighttpd_raw),
        rollout=Rollout(**rollout_raw), host_apps=host_apps, host_fronts=host_fronts,
    )


def _host_app(path: Path, alias: str, stage_app: Mapping[str, Any], overrides: Mapping[str, Any]) -> App:
    """The App of host ``alias``: ``[app]`` with its ``[hosts.<alias>.app]`` merged over it
    (``health`` and ``proxy_fix`` tables key by key), validated like ``[app]``."""
    prefix = f"hosts.{alias}.app"
    _check_table(path, prefix, overrides, APP_KEYS)
    _check_table(path, f"{prefix}.health", overrides.get("health", {}), HEALTH_KEYS)
    merged = {**stage_app, **overrides}
    for table in ("health", "proxy_fix"):
        if isinstance(stage_app.get(table), dict) and isinstance(overrides.get(table), dict):
            merged[table] = {**stage_app[table], **overrides[table]}

    def error(key: str, problem: str) -> InventoryError:
        # A problem of the merged table is the host's; say so when the value comes from [app].
        inherited = "" if key in overrides else f" ({key} is inherited from [app])"
        return InventoryError(path, f"{prefix}.{key}", problem + inherited)
    return _build_app(path, merged, error)


def _build_app(path: Path, raw_app: Mapping[str, Any], error: Callable[[str, str], InventoryError]) -> App:
    """Build an App from an ``[app]`` table whose keys and ``health`` table are already checked.
    ``error(key, problem)`` makes the error for a key (``app.proxy``, ``hosts.web2.app.proxy``)."""
    health = raw_app.get("health", {})
    # Without `source`, the app is the directory that holds the inventory folder:
    # the repository root for `deploy/production.toml` written by `wsgideploy init`.
    source = Path(_expand(raw_app.get("source", ".."), path.parent) or "")
    if not source.is_dir():
        raise error("source", f"is not a local directory: {source}")
    server, proxy = raw_app.get("server", "gunicorn"), raw_app.get("proxy", "nginx")
    if proxy not in COMPATIBLE[server]:
        raise error("proxy", f"{server} cannot run behind {proxy!r}; "
                    f"it runs behind {', '.join(repr(p) for p in COMPATIBLE[server])}")
    for key, name in (("server", server), ("proxy", proxy)):
        if not is_available(name):
            raise error(key, f"{name!r} is not available in this version of wsgideploy")
    url_prefix = raw_app.get("url_prefix", "").rstrip("/")
    proxy_fix = _proxy_fix_for(server, raw_app.get("proxy_fix"), url_prefix, error)
    env_file = _expand(raw_app.get("env_file"), path.parent)
    if env_file and not Path(env_file).is_file():
        raise error("env_file", f"is not a local file: {env_file}")
    templates = _expand(raw_app.get("templates"), path.parent)
    if templates and not Path(templates).is_dir():
        raise error("templates", f"is not a local directory: {templates}")
    return App(
        name=raw_app["name"], source=source, wsgi=raw_app["wsgi"], root=raw_app["root"].rstrip("/"),
        server=server, proxy=proxy,
        server_name=raw_app.get("server_name", "_"), listen=raw_app.get("listen", 80),
        listen_address=raw_app.get("listen_address"),
        python=raw_app.get("python", "python3"), shared=tuple(raw_app.get("shared", ())),
        exclude=tuple(raw_app.get("exclude", ())), keep_releases=raw_app.get("keep_releases", 5),
        static_url=raw_app.get("static_url", f"{url_prefix}/static").rstrip("/"),
        static_dir=raw_app.get("static_dir"), url_prefix=url_prefix,
        env_file=Path(env_file) if env_file else None, env=tuple(raw_app.get("env", ())),
        templates=Path(templates) if templates else None, proxy_fix=proxy_fix,
        log_level=raw_app.get("log_level", "INFO"),
        logrotate=None if raw_app.get("logrotate") is False else raw_app.get("logrotate", "/etc/logrotate.d"),
        health=Health(path=health.get("path", f"{url_prefix}/"), status=health.get("status", 200),
                      timeout=float(health.get("timeout", 30))),
        installer=raw_app.get("installer", "pip"), pip_cache=raw_app.get("pip_cache", False),
    )


def _proxy_fix_for(server: str, raw: Any, url_prefix: str,
                   error: Callable[[str, str], InventoryError]) -> ProxyFixCounts | None:
    """ProxyFix counts for an HTTP upstream (default: one proxy sets For and Proto, and
    Prefix under a ``url_prefix``); none where the front server passes the client itself."""
    from .modes import app_server  # the server's module says how the proxy reaches it
    http = app_server(server).UPSTREAM in HTTP_UPSTREAMS
    if raw is False:
        return None
    if not http:
        if raw is not None:
            raise error("proxy_fix", f"{server} gets the client's address from the front "
                        "server itself; ProxyFix would trust forged X-Forwarded-* headers there")
        return None
    counts = {"x_prefix": 1 if url_prefix.rstrip("/") else 0, **(raw or {})}
    return ProxyFixCounts(**counts)


def missing_identity(stage: Stage, host: Host) -> InventoryError | None:
    """The error for ``host``'s ``identity`` when that file does not exist, else None.

    Checked for the hosts a command selects (and by ``inventory.check``), not when a
    stage loads: a CI job that holds one stage's key can still deploy that stage.
    """
    if host.identity and not Path(host.identity).is_file():
        return InventoryError(stage.path, f"hosts.{host.alias}.identity",
                              f"is not a file: {host.identity} (the SSH key to log in with; "
                              "without the key, ssh-agent and ~/.ssh/id_* are used)")
    return None


def load_stage(path: Path) -> Stage:
    """Read and validate one inventory file."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(path, "", f"is not valid TOML: {exc}") from None
    except OSError as exc:
        raise InventoryError(path, "", f"cannot be read: {exc.strerror}") from None
    return parse_stage(path, data)


def load_inventories(directory: Path) -> dict[str, Stage]:
    """Load every ``*.toml`` in ``directory``; a host alias must be unique across them."""
    stages: dict[str, Stage] = {}
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.toml")):
        stage = load_stage(path)
        for host in stage.hosts:
            if host.alias in seen:
                raise InventoryError(path, f"hosts.{host.alias}",
                                     f"alias is already defined in {seen[host.alias]}")
            seen[host.alias] = path
        stages[stage.name] = stage
    return stages


def resolve_aliases(stages: Mapping[str, Stage], aliases: list[str]) -> list[tuple[Stage, Host]]:
    """Find each alias in the loaded stages, or fail listing the known ones."""
    index = {h.alias: (s, h) for s in stages.values() for h in s.hosts}
    found = []
    for alias in dict.fromkeys(aliases):  # each host once, in the order given
        if alias not in index:
            known = ", ".join(sorted(index)) or "none"
            raise UnknownHostError(
                f"unknown host {alias!r}{_did_you_mean(alias, index)}; known hosts: {known}")
        found.append(index[alias])
    return found
