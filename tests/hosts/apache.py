"""A private Apache "prefix" for a simulated host: its own ServerRoot, config, pidfile and logs.

The model is `tests.hosts.nginx.NginxPrefix`. Nothing here starts Apache: the deploy tool
starts it (``apache2 -f <conf> -k graceful`` starts an Apache that is not running), and
`ApachePrefix.stop` stops it by the pid in its pidfile, never by name.

The layout mimics a Debian host, so the deploy tool treats it like ``/etc/apache2``::

    <prefix>/apache2.conf      the main config (ServerRoot, PidFile, modules, includes)
    <prefix>/conf-enabled/     ``[apache] listen_dir``: the tool's own Listen file goes here
    <prefix>/sites-available/  ``[apache] sites_available``
    <prefix>/sites-enabled/    ``[apache] sites_enabled`` (symlinks, like a2ensite makes)
    <prefix>/run/              pidfile, scoreboard, mutexes, mod_wsgi and mod_cgid sockets
    <prefix>/logs/             Apache's own error log

Modules come from Debian's ``/usr/lib/apache2/modules``. Only the base set is loaded here (MPM
event, authz, alias, mime, dir, env, expires): like a Debian host without ``a2enmod wsgi``, so the
site file's own ``<IfModule !wsgi_module> LoadModule ...`` is what loads mod_wsgi, mod_cgid or
mod_fcgid. ``modules`` adds more (``("wsgi",)`` behaves like ``a2enmod wsgi``).

Run as the deploy user (``owner``, no sudo, no ``User`` directive) on a high port: Apache,
mod_wsgi daemon mode (its ``user=``/``group=`` are the deploy user itself, which a non-root
Apache accepts) and mod_cgid all work without root. ``run_as`` adds ``User``/``Group`` for an
Apache started as root (the Debian way: root parent, children as that user).
"""
from __future__ import annotations

import os
import pwd
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .files import write_file
from .processes import proc_info, read_pidfile, stop_pidfile

MODULES_DIR = "/usr/lib/apache2/modules"
APACHE_BINARY = "/usr/sbin/apache2"

# (module identifier, file) for every module the prefix may load.
KNOWN_MODULES: dict[str, tuple[str, str]] = {
    "mpm_event": ("mpm_event_module", "mod_mpm_event.so"),
    "authz_core": ("authz_core_module", "mod_authz_core.so"),
    "authz_host": ("authz_host_module", "mod_authz_host.so"),
    "alias": ("alias_module", "mod_alias.so"),
    "mime": ("mime_module", "mod_mime.so"),
    "dir": ("dir_module", "mod_dir.so"),
    "env": ("env_module", "mod_env.so"),
    "expires": ("expires_module", "mod_expires.so"),
    "headers": ("headers_module", "mod_headers.so"),
    "wsgi": ("wsgi_module", "mod_wsgi.so"),
    "cgid": ("cgid_module", "mod_cgid.so"),
    "fcgid": ("fcgid_module", "mod_fcgid.so"),
}
BASE_MODULES = ("mpm_event", "authz_core", "authz_host", "alias", "mime", "dir", "env", "expires")


