"""Inventories: ``inventories/<stage>.toml`` parsed into frozen dataclasses.

Validation is strict and happens before any connection is made. Every error
names the file, the key path and, for a misspelt key, the likely spelling.
This module is pure: it reads local files and never touches the network.

The settings of each table are declared once, in settings.py (their checks are in
checks.py); this module loads a stage file with them: one generic `check_table` and
`build` for every table, the hosts, the per-host overrides and the stage.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from .django_settings import resolve as resolve_framework
from .checks import Check, did_you_mean, environment_value, is_table, one_of
from .modes import APP_SERVERS, FRONT_SERVERS  # which servers exist and go together
from .settings import (HOOK_ITEM_KEYS, HTTP_UPSTREAMS, INSTALLERS, LOG_LEVELS, NGINX_CONTROLS, Apache,
                       App, Health, Hook, Hooks, Host, Lighttpd, Nginx, ProxyFixCounts, Rollout, Ssh, Tls, checks_of,
                       default_of, is_required, settings_of)
from .template_vars import vars_problem
from .tls import build_tls, check_deployable

__all__ = [  # the settings' names are re-exported: callers import them from here
    "APACHE_KEYS", "APP_KEYS", "APP_REQUIRED", "FRONT_TABLES", "HEALTH_KEYS", "HOOK_ITEM_KEYS", "HOOK_KEYS",
    "HOST_KEYS", "HOST_REQUIRED", "HTTP_UPSTREAMS", "INSTALLERS", "LIGHTTPD_KEYS", "LOG_LEVELS", "NGINX_CONTROLS",
    "NGINX_KEYS", "PROXY_FIX_KEYS", "ROLLOUT_KEYS", "SSH_KEYS", "TOP_KEYS",
    "Apache", "App", "Check", "Health", "Hook", "Hooks", "Host", "InventoryError", "Lighttpd", "Nginx",
    "ProxyFixCounts", "Rollout", "Ssh", "Stage", "Tls", "UnknownHostError",
    "build", "check_table", "did_you_mean", "load_inventories", "load_stage", "missing_identity", "parse_stage",
    "resolve_aliases",
]

T = TypeVar("T")

_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

TOP_KEYS = ("app", "nginx", "apache", "lighttpd", "ssh", "vars", "hooks", "rollout", "processes", "hosts")
# [processes]: name = "command" (a name goes into a unit name: wsgideploy-<app>-<name>.service, so no '-')
PROCESS_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
# The tables of a stage with their declarations, in the order they are checked ([app] comes first).
STAGE_TABLES: dict[str, type] = {"nginx": Nginx, "apache": Apache, "lighttpd": Lighttpd, "ssh": Ssh,
                                 "hooks": Hooks, "rollout": Rollout}
FRONT_TABLES = ("nginx", "apache", "lighttpd")  # a host may override its front server's table too
# Keys of [hosts.<alias>] that are tables of their own, laid over the stage's.
HOST_TABLES: dict[str, Check] = {table: is_table for table in ("app", *FRONT_TABLES)}

# The key tables by their former names, derived from the declarations.
APP_KEYS = checks_of(App)
APP_REQUIRED = tuple(key for key, f in settings_of(App).items() if is_required(f))
HEALTH_KEYS = checks_of(Health)
NGINX_KEYS = checks_of(Nginx)
APACHE_KEYS = checks_of(Apache)
LIGHTTPD_KEYS = checks_of(Lighttpd)
SSH_KEYS = checks_of(Ssh)
HOOK_KEYS = checks_of(Hooks)
ROLLOUT_KEYS = checks_of(Rollout)
HOST_KEYS = {**checks_of(Host), **HOST_TABLES}
HOST_REQUIRED = tuple(key for key, f in settings_of(Host).items() if is_required(f))
PROXY_FIX_KEYS = tuple(settings_of(ProxyFixCounts))


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
    processes: Mapping[str, str] = field(default_factory=dict)  # [processes]: name -> command (docs/supervision.md)

    def host_vars(self, host: Host) -> dict[str, Any]:
        """Template variables for ``host``: stage ``[vars]`` overridden by host ``vars``."""
        return {**self.vars, **host.vars}

    def for_host(self, host: Host) -> Stage:
        """This stage as ``host`` sees it: ``app`` is the host's effective App
        (``[app]`` with its ``[hosts.<alias>.app]`` over it), and its front-server tables
        (``[hosts.<alias>.nginx]`` over ``[nginx]``, ...). The same object when it has no overrides."""
        app = self.host_apps.get(host.alias)
        fronts = self.host_fronts.get(host.alias, {})
        if (app is None or app == self.app) and not fronts:
            return self
        return replace(self, app=app or self.app, **fronts)


# --- the generic loader: any settings dataclass from its table ---------------------------

def check_table(path: Path, prefix: str, table: Mapping[str, Any], cls: type, *,
                extra: Mapping[str, Check] | None = None, partial: bool = False) -> None:
    """Check ``table``, found at key path ``prefix``, against the keys that ``cls`` declares
    (and ``extra`` keys). An unknown key gets a did-you-mean; a ``partial`` table (a host's
    overrides) may leave out the required keys."""
    checks = {**checks_of(cls), **(extra or {})}
    for key, value in table.items():
        if key not in checks:
            raise InventoryError(path, f"{prefix}.{key}", f"unknown key{did_you_mean(key, checks)}")
        problem = checks[key](value)
        if problem:
            raise InventoryError(path, f"{prefix}.{key}", problem)
    if not partial:
        for key, f in settings_of(cls).items():
            if is_required(f) and key not in table:
                raise InventoryError(path, f"{prefix}.{key}", "is required")


def build(cls: type[T], table: Mapping[str, Any], **computed: Any) -> T:
    """A ``cls`` from its checked ``table``: the keys it declares that ``table`` has (a TOML
    list as a tuple, a number as a float where the default is one), the declared defaults for
    the others, and ``computed`` values over both. Other keys of ``table`` are left out."""
    values = {}
    for key, f in settings_of(cls).items():
        if key in table:
            value = table[key]
            if isinstance(value, list):
                value = tuple(value)
            elif isinstance(value, dict):
                value = dict(value)
            elif isinstance(f.default, float):
                value = float(value)
            values[key] = value
    return cls(**{**values, **computed})


def _expand(path_text: str | None, base: Path) -> str | None:
    """Expand ``~``; a relative local path is relative to the inventory file."""
    if path_text is None:
        return None
    p = Path(path_text).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


# --- a stage file ----------------------------------------------------------------------

def parse_stage(path: Path, data: Mapping[str, Any]) -> Stage:
    """Validate the parsed TOML ``data`` of ``path`` and build a `Stage`."""
    stage_name = path.stem
    for key in data:
        if key not in TOP_KEYS:
            raise InventoryError(path, key, f"unknown table{did_you_mean(key, TOP_KEYS)}")
        if not isinstance(data[key], dict):
            raise InventoryError(path, key, "must be a table")
    if "app" not in data:
        raise InventoryError(path, "app", "is required")
    raw_app = data["app"]
    check_table(path, "app", raw_app, App)
    check_table(path, "app.health", raw_app.get("health", {}), Health)
    if "tls" in raw_app:
        check_table(path, "app.tls", raw_app["tls"], Tls)
    app = _build_app(path, raw_app, lambda key, problem: InventoryError(path, f"app.{key}", problem))
    tables = {name: data.get(name, {}) for name in STAGE_TABLES}
    for name, kind in STAGE_TABLES.items():
        check_table(path, name, tables[name], kind)
    hooks = build(Hooks, tables["hooks"], before_switch=tuple(
        Hook(run=item) if isinstance(item, str) else build(Hook, item)
        for item in tables["hooks"].get("before_switch", [])))
    processes = _processes(path, data.get("processes", {}))
    _check_vars(path, "vars", data.get("vars", {}))
    hosts, host_apps, host_fronts = [], {}, {}
    for alias, raw in data.get("hosts", {}).items():
        key = f"hosts.{alias}"
        if not _ALIAS.fullmatch(alias):
            raise InventoryError(path, key, "an alias uses letters, digits, '.', '-' or '_'")
        if not isinstance(raw, dict):
            raise InventoryError(path, key, "must be a table")
        check_table(path, key, raw, Host, extra=HOST_TABLES)
        _check_vars(path, f"{key}.vars", raw.get("vars", {}))
        hosts.append(build(Host, raw, alias=alias, stage=stage_name,
                           identity=_expand(raw.get("identity"), path.parent),
                           known_hosts=_expand(raw.get("known_hosts"), path.parent)))
        if "app" in raw:
            host_apps[alias] = _host_app(path, alias, raw_app, raw["app"])
        for table in FRONT_TABLES:
            if table in raw:
                kind = STAGE_TABLES[table]
                check_table(path, f"{key}.{table}", raw[table], kind)
                host_fronts.setdefault(alias, {})[table] = build(kind, {**tables[table], **raw[table]})
    _check_acme_fleet(path, app, hosts, host_apps)
    return Stage(
        name=stage_name, path=path, app=app, nginx=build(Nginx, tables["nginx"]), ssh=build(Ssh, tables["ssh"]),
        vars=dict(data.get("vars", {})), hosts=tuple(hosts), hooks=hooks, apache=build(Apache, tables["apache"]),
        lighttpd=build(Lighttpd, tables["lighttpd"]), rollout=build(Rollout, tables["rollout"]),
        host_apps=host_apps, host_fronts=host_fronts, processes=processes,
    )


def _check_vars(path: Path, key: str, table: Mapping[str, Any]) -> None:
    """Refuse a template variable that is not its declared type, or could add a directive (`template_vars`)."""
    found = vars_problem(table) if isinstance(table, dict) else None
    if found:
        raise InventoryError(path, f"{key}.{found[0]}", found[1])


def _check_acme_fleet(path: Path, app: App, hosts: list[Host], host_apps: Mapping[str, App]) -> None:
    """acme on several hosts behind one name cannot work: the CA validates the name on whichever host it
    reaches, so each host's certbot would fail when the CA reaches another (docs/https.md, "Fleets")."""
    seen: dict[str, list[str]] = {}
    for host in hosts:
        own = host_apps.get(host.alias, app)
        if own.tls is not None and own.tls.mode == "acme":
            for name in dict.fromkeys(own.server_name.split()):
                seen.setdefault(name, []).append(host.alias)
    shared = {name: aliases for name, aliases in seen.items() if len(aliases) > 1}
    if shared:
        name, aliases = next(iter(shared.items()))
        raise InventoryError(path, "app.tls.mode", f'is "acme" on several hosts behind one name ({name}: '
                             f'{", ".join(aliases)}): the CA validates the name on one host only. Use mode = '
                             '"files" (the same certificate on every host), or give each host its own name '
                             "(docs/https.md, \"Fleets\")")


