"""What every front server is (`FrontServer`), and what their builders share: the shell functions
that differ per ``control``, written before their recipe (``tasks/recipes/<server>.sh``), and the
commands they run as root (`RootCommand`, gathered by ``tasks/commands/privileged.py``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

# Where Debian 12 has the programs wsgideploy runs as root (`command -v` on a booted server). sudo
# matches a rule against the path it resolves, so the declared commands name these paths.
SYSTEM_PATHS = {name: f"/usr/bin/{name}" for name in ("systemctl", "journalctl", "install", "ln", "rm", "mv", "cp",
                                                          "pkill", "certbot")}
SYSTEM_PATHS |= {name: f"/usr/sbin/{name}" for name in ("a2ensite", "a2dissite")}
SBIN = "/usr/sbin"  # Debian's nginx, apache2ctl and lighttpd
ROOT_FILE = ("install", "-o", "root", "-g", "root", "-m", "0644", "/dev/stdin")  # `root_install DEST`


@dataclass(frozen=True)
class RootCommand:
    """One command wsgideploy runs through ``sudo -n``: its exact argv (the program by its absolute
    path) and why it needs root."""

    argv: tuple[str, ...]
    why: str


def system_command(*argv: str, why: str) -> RootCommand:
    """A `RootCommand` of a system program named by its short name (``systemctl``, ``install``...)."""
    return RootCommand((SYSTEM_PATHS[argv[0]], *argv[1:]), why)


def binary_path(binary: str) -> str:
    """The path sudo resolves for a front server's ``binary`` setting (Debian's /usr/sbin unless absolute)."""
    return binary if binary.startswith("/") else f"{SBIN}/{binary}"


def root_file(dest: str, why: str) -> RootCommand:
    """Install stdin (content the controller sent in the script) as ``dest``, root's, mode 0644."""
    return system_command(*ROOT_FILE, dest, why=why)


def site_file_commands(available: str, enabled: str, kept: str) -> list[RootCommand]:
    """The commands of ``site.sh`` on one site file: install it, enable it, keep and restore the live one."""
    return [
        root_file(available, "the site, rendered on the controller, installed from the script"),
        system_command("ln", "-sfn", available, enabled, why="enable the site (its one link)"),
        system_command("cp", "-p", available, kept, why="keep the live site until the new one runs"),
        system_command("mv", "-f", kept, available, why="put the live site back when the new one fails"),
        system_command("rm", "-f", kept, why="drop the kept copy once the new site runs"),
        system_command("rm", "-f", available, why="remove a failed first site (there was none before)"),
        system_command("rm", "-f", enabled, why="remove the link of a failed first site"),
    ]


def uses_systemd(control: str, custom_conf: bool) -> bool:
    """Whether `per_control` may choose systemd (``auto`` decides on the host: systemd where it runs)."""
    return control == "systemd" or (control == "auto" and not custom_conf)


def uses_signals(control: str, custom_conf: bool) -> bool:
    """Whether `per_control` may choose the server's own signals, pidfile and binary."""
    return control == "signal" or control == "auto"


class FrontServer:
    """A front server (an inventory ``proxy`` value). Every method but `site_path`, `log_files` and
    `root_commands` returns a shell script.

    ``publish_site`` installs the site (its text, rendered on the controller: root installs it from
    the script, never from a file on the host), tests the whole config and applies it, checking
    that the server took it (the previous site back otherwise), and leaves a running server whose site is
    these very bytes alone; ``install_site`` installs and tests
    it only; ``reload`` applies the config as it is; ``remove_site`` takes the site out (``uninstall``), tested
    and applied, put back when the server rejects the config without it; ``site_path`` says where the site goes (``plan``
    reads it there). ``settings`` is the inventory's table of this server (``[nginx]``, ``[apache]``,
    ``[lighttpd]``). ``log_files`` are the app's logs the front server writes, where its own user
    does (never in the deploy's ``shared/log``); ``root_commands`` is everything its scripts run as root.
    """

    name: ClassVar[str]            # the inventory's ``proxy`` value, and the name of its settings table
    site_template: ClassVar[str]   # rendered on the controller (and kept in releases/<id>/.wsgideploy/<site_file>)
    site_file: ClassVar[str]
    log_dir: ClassVar[str]         # Debian's: its own logrotate snippet rotates <log_dir>/*.log
    log_group: ClassVar[str]       # the group that may read log_dir's files (for `logs`)
    user: ClassVar[str] = "www-data"  # Debian's: the user its workers run as (it passes through the app's root)

    def site_path(self, settings: Any, site_name: str) -> str:
        raise NotImplementedError

    def install_site(self, settings: Any, site_name: str, site_text: str) -> str:
        raise NotImplementedError

    def publish_site(self, settings: Any, site_name: str, site_text: str) -> str:
        raise NotImplementedError

    def reload(self, settings: Any) -> str:
        raise NotImplementedError

    def remove_site(self, settings: Any, site_name: str) -> str:
        raise NotImplementedError

    def root_commands(self, settings: Any, site_name: str) -> list[RootCommand]:
        raise NotImplementedError

    def passing_user(self, host_vars: Mapping[str, Any]) -> str:
        """The user that may pass through the app's root (`release.access_script`): its workers'
        user, ``[vars] front_user`` where it is not Debian's."""
        return str(host_vars.get("front_user", self.user))

    def log_files(self, site_name: str, host_vars: Mapping[str, Any]) -> tuple[str, ...]:
        """``<log_dir>/<name>.access.log`` and ``.error.log`` (``[vars] front_log_dir`` moves them)."""
        directory = str(host_vars.get("front_log_dir", self.log_dir)).rstrip("/")
        return (f"{directory}/{site_name}.access.log", f"{directory}/{site_name}.error.log")


def as_root_function(sudo: bool) -> str:
    """``as_root CMD...``: CMD through ``sudo -n`` when the inventory asks for it; ``root_install DEST``:
    stdin as DEST, root's and mode 0644 (the deploy user's, mode 0644, without sudo)."""
    if sudo:
        return ('as_root() { sudo -n "$@"; }\n'
                f'root_install() {{ sudo -n {" ".join(ROOT_FILE)} "$1"; }}')
    return 'as_root() { "$@"; }\nroot_install() { install -m 0644 /dev/stdin "$1"; }'


def per_control(control: str, custom_conf: bool, *, common: str, systemd: str, signal: str) -> str:
    """``common``, then the ``systemd`` or the ``signal`` functions for ``control``.

    ``auto`` uses systemd where it runs (``/run/systemd/system``, decided on the host) and no custom main
    config is set: a server run from its own config is not the one systemd's unit starts.
    """
    if not uses_systemd(control, custom_conf):
        return common + signal
    if not uses_signals(control, custom_conf):
        return common + systemd
    return common + "\nif [ -d /run/systemd/system ]; then" + systemd + "\nelse" + signal + "\nfi"
