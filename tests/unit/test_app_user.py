"""The app's own user (docs/security.md): who the units run as, what the deploy's first script checks and
arranges for it (``app_access`` (`release.app_user_script`), run here in bash), ``.env`` readable by its group, the logs rotated
as it. The booted proof is tests/integration/test_app_user.py."""
from __future__ import annotations

import grp
import os
import pwd
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from wsgideploy.commands import release, secrets
from wsgideploy.commands.app_server import ServerContext
from wsgideploy.commands.hooks import run_hooks
from wsgideploy.commands.logs import log_owner
from wsgideploy.commands.plan import read_live_state
from wsgideploy.commands.shell import script
from wsgideploy.commands.systemd import Supervised, app_user_of
from wsgideploy.inventory import parse_stage
from wsgideploy.layout import Layout
from wsgideploy.modes import app_server
from wsgideploy.plan import parse_live_state

from .test_safety_commands import run_bash

INVENTORY = Path(__file__).with_name("production.toml")  # never read: the source "." is this folder
HOSTS = {"web1": {"hostname": "web1.example.org", "user": "deploy"}}


def app(**fields: Any) -> Any:
    return parse_stage(INVENTORY, {"app": {"name": "shop", "wsgi": "app:app", "root": "/srv/shop", "source": ".",
                                           **fields}, "hosts": HOSTS}).app


@pytest.mark.parametrize("fields, user", [({}, "shop"), ({"app_user": "shopapp"}, "shopapp")])
def test_the_unit_runs_as_the_apps_own_user_with_a_group_writable_umask(fields: dict[str, str], user: str) -> None:
    a = app(**fields)
    assert app_user_of(a) == user
    ctx = ServerContext(layout=Layout("/srv/shop"), app=a, graceful_timeout=20)
    unit = Supervised(app_server("gunicorn"), "auto").unit_text(ctx)  # type: ignore[arg-type]
    assert f"\nUser={user}\nUMask=0002\n" in unit


def test_prepare_checks_the_app_user_only_where_it_is_asked_and_only_under_systemd() -> None:
    layout = Layout("/srv/shop")
    assert "app_access" not in release.prepare(layout, "python3")
    auto = release.prepare(layout, "python3", app_user="shop")
    assert "if app_user_applies; then app_access; fi" in auto and "app_user=shop" in auto
    assert "app_user_always=0" in auto
    forced = release.prepare(layout, "python3", app_user="shop", forced=True)
    assert "app_user_always=1" in forced


def test_the_app_user_is_checked_where_systemd_runs_or_always(tmp_path: Path) -> None:
    """Where systemd does not run, the pidfile control runs the app as the deploy user: nothing to check,
    unless the app runs as its user everywhere (mod_wsgi, supervisor = "systemd")."""
    layout = Layout(str(tmp_path / "srv"))
    systemd = Path("/run/systemd/system").is_dir()  # this machine, as a host
    for always, code in ((False, 1 if systemd else 0), (True, 1)):
        result = run_bash(script(release.app_user_script(layout, "no_such_user_wsgd", always, "app_access")), tmp_path)
        assert result.returncode == code, (always, result.stderr)


def access(tmp_path: Path, app_user: str) -> Any:
    layout = Layout(str(tmp_path / "srv"))
    return layout, run_bash(script(release.app_user_script(layout, app_user, True, "app_access")), tmp_path)


def test_a_missing_app_user_fails_naming_setup_and_changes_nothing(tmp_path: Path) -> None:
    layout, result = access(tmp_path, "no_such_user_wsgd")
    assert result.returncode == 1
    assert "no_such_user_wsgd" in result.stderr and "wsgideploy setup" in result.stderr
    assert not Path(layout.shared).exists()


def test_the_deploy_user_as_app_user_is_refused(tmp_path: Path) -> None:
    _, result = access(tmp_path, pwd.getpwuid(os.getuid()).pw_name)
    assert result.returncode == 1 and "set [app] app_user to another user" in result.stderr


def test_outside_the_app_users_group_only_root_may_arrange_shared(tmp_path: Path) -> None:
    """A deploy user outside the app user's group fails with the fix and changes nothing; root (which
    may chgrp to any group: CI runs as root) gets shared/, run/ and log/ setgid and group-writable."""
    other = next(p for p in pwd.getpwall() if p.pw_uid != os.getuid() and p.pw_gid not in os.getgroups()
                 and p.pw_gid != os.getgid())
    group = grp.getgrgid(other.pw_gid).gr_name
    layout, result = access(tmp_path, other.pw_name)
    if os.getuid() != 0:
        assert result.returncode == 1
        assert f"not in the group {group}" in result.stderr and f"usermod -aG {group}" in result.stderr
        assert not Path(layout.shared).exists()
        return
    assert result.returncode == 0, result.stderr
    assert f"wsgideploy-fact:app_group={group}" in result.stdout
    for folder in (layout.shared, layout.run, layout.log):
        info = os.stat(folder)
        assert (stat.S_IMODE(info.st_mode), info.st_gid) == (0o2775, other.pw_gid), folder


def test_env_is_readable_by_the_app_users_group_only(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path / "srv"))
    group = grp.getgrgid(os.getgid()).gr_name
    for app_group, mode in (("", 0o600), (group, 0o640)):
        result = run_bash(secrets.write_env_file(layout, app_group), tmp_path, stdin=b"SECRET_KEY=x\n")
        assert result.returncode == 0, result.stderr
        env = Path(layout.shared) / ".env"
        assert stat.S_IMODE(env.stat().st_mode) == mode and env.read_bytes() == b"SECRET_KEY=x\n"


def test_logs_are_rotated_as_the_user_that_writes_them() -> None:
    assert log_owner("deploy", "deploy") == ("deploy", "deploy")
    assert log_owner("deploy", "deploy", "shop", "shop") == ("shop", "shop")


def test_what_a_hook_makes_in_the_apps_shared_data_becomes_writable_by_its_group(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path / "srv"))
    release_dir = Path(layout.release("r1"))
    (release_dir / ".wsgideploy").mkdir(parents=True)
    (release_dir / "venv" / "bin").mkdir(parents=True)
    (release_dir / "venv" / "bin" / "python").symlink_to(Path(sys.executable))
    (release_dir / ".wsgideploy" / "wsgideploy_env.py").write_text(
        "import os, sys\nos.execvp(sys.argv[2], sys.argv[2:])\n")
    (Path(layout.shared) / "data").mkdir(parents=True)
    text = run_hooks(layout, "r1", ["umask 022; echo db > ../../shared/data/app.db"], 10,
                     release.app_writable(layout, ("data",)))
    result = run_bash(text, tmp_path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((Path(layout.shared) / "data" / "app.db").stat().st_mode) == 0o664


def test_plan_reads_the_app_user_as_the_deploy_would_and_names_a_missing_one(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path / "srv"))
    me = pwd.getpwuid(os.getuid())
    found = run_bash(read_live_state(layout, "python3", {}, app_user=me.pw_name, app_user_always=True), tmp_path)
    state = parse_live_state(found.stdout)
    assert (state.app_user, state.app_group, state.app_user_missing) == (
        me.pw_name, grp.getgrgid(me.pw_gid).gr_name, "")
    missing = run_bash(read_live_state(layout, "python3", {}, app_user="no_such_user_wsgd", app_user_always=True),
                       tmp_path)
    assert parse_live_state(missing.stdout).app_user_missing == "no_such_user_wsgd"
    assert "fact:app_user" not in read_live_state(layout, "python3", {})
