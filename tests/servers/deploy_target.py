"""A booted test server made into a deploy target: a ``deploy`` user, an app root, inventory tables.

``make_target(lab, server)`` logs in as root (the harness's way in) and, in one script:
- creates the user ``deploy`` with no password (locked: it logs in only by the lab's ssh key);
- gives it passwordless sudo for everything. That is more than a deploy needs: least privilege
  (sudo for the front server's commands and files only) is a later issue, and these tests will
  tell which commands that list must hold;
- creates the app root ``/srv/<app>`` owned by ``deploy``;
- checks that ``python3 -m venv`` works (``python3-venv`` is in the image: `image.PACKAGES`).

A `DeployTarget` then gives the inventory tables: ``[hosts.<alias>]`` (the server's address, port 22,
``deploy``, the lab's key, the server's pinned ``known_hosts``), the front server's table with Debian's
defaults (``[nginx]``: sites under /etc/nginx, ``sudo = true``, systemd controls it), and an ``[app]``
table for the example app. `boot_targets` boots several in parallel and prepares them in parallel.
"""
from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .lab import ServerLab
from .machine import Server

DEPLOY_USER = "deploy"
SSH_PORT = 22

# The front server's table as Debian ships it (the package's own paths), controlled by systemd.
DEBIAN_FRONT_TABLES: dict[str, dict[str, Any]] = {
    "nginx": {"sites_available": "/etc/nginx/sites-available", "sites_enabled": "/etc/nginx/sites-enabled",
              "binary": "nginx", "sudo": True, "control": "systemd"},
}


@dataclass(frozen=True)
class DeployTarget:
    """A booted server that wsgideploy can deploy to over ssh as `user`."""

    alias: str
    server: Server
    identity: Path
    user: str = DEPLOY_USER
    app_root: str = "/srv/hello"
    front: str | None = None

    @property
    def address(self) -> str:
        return self.server.address

    def host_table(self) -> dict[str, Any]:
        """The ``[hosts.<alias>]`` table of an inventory."""
        return {"hostname": self.server.address, "port": SSH_PORT, "user": self.user,
                "identity": str(self.identity), "known_hosts": str(self.server.known_hosts)}

    def front_table(self) -> dict[str, Any]:
        """The front server's inventory table (``[nginx]``) with Debian's defaults."""
        if self.front not in DEBIAN_FRONT_TABLES:
            raise KeyError(f"no inventory table for front server {self.front!r}; known: "
                           f"{', '.join(DEBIAN_FRONT_TABLES)}")
        return dict(DEBIAN_FRONT_TABLES[self.front])

    def app_table(self, source: Path, **overrides: Any) -> dict[str, Any]:
        """An ``[app]`` table deploying ``source`` (the example app) to this target's app root."""
        return {"name": Path(self.app_root).name, "source": str(source), "wsgi": "app:app",
                "root": self.app_root, "server_name": "_", "listen": 8080, **overrides}

    def run(self, command: str, check: bool = True, timeout: float = 120) -> str:
        """Run ``command`` as root on the server; return its stdout."""
        return self.server.run(command, check=check, timeout=timeout).stdout

    def run_as_deploy(self, command: str, check: bool = True, timeout: float = 120) -> str:
        """Run ``command`` as the deploy user (through root's login: ``runuser -l``); return its stdout."""
        return self.run(f"runuser -l {self.user} -c {shlex.quote(command)}", check=check, timeout=timeout)

    def with_app(self, name: str, create: bool = True) -> DeployTarget:
        """This server with the app root ``/srv/<name>`` (made by root and owned by the deploy user, unless
        not ``create``) and the app's user ``<name>`` (`add_app_user`): its ``app_table`` names the app
        ``<name>``, its files are read under that root. Tests that share a server each deploy an app of
        their own this way."""
        root = f"/srv/{name}"
        if create:
            self.run(f"install -d -o {self.user} -g {self.user} {shlex.quote(root)}")
            self.add_app_user(name)
        return replace(self, app_root=root)

    def add_app_user(self, name: str) -> None:
        """The app's own user ``name`` (the app runs as it under systemd), made as ``wsgideploy setup``
        makes it: a system user with its own group, which the deploy user joins."""
        self.run(app_user_script(name, self.user))

    def pid_alive(self, pid: int | str) -> bool:
        """Whether the server's process ``pid`` runs (and is no zombie). Pids that wsgideploy prints are
        the server's own: this machine cannot see them."""
        return self.run(f"ps -o stat= -p {int(pid)} | grep -qv '^Z' && echo yes || echo no").strip() == "yes"

    # Files on the server, for tests that look at what a deploy left (paths relative to the app root
    # or absolute). Reads run as root; writes run as the deploy user, as the app's files are its.
    def path(self, path: str) -> str:
        return path if path.startswith("/") else f"{self.app_root}/{path}"

    def read(self, path: str) -> str:
        """The text of the file at ``path``."""
        return self.run(f"cat {shlex.quote(self.path(path))}")

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists (a dangling link does not)."""
        return self.run(f"test -e {shlex.quote(self.path(path))} && echo yes || echo no").strip() == "yes"

    def resolve(self, path: str) -> str:
        """Where ``path`` leads, every link followed (``readlink -f``)."""
        return self.run(f"readlink -f {shlex.quote(self.path(path))}").strip()

    def live_release(self) -> str:
        """The release id ``current`` names, or "" before the first switch."""
        return self.run(f"readlink {shlex.quote(self.path('current'))} || true").strip().rsplit("/", 1)[-1]

    def write(self, path: str, text: str) -> None:
        """Write ``text`` to ``path`` as the deploy user."""
        self.run_as_deploy(f"printf %s {shlex.quote(text)} > {shlex.quote(self.path(path))}")

    def listdir(self, path: str) -> list[str]:
        """The names in the directory ``path``, sorted (hidden ones too)."""
        return sorted(self.run(f"ls -A {shlex.quote(self.path(path))}").split())


def setup_script(user: str, public_key: str, app_root: str) -> str:
    """The root script that makes ``user`` (key login, passwordless sudo) and ``app_root``."""
    u, root = shlex.quote(user), shlex.quote(app_root)
    return f"""set -eu