@dataclass(frozen=True)
class ApachePrefix:
    """A private Apache under ``prefix`` (see the module docstring).

    ``owner``: chown the prefix to this user (who then runs Apache without sudo).
    ``run_as``: ``User``/``Group`` directives, for an Apache started as root.
    ``modules``: modules loaded besides `BASE_MODULES` (names of `KNOWN_MODULES`).
    """

    prefix: Path
    owner: str | None = None
    run_as: str | None = None
    modules: tuple[str, ...] = ()
    threads_per_child: int = 25
    max_request_workers: int = 50

    @property
    def conf(self) -> Path:
        return self.prefix / "apache2.conf"

    @property
    def run_dir(self) -> Path:
        return self.prefix / "run"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "apache2.pid"

    @property
    def log_dir(self) -> Path:
        return self.prefix / "logs"

    @property
    def error_log(self) -> Path:
        return self.log_dir / "error.log"

    @property
    def sites_available(self) -> Path:
        return self.prefix / "sites-available"

    @property
    def sites_enabled(self) -> Path:
        return self.prefix / "sites-enabled"

    @property
    def listen_dir(self) -> Path:
        return self.prefix / "conf-enabled"

    @property
    def pid(self) -> int | None:
        """The parent's pid from the pidfile, if that process is alive and is an Apache."""
        pid = read_pidfile(self.pidfile)
        info = proc_info(pid) if pid else None
        return pid if info is not None and str(self.conf) in info.cmdline else None

    def table(self, binary: str = APACHE_BINARY, sudo: bool = False) -> dict[str, Any]:
        """The inventory's ``[apache]`` table for this prefix (``control = "signal"``: ``-k graceful``).

        ``binary`` is absolute because /usr/sbin is not on the PATH of a non-root SSH session.
        """
        return {"sites_available": str(self.sites_available), "sites_enabled": str(self.sites_enabled),
                "listen_dir": str(self.listen_dir), "conf": str(self.conf), "binary": binary,
                "sudo": sudo, "control": "signal"}

    def config_text(self) -> str:
        """The main ``apache2.conf`` of this prefix."""
        p = self.prefix
        names = list(BASE_MODULES) + [m for m in self.modules if m not in BASE_MODULES]
        loads = []
        for name in names:
            ident, so = KNOWN_MODULES[name]
            loads.append(f"LoadModule {ident} {MODULES_DIR}/{so}")
        user = f"User {self.run_as}\nGroup {self.run_as}\n" if self.run_as else ""
        return (
            "# Generated by wsgideploy (tests/hosts/apache.py): a private Apache prefix.\n"
            f"ServerRoot {p}\n"
            f"DefaultRuntimeDir {p}/run\n"
            f"PidFile {p}/run/apache2.pid\n"
            f"ErrorLog {p}/logs/error.log\n"
            "LogLevel warn\n"
            "ServerName localhost\n"
            f"{user}"
            + "\n".join(loads) + "\n"
            "<IfModule mpm_event_module>\n"
            "    StartServers 1\n"
            "    ServerLimit 4\n"
            f"    ThreadsPerChild {self.threads_per_child}\n"
            f"    ThreadLimit {self.threads_per_child}\n"
            f"    MaxRequestWorkers {self.max_request_workers}\n"
            f"    MinSpareThreads {self.threads_per_child}\n"
            f"    MaxSpareThreads {self.max_request_workers}\n"
            "</IfModule>\n"
            "TypesConfig /etc/mime.types\n"
            "Timeout 60\n"
            "KeepAlive On\n"
            "HostnameLookups Off\n"
            'LogFormat "%h %l %u %t \\"%r\\" %>s %O" common\n'
            "<Directory />\n"
            "    Options FollowSymLinks\n"
            "    AllowOverride None\n"
            "    Require all denied\n"
            "</Directory>\n"
            '<FilesMatch "^\\.ht">\n'
            "    Require all denied\n"
            "</FilesMatch>\n"
            f"IncludeOptional {p}/conf-enabled/*.conf\n"
            f"IncludeOptional {p}/sites-enabled/*.conf\n"
            "\n"
            "# Runtime paths of modules a site may load itself (Debian sets them in mods-available/*.conf).\n"
            "# Read after the includes, so they apply whoever loaded the module.\n"
            "<IfModule wsgi_module>\n"
            f"    WSGISocketPrefix {p}/run/wsgi\n"
            "</IfModule>\n"
            "<IfModule cgid_module>\n"
            f"    ScriptSock {p}/run/cgisock\n"
            "</IfModule>\n"
            "<IfModule fcgid_module>\n"
            f"    FcgidIPCDir {p}/run/fcgid\n"
            f"    FcgidProcessTableFile {p}/run/fcgid_shm\n"
            "</IfModule>\n"
        )

    def prepare(self) -> None:
        """Write ``apache2.conf`` and create the directories; chown to ``owner`` if given."""
        for d in (self.prefix, self.sites_available, self.sites_enabled, self.listen_dir,
                  self.run_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o755)
        write_file(self.conf, self.config_text(), 0o644)
        if self.owner is not None:
            entry = pwd.getpwnam(self.owner)
            for root, dirs, files in os.walk(self.prefix):
                os.chown(root, entry.pw_uid, entry.pw_gid)
                for name in dirs + files:
                    os.lchown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)

    def stop(self, timeout: float = 10.0) -> int | None:
        """If the pidfile names this prefix's live Apache parent: SIGTERM it (Apache stops its
        children, mod_wsgi daemons and the cgid daemon), SIGKILL after ``timeout``, then any child
        left (see `stop_pidfile`). Returns the pid stopped, or None. By pid only, never by name."""
        return stop_pidfile(self.pidfile, signal.SIGTERM, timeout, expect=str(self.conf))
