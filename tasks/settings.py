"""The inventory's settings, each declared once: type, default, check and one line of doc.

Every table of a stage file is a frozen dataclass here. A field made with `setting` is a key
of that table: the loader (inventory.py) knows the keys, their checks and their defaults from
these declarations only. docs/inventory.md documents the same keys and defaults;
tests/unit/test_settings_documented.py keeps the two in step.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from .checks import (NAME, USER, WSGI, Check, did_you_mean, is_abs_path, is_app_root, is_bool,
                     is_command_word, is_config_dir, is_config_dir_or_false, is_email, is_env_names, is_environment,
                     is_hostname, is_https_url, is_int, is_ip_address, is_number, is_rel_path, is_server_names,
                     is_shared_paths, is_static_url, is_str, is_str_list, is_table, is_url_path, is_url_prefix, matches,
                     one_of)
from .rollout import DEFAULT_PARALLEL, batch_size_problem

NGINX_CONTROLS = ("auto", "systemd", "signal")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SUPERVISORS = ("auto", "systemd", "none")  # auto: systemd where it is PID 1, else none (pidfiles)
INSTALLERS = ("pip", "uv")  # what fills a venv: its own pip, or the host's uv
TLS_MODES = ("acme", "files")
FRAMEWORKS = ("auto", "django", "none")  # auto: django where manage.py names the project of `wsgi`
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
# Upstreams where the app sees the client only through X-Forwarded-* headers.
HTTP_UPSTREAMS = ("http-unix",)


def setting(check: Check, doc: str, default: Any = MISSING, *, factory: Any = MISSING,
            optional: bool = False) -> Any:
    """A dataclass field that is an inventory key: its default, ``check`` and one line of ``doc``.

    A key without a default is required in the file, unless ``optional``: then the
    loader fills it in from the file's place (``app.source``).
    """
    metadata = {"check": check, "doc": doc, "optional": optional}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def settings_of(cls: type) -> dict[str, Field[Any]]:
    """The keys of the table that dataclass ``cls`` declares, in order, with their fields."""
    return {f.name: f for f in fields(cls) if "check" in f.metadata}


def checks_of(cls: type) -> dict[str, Check]:
    """Each key of ``cls``'s table with its check."""
    return {name: f.metadata["check"] for name, f in settings_of(cls).items()}


def default_of(cls: type, key: str) -> Any:
    """The default that ``cls`` declares for ``key``."""
    f = settings_of(cls)[key]
    return f.default_factory() if f.default_factory is not MISSING else f.default


def is_required(f: Field[Any]) -> bool:
    """Whether the key of field ``f`` must be in the file."""
    return f.default is MISSING and f.default_factory is MISSING and not f.metadata["optional"]


@dataclass(frozen=True)
class Health:
    """How ``deploy`` checks the app after the switch (through the proxy)."""

    path: str = setting(is_url_path, "the URL path requested (under url_prefix by default)", "/")
    status: int = setting(is_int(100, 599), "the HTTP status the check expects", 200)
    timeout: float = setting(is_number, "seconds the app gets to answer it", 30.0)


@dataclass(frozen=True)
class Tls:
    """HTTPS for the app's site (``[app.tls]``): a certificate from an ACME CA, or from local files.

    The checks that need more than one key, ``server_name`` or the local files (acme needs DNS
    names and an email; files needs a certificate and the key that matches it) are tls.py's.
    """

    mode: str = setting(one_of(TLS_MODES), "acme (certbot's webroot method, http-01) or files")
    email: str | None = setting(is_email, "acme: the account's contact address (required in acme mode)", None)
    directory: str = setting(is_https_url, "acme: the CA's directory URL", LETS_ENCRYPT)
    certificate: Path | None = setting(is_str, "files: the local PEM chain, the site's certificate first", None)
    key: Path | None = setting(is_str, "files: the local PEM private key of that certificate", None)
    port: int = setting(is_int(1, 65535), "the port the front server serves HTTPS on", 443)
    hsts: bool = setting(is_bool, "send Strict-Transport-Security (one year) over HTTPS", False)
    ca: Path | None = setting(is_str, "a local PEM of a private CA that the health check trusts", None)


