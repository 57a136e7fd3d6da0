"""The app's own user on a booted Debian 12 server (docs/security.md): the app server runs as
``[app] app_user`` (default: the app's name), never as the deploy user; it reads its release and
``shared/.env``, writes its logs, sockets and shared data (also what a migration hook made), and cannot
write its code, its venv, its configs, its unit or ``.env``. A user that does not exist stops the deploy
before anything changes, naming ``setup``."""
from __future__ import annotations

import shlex

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from .fabcli import EXAMPLE, fab
from .helpers import copy_app
from .stock import get

PORT = 8096


def can_write(host: DeployTarget, user: str, path: str) -> bool:
    """Whether ``user`` may create a file in the folder ``path`` or append to the file ``path``."""
    test = f"if [ -d {shlex.quote(path)} ]; then t={shlex.quote(path)}/.probe.$$ && : > \"$t\" && rm -f \"$t\"; " \
           f"else : >> {shlex.quote(path)}; fi"
    out = host.run(f"runuser -u {user} -- sh -c {shlex.quote(test)} 2>/dev/null && echo yes || echo no")
    return out.strip() == "yes"


def test_the_app_runs_as_its_own_user_which_writes_only_its_shared_data(
        nginx_target: DeployTarget, write_inventory, tmp_path) -> None:  # noqa: F811
    host = nginx_target.with_app("owned")
    source = copy_app(EXAMPLE, tmp_path / "app", version="1.0.0")
    env_file = tmp_path / "prod.env"
    env_file.write_text("SECRET_KEY=not-for-the-log\n")
    inventory = write_inventory(
        "test", app={**host.app_table(source), "listen": PORT, "shared": ["instance"], "env_file": str(env_file)},
        hosts={host.alias: host.host_table()}, nginx=host.front_table(),
        extra={"hooks": {"before_switch": [{"run": "umask 022 && echo v1 > instance/app.db"}]}})
    fab(inventory, "-H", host.alias, "deploy")
    assert get(host.address, PORT, "/info")[0] == 200

    live = host.run("systemctl show -p MainPID --value wsgideploy-owned@a.service wsgideploy-owned@b.service")
    main = next(p for p in live.split() if p != "0")
    users = set(host.run(f"ps -o user= --ppid {main} -p {main}").split())
    assert users == {"owned"}, f"the master and its workers run as the app's user: {users}"
    assert "not allowed" in host.run("sudo -l -U owned 2>&1 || true"), "the app's user has no sudo"

    for path in ("current", "current/", "current/app.py", "current/venv/bin", "current/.wsgideploy/gunicorn.conf.py",
                 "releases", "shared/.env", "/etc/systemd/system/wsgideploy-owned@.service",
                 "/etc/logrotate.d", "/etc/nginx/sites-enabled"):
        assert not can_write(host, "owned", host.path(path)), f"the app's user can write {path}"
    for path in ("shared/log", "shared/log/app.log", "shared/run", "shared/instance", "shared/instance/app.db"):
        assert can_write(host, "owned", host.path(path)), f"the app's user cannot write {path}"
    assert host.run(f"runuser -u owned -- cat {host.path('shared/.env')}").strip() == "SECRET_KEY=not-for-the-log"
    assert host.run(f"stat -c '%U:%G %a' {host.path('shared/.env')}").strip() == f"{host.user}:owned 640"


def test_an_app_user_that_does_not_exist_stops_the_deploy_before_anything_changes(
        nginx_target: DeployTarget, write_inventory, tmp_path) -> None:  # noqa: F811
    host = nginx_target.with_app("ghostly")
    source = copy_app(EXAMPLE, tmp_path / "app", version="1.0.0")
    inventory = write_inventory("test", app={**host.app_table(source), "listen": PORT + 1, "app_user": "ghost"},
                                hosts={host.alias: host.host_table()}, nginx=host.front_table())
    failed = fab(inventory, "-H", host.alias, "deploy", expect=1)
    text = failed.stdout + failed.stderr
    assert "ghost" in text and "does not exist" in text and "wsgideploy setup" in text, text
    assert host.listdir("releases") == [] and not host.exists("current")
    assert host.run("ls /etc/systemd/system | grep -c wsgideploy-ghostly || true").strip() == "0"