id -u {u} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash {u}
passwd -l {u} >/dev/null  # no password: the key is the only way in
install -d -m 0700 -o {u} -g {u} /home/{u}/.ssh
printf '%s\\n' {shlex.quote(public_key)} > /home/{u}/.ssh/authorized_keys
chown {u}:{u} /home/{u}/.ssh/authorized_keys && chmod 0600 /home/{u}/.ssh/authorized_keys
# Passwordless sudo for everything, for now; least privilege is a later issue.
printf '%s\\n' '{user} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/50-wsgideploy-{user}
chmod 0440 /etc/sudoers.d/50-wsgideploy-{user}
visudo -cqf /etc/sudoers.d/50-wsgideploy-{user}
install -d -m 0755 -o {u} -g {u} {root}
dir=$(mktemp -d) && python3 -m venv --without-pip "$dir/venv" && rm -rf "$dir"
"""


def app_user_script(name: str, deploy_user: str) -> str:
    """Root: the system user ``name`` and its group (no login, no home), ``deploy_user`` in the group."""
    n, d = shlex.quote(name), shlex.quote(deploy_user)
    return (f"id -u {n} >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir /nonexistent "
            f"--shell /usr/sbin/nologin {n}\nusermod -a -G {n} {d}\n")


def make_target(lab: ServerLab, server: Server, front: str | None = None, app_root: str = "/srv/hello",
                user: str = DEPLOY_USER) -> DeployTarget:
    """Make ``server`` a deploy target and check that ``user`` logs in by key and may sudo."""
    public_key = Path(f"{lab.ssh_key}.pub").read_text().strip()
    server.run(setup_script(user, public_key, app_root) + app_user_script(Path(app_root).name, user))
    target = DeployTarget(alias=server.name, server=server, identity=lab.ssh_key, user=user,
                          app_root=app_root, front=front)
    argv = [a.replace(f"root@{server.address}", f"{user}@{server.address}") for a in server.ssh_argv()]
    login = subprocess.run([*argv, "sudo -n true && id -un"], capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL, check=False)
    if login.returncode != 0 or login.stdout.strip() != user:
        raise RuntimeError(f"{server.name}: {user} cannot log in by key or sudo: {login.stderr.strip()}")
    return target


def boot_targets(lab: ServerLab, names: Sequence[str], front: str | None = "nginx",
                 app_root: str = "/srv/hello") -> list[DeployTarget]:
    """Boot ``names`` over ``front``'s layer in parallel and make each a deploy target (in parallel)."""
    servers = lab.boot_servers(list(names), fronts=[front] * len(names))
    with ThreadPoolExecutor(max_workers=max(1, len(servers))) as pool:
        return list(pool.map(lambda s: make_target(lab, s, front, app_root), servers))