def _is_proxy_count(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 5:
        return "must be a count of proxies from 0 to 5"
    return None


@dataclass(frozen=True)
class ProxyFixCounts:
    """How many proxies in front set each X-Forwarded-* header (werkzeug's ProxyFix)."""

    x_for: int = setting(_is_proxy_count, "proxies that set X-Forwarded-For", 1)
    x_proto: int = setting(_is_proxy_count, "proxies that set X-Forwarded-Proto", 1)
    x_host: int = setting(_is_proxy_count, "proxies that set X-Forwarded-Host", 0)
    x_port: int = setting(_is_proxy_count, "proxies that set X-Forwarded-Port", 0)
    x_prefix: int = setting(_is_proxy_count, "proxies that set X-Forwarded-Prefix (1 under url_prefix)", 0)
    # Not a key: whether the stage file declared these counts. Declared counts wrap any app; the default
    # ones wrap a werkzeug (Flask) app only (ProxyFix is werkzeug's: a Django app may not have it).
    declared: bool = False


def _is_proxy_fix(v: Any) -> str | None:
    if v is False:
        return None
    if not isinstance(v, dict):
        return "must be false or a table of counts like { x_for = 1, x_proto = 1 }"
    counts = checks_of(ProxyFixCounts)
    for key, count in v.items():
        if key not in counts:
            return f"{key}: unknown key{did_you_mean(key, counts)}"
        problem = counts[key](count)
        if problem:
            return f"{key}: {problem}"
    return None


def _is_hook_command(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else "is required and must be a command string"


def _is_role_list(v: Any) -> str | None:
    return "must be a list of role names" if is_str_list(v) else None


@dataclass(frozen=True)
class Hook:
    """A shell command run in the new release before the switch, on hosts with one of ``roles``.

    A ``once`` hook (a migration, say) runs on one host of the run only.
    """

    run: str = setting(_is_hook_command, "the command, run with bash in the new release")
    roles: tuple[str, ...] = setting(_is_role_list, "only on hosts with one of these roles (none: every host)", ())
    once: bool = setting(is_bool, "on one host of the run only: the first selected one with its roles", False)

    def matches(self, host: Host) -> bool:
        """Whether ``host`` has one of this hook's roles (no roles means every host)."""
        return not self.roles or any(role in host.roles for role in self.roles)

    def applies_to(self, host: Host, selected: Sequence[Host] = ()) -> bool:
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


HOOK_ITEM_KEYS = tuple(settings_of(Hook))


def _is_hook_list(v: Any) -> str | None:
    if not isinstance(v, list):
        return "must be a list of commands (strings or { run = \"...\", roles = [...] } tables)"
    for i, item in enumerate(v):
        if isinstance(item, str) and item.strip():
            continue
        if not isinstance(item, dict):
            return f"[{i}]: must be a command string or a table with 'run' (and 'roles', 'once')"
        unknown = set(item) - set(HOOK_ITEM_KEYS)
        if unknown:
            key = min(unknown)
            return f"[{i}].{key}: unknown key{did_you_mean(key, HOOK_ITEM_KEYS)}"
        for key, f in settings_of(Hook).items():
            problem = f.metadata["check"](item.get(key)) if key in item or is_required(f) else None
            if problem:
                return f"[{i}].{key}: {problem}"
    return None


@dataclass(frozen=True)
class Hooks:
    """Commands that run at fixed points of a deploy (``[hooks]``)."""

    before_switch: tuple[Hook, ...] = setting(
        _is_hook_list, "commands run in the new release before `current` moves, in order", ())


@dataclass(frozen=True)
class App:
    """What is deployed, and where it lives on the host (the ``[app]`` table)."""

    name: str = setting(matches(NAME, "lowercase letters, digits, '-' or '_'"), "the app's name: site file, process name")
    source: Path = setting(is_str, "the local directory to deploy (default: the folder above the stage files)",
                           optional=True)
    wsgi: str = setting(matches(WSGI, "'module:app' or 'module:create_app()'"), "`module:app` or `package:create_app()`")
    root: str = setting(is_app_root, "the app's directory on the host")
    # Which servers exist, and which go together, is the registry's (modes.py): the loader checks it.
    server: str = setting(is_str, "the app server", "gunicorn")
    proxy: str = setting(is_str, "the front server", "nginx")
    server_name: str = setting(is_server_names, "nginx server_name; the health check's Host header", "_")
    listen: int = setting(is_int(1, 65535), "the port the front server listens on", 80)
    listen_address: str | None = setting(is_ip_address, "the address it listens on (none: all)", None)
    python: str = setting(is_command_word, "the venvs' Python: a command (python3.11) or a version "
                                  "(\"3.12\": installed with uv if missing)", "python3")
    shared: tuple[str, ...] = setting(is_shared_paths, "paths in every release that live in <root>/shared/", ())
    exclude: tuple[str, ...] = setting(is_str_list, "more files not to upload", ())
    keep_releases: int = setting(is_int(2, 1000), "releases kept after a good deploy", 5)
    static_url: str = setting(is_static_url, "where the front server serves the static folder (under url_prefix)",
                              "/static")
    static_dir: str | None = setting(is_rel_path, "the static folder in the release (none: found)", None)
    url_prefix: str = setting(is_url_prefix, "mount the app under this prefix (SCRIPT_NAME)", "")
    health: Health = setting(is_table, "the check after the switch: path, status, timeout", factory=Health)
    tls: Tls | None = setting(is_table, "HTTPS: a certificate from an ACME CA or from files (none: HTTP only)", None)
    env_file: Path | None = setting(is_str, "a local dotenv file uploaded to shared/.env", None)
    env: tuple[str, ...] = setting(is_env_names, "local environment variables added to shared/.env", ())
    environment: Mapping[str, str] = setting(is_environment, "plain settings written into shared/.env (not secret: "
                                             "plan shows them)", factory=dict)
    templates: Path | None = setting(is_str, "a local directory of templates over the bundled ones", None)
    proxy_fix: ProxyFixCounts | None = setting(_is_proxy_fix, "ProxyFix counts for an HTTP upstream, or false", None)
    log_level: str = setting(one_of(LOG_LEVELS), "the app's and the app server's log level", "INFO")
    logrotate: str | None = setting(is_config_dir_or_false, "where the logrotate snippet goes, or false",
                                    "/etc/logrotate.d")
    installer: str = setting(one_of(INSTALLERS), "what fills a new venv: its own pip, or the host's uv", "pip")
    pip_cache: bool = setting(is_bool, "keep the wheel cache in <root>/.cache instead of the user's home", False)
    app_user: str | None = setting(matches(USER, "a user name"), "the user the app runs as under systemd (none: its name)",
                                   None)
    framework: str = setting(one_of(FRAMEWORKS), "django (collectstatic, check --deploy, STATIC_ROOT), none, or auto",
                             "auto")
    supervisor: str = setting(one_of(SUPERVISORS), "what runs the app server: systemd units, or wsgideploy's pidfiles",
                              "auto")

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

    sites_available: str = setting(is_config_dir, "where the site file is installed", "/etc/nginx/sites-available")
    sites_enabled: str = setting(is_config_dir, "where the symlink to it goes", "/etc/nginx/sites-enabled")
    binary: str = setting(is_command_word, "the nginx command", "nginx")
    conf: str | None = setting(is_abs_path, "a main config for `nginx -c` (a custom prefix)", None)
    sudo: bool = setting(is_bool, "run nginx commands and site writes with `sudo -n`", True)
    control: str = setting(one_of(NGINX_CONTROLS), "how nginx reloads: systemd, signal or auto", "auto")


@dataclass(frozen=True)
class Apache:
    """Where the Apache site goes and how Apache is controlled (``[apache]``); Debian defaults.

    ``listen_dir`` holds the file with the ``Listen`` directive wsgideploy adds for
    ``app.listen``, so the host's own ports.conf is never edited.
    """

    sites_available: str = setting(is_config_dir, "where the site file is installed", "/etc/apache2/sites-available")
    sites_enabled: str = setting(is_config_dir, "where the symlink to it goes", "/etc/apache2/sites-enabled")
    listen_dir: str = setting(is_config_dir, "where the `Listen` file wsgideploy adds goes", "/etc/apache2/conf-enabled")
    conf: str | None = setting(is_abs_path, "a main config for `apache2ctl -f` (a custom prefix)", None)
    binary: str = setting(is_command_word, "the Apache control command", "apache2ctl")
    sudo: bool = setting(is_bool, "run Apache commands and site writes with `sudo -n`", True)
    control: str = setting(one_of(NGINX_CONTROLS), "how Apache reloads: systemd, signal or auto", "auto")


@dataclass(frozen=True)
class Lighttpd:
    """Where the lighttpd site goes and how lighttpd is controlled (``[lighttpd]``); Debian defaults."""

    sites_available: str = setting(is_config_dir, "where the site file is installed", "/etc/lighttpd/conf-available")
    sites_enabled: str = setting(is_config_dir, "where the symlink to it goes", "/etc/lighttpd/conf-enabled")
    conf: str | None = setting(is_abs_path, "a main config for `lighttpd -f` (a custom prefix)", None)
    binary: str = setting(is_command_word, "the lighttpd command", "lighttpd")
    pidfile: str = setting(is_abs_path, "the pid file of the running lighttpd", "/run/lighttpd.pid")
    sudo: bool = setting(is_bool, "run lighttpd commands and site writes with `sudo -n`", True)
    control: str = setting(one_of(NGINX_CONTROLS), "how lighttpd reloads: systemd, signal or auto", "auto")


@dataclass(frozen=True)
class Ssh:
    """Connection settings shared by every host of a stage (``[ssh]``)."""

    connect_timeout: float = setting(is_number, "seconds to connect", 15.0)
    command_timeout: float = setting(is_number, "seconds any one remote step may take", 900.0)


@dataclass(frozen=True)
class Rollout:
    """How a deploy goes live across the hosts of a run (``[rollout]``).

    ``batch_size`` hosts switch together (a count, or a percentage like ``"25%"``
    rounded up; None: all at once); at most ``parallel`` hosts work at a time.
    """

    batch_size: int | str | None = setting(batch_size_problem, "how many hosts switch together (none: all)", None)
    parallel: int = setting(is_int(1, 100), "at most this many hosts are worked on at the same time",
                            DEFAULT_PARALLEL)


@dataclass(frozen=True)
class Host:
    """One target host (``[hosts.<alias>]``); ``alias`` and ``stage`` come from where it is declared."""

    alias: str
    stage: str
    hostname: str = setting(is_hostname, "where to connect")
    port: int = setting(is_int(1, 65535), "the SSH port", 22)
    user: str | None = setting(matches(USER, "a user name"), "the deploy user (none: SSH config)", None)
    identity: str | None = setting(is_str, "the private key; relative to the inventory file", None)
    known_hosts: str | None = setting(is_str, "host keys to check against", None)
    setup_user: str = setting(matches(USER, "a user name"), "the user `setup` logs in as: root, or one with sudo",
                              "root")
    roles: tuple[str, ...] = setting(is_str_list, "free labels that --roles and hooks select by", ())
    vars: Mapping[str, Any] = setting(is_table, "template variables for this host only", factory=dict)