def _processes(path: Path, table: Mapping[str, Any]) -> dict[str, str]:
    """``[processes]``, checked: each name a unit-name word, each command one line."""
    for name, command in table.items():
        key = f"processes.{name}"
        if not PROCESS_NAME.fullmatch(name):
            raise InventoryError(path, key, "a process name uses lowercase letters, digits and '_' (at most 32)")
        if not isinstance(command, str) or not command.strip() or any(c in command for c in "\n\r\0"):
            raise InventoryError(path, key, 'must be a command on one line, like "rq worker tasks"')
    return dict(table)


def _host_app(path: Path, alias: str, stage_app: Mapping[str, Any], overrides: Mapping[str, Any]) -> App:
    """The App of host ``alias``: ``[app]`` with its ``[hosts.<alias>.app]`` merged over it
    (``health``, ``proxy_fix``, ``tls`` and ``environment`` tables key by key), validated like ``[app]``."""
    prefix = f"hosts.{alias}.app"
    check_table(path, prefix, overrides, App, partial=True)
    check_table(path, f"{prefix}.health", overrides.get("health", {}), Health)
    merged = {**stage_app, **overrides}
    for table in ("health", "proxy_fix", "tls", "environment"):
        if isinstance(stage_app.get(table), dict) and isinstance(overrides.get(table), dict):
            merged[table] = {**stage_app[table], **overrides[table]}
    if isinstance(merged.get("tls"), dict):
        check_table(path, f"{prefix}.tls", merged["tls"], Tls)

    def error(key: str, problem: str) -> InventoryError:
        # A problem of the merged table is the host's; say so when the value comes from [app].
        inherited = "" if key in overrides else f" ({key} is inherited from [app])"
        return InventoryError(path, f"{prefix}.{key}", problem + inherited)
    return _build_app(path, merged, error)


def _build_app(path: Path, raw_app: Mapping[str, Any], error: Callable[[str, str], InventoryError]) -> App:
    """Build an App from an ``[app]`` table whose keys and ``health`` table are already checked.
    ``error(key, problem)`` makes the error for a key (``app.proxy``, ``hosts.web2.app.proxy``).

    What needs more than the table: local paths (relative to the file, and they must exist),
    the server and proxy (they must go together and be installed), and the defaults that
    follow ``url_prefix`` (``static_url``, ``health.path``, ProxyFix's ``x_prefix``)."""
    # Without `source`, the app is the directory that holds the inventory folder:
    # the repository root for `deploy/production.toml` written by `wsgideploy init`.
    source = Path(_expand(raw_app.get("source", ".."), path.parent) or "")
    if not source.is_dir():
        raise error("source", f"is not a local directory: {source}")
    server = raw_app.get("server", default_of(App, "server"))
    proxy = raw_app.get("proxy", default_of(App, "proxy"))
    for key, value, registry in (("server", server, APP_SERVERS), ("proxy", proxy, FRONT_SERVERS)):
        problem = one_of(tuple(registry))(value)
        if problem:
            raise error(key, problem)
    fronts = APP_SERVERS[server].fronts
    if proxy not in fronts:
        raise error("proxy", f"{server} cannot run behind {proxy!r}; "
                    f"it runs behind {', '.join(repr(p) for p in fronts)}")
    url_prefix = raw_app.get("url_prefix", default_of(App, "url_prefix")).rstrip("/")
    proxy_fix = _proxy_fix_for(server, raw_app.get("proxy_fix"), url_prefix, error)
    env_file = _expand(raw_app.get("env_file"), path.parent)
    if env_file and not Path(env_file).is_file():
        raise error("env_file", f"is not a local file: {env_file}")
    templates = _expand(raw_app.get("templates"), path.parent)
    if templates and not Path(templates).is_dir():
        raise error("templates", f"is not a local directory: {templates}")
    health = raw_app.get("health", {})
    environment = {name: environment_value(value) for name, value in raw_app.get("environment", {}).items()}
    both = [name for name in raw_app.get("env", ()) if name in environment]
    if both:
        raise error("environment", f"{both[0]}: is also in app.env; a variable comes from one place "
                    "(environment: plain, env: a secret from your environment)")
    logrotate = raw_app.get("logrotate", default_of(App, "logrotate"))
    tls = None
    if "tls" in raw_app:
        tls = build_tls(raw_app["tls"], server_name=raw_app.get("server_name", default_of(App, "server_name")),
                        listen=raw_app.get("listen", default_of(App, "listen")), base=path.parent, error=error)
        check_deployable(proxy, error)
    try:  # Django's STATIC_ROOT and STATIC_URL are the defaults of static_dir and static_url
        framework, django = resolve_framework(source, raw_app["wsgi"], raw_app.get("framework", "auto"))
    except ValueError as exc:
        raise error("framework", str(exc)) from None
    static_url = url_prefix + (django.url if django else default_of(App, "static_url"))
    return build(
        App, raw_app, source=source, root=raw_app["root"].rstrip("/"), url_prefix=url_prefix,
        framework=framework, static_dir=raw_app.get("static_dir", django.root if django else None),
        static_url=raw_app.get("static_url", static_url).rstrip("/"),
        health=build(Health, health, path=health.get("path", url_prefix + default_of(Health, "path"))),
        proxy_fix=proxy_fix, env_file=Path(env_file) if env_file else None,
        templates=Path(templates) if templates else None,
        logrotate=None if logrotate is False else logrotate,  # `false`: no logrotate snippet
        tls=tls, environment=environment,
    )


def _proxy_fix_for(server: str, raw: Any, url_prefix: str,
                   error: Callable[[str, str], InventoryError]) -> ProxyFixCounts | None:
    """ProxyFix counts for an HTTP upstream (default: one proxy sets For and Proto, and
    Prefix under a ``url_prefix``; they wrap a werkzeug app only, declared ones any app); none where the
    front server passes the client itself."""
    http = APP_SERVERS[server].upstream in HTTP_UPSTREAMS  # the server says how the proxy reaches it
    if raw is False:
        return None
    if not http:
        if raw is not None:
            raise error("proxy_fix", f"{server} gets the client's address from the front "
                        "server itself; ProxyFix would trust forged X-Forwarded-* headers there")
        return None
    return build(ProxyFixCounts, {"x_prefix": 1 if url_prefix.rstrip("/") else 0, **(raw or {})},
                 declared=raw is not None)


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
                f"unknown host {alias!r}{did_you_mean(alias, index)}; known hosts: {known}")
        found.append(index[alias])
    return found
