"""proxy = "lighttpd" on a host whose lighttpd drops to its own user (Debian's: www-data): the site's
access logs are handed to that user before the site goes in, and a reload that lighttpd does not
survive puts the previous site back, starts lighttpd again and fails the step.

Run with a fake ``lighttpd`` (a script) in tmp_path; the real thing is in
tests/integration/test_stock_lighttpd.py (a booted Debian 12 server).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from wsgideploy.commands import lighttpd
from wsgideploy.commands.recipe import recipe
from wsgideploy.inventory import Lighttpd

from tests.unit.recipe_text import function_body


def position(text: str, needle: str) -> int:
    assert needle in text, needle
    return text.index(needle)


SITE_WITH_LOGS = '''$SERVER["socket"] == ":8080" {
  accesslog.filename = "/srv/hello/shared/log/lighttpd.access.log"
  $HTTP["host"] == "a" { accesslog.filename = "|/usr/bin/logger -t a" }
}
'''


def test_the_access_logs_of_a_site_are_read_from_its_rendered_file_without_piped_ones(tmp_path: Path) -> None:
    site = tmp_path / "site.conf"
    site.write_text(SITE_WITH_LOGS)
    found = subprocess.run(["bash", "-c", recipe("lighttpd") + f"\nconfig_values accesslog.filename '|' < {site}"],
                           capture_output=True, text=True, timeout=10, env={**os.environ, "WATCH_TENTHS": "1"})
    assert found.stdout.splitlines() == ["/srv/hello/shared/log/lighttpd.access.log"]


def test_install_site_gives_the_access_logs_to_lighttpds_user_before_the_site_goes_in() -> None:
    text = lighttpd.install_site(Lighttpd(), "hello", "/srv/hello/x.conf")
    assert text.endswith("\nlighttpd_logs_for_user\nsite_install\n")
    assert '\nas_root() { sudo -n "$@"; }\n' in text
    assert "\nlighttpd_cmd() { sudo -n lighttpd -f /etc/lighttpd/lighttpd.conf \"$@\"; }\n" in text
    logs = function_body("lighttpd", "lighttpd_logs_for_user")
    assert (position(logs, "user=$(lighttpd_setting server.username)")
            < position(logs, 'as_root chown "$user:$(id -gn)" "$log"'))
    assert 'as_root install -m 0660 -o "$user" -g "$(id -gn)" /dev/null "$log"' in logs
    assert "lighttpd_cmd -p" in function_body("lighttpd", "lighttpd_setting")


def fake_lighttpd(tmp_path: Path, username: str) -> Path:
    """A ``lighttpd`` whose parsed config (``-p``) names ``username`` and that tests fine (``-tt``)."""
    fake = tmp_path / "lighttpd"
    fake.write_text(f'#!/bin/bash\ncase " $* " in *" -p "*) echo \'    server.username = "{username}"\';; esac\n')
    fake.chmod(0o755)
    return fake


def run_install(tmp_path: Path, username: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    for sub in ("avail", "enabled", "log"):
        (tmp_path / sub).mkdir(exist_ok=True)
    log = tmp_path / "log" / "lighttpd.access.log"
    rendered = tmp_path / "site.conf"
    rendered.write_text(f'accesslog.filename = "{log}"\n')
    settings = Lighttpd(sudo=False, binary=str(fake_lighttpd(tmp_path, username)), conf=str(tmp_path / "l.conf"),
                        sites_available=str(tmp_path / "avail"), sites_enabled=str(tmp_path / "enabled"))
    result = subprocess.run(["bash", "-c", lighttpd.install_site(settings, "hello", str(rendered))],
                            capture_output=True, text=True, timeout=30)
    return result, log


def test_a_lighttpd_that_keeps_the_deploy_users_identity_needs_nothing(tmp_path: Path) -> None:
    import getpass
    result, log = run_install(tmp_path, getpass.getuser())
    assert result.returncode == 0, result.stderr
    assert "lighttpd_log=" not in result.stdout and not log.exists()


def test_the_access_log_becomes_lighttpds_users_or_the_site_does_not_go_in(tmp_path: Path) -> None:
    result, log = run_install(tmp_path, "nobody")
    if os.geteuid() == 0:
        assert result.returncode == 0, result.stderr
        assert (log.owner(), oct(log.stat().st_mode & 0o777)) == ("nobody", "0o660")
        assert f"wsgideploy-fact:lighttpd_log={log} (nobody:" in result.stdout
    else:  # no sudo, not root: it cannot be given away, and lighttpd would stop at the reload
        assert result.returncode == 1
        assert "lighttpd runs as nobody (server.username)" in result.stderr
        assert not (tmp_path / "avail" / "wsgideploy-hello.conf").exists(), "the site did not go in"


def test_a_reload_lighttpd_does_not_survive_puts_the_previous_site_back_and_starts_it_again(tmp_path: Path) -> None:
    """A lighttpd (here a sleep: USR1 ends it, as a config lighttpd cannot run does) that goes down
    at the reload: the previous site is back, a new one is started, and the step fails saying so."""
    for sub in ("avail", "enabled"):
        (tmp_path / sub).mkdir()
    pidfile = tmp_path / "lighttpd.pid"
    fake = tmp_path / "lighttpd"
    fake.write_text(f'#!/bin/bash\ncase " $* " in *" -tt "*|*" -p "*) exit 0;; esac\n'
                    f'setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $! > {pidfile}\n')
    fake.chmod(0o755)
    settings = Lighttpd(sudo=False, control="signal", binary=str(fake), conf=str(tmp_path / "l.conf"),
                        pidfile=str(pidfile), sites_available=str(tmp_path / "avail"),
                        sites_enabled=str(tmp_path / "enabled"))
    site = tmp_path / "avail" / "wsgideploy-hello.conf"
    site.write_text("# the previous site\n")
    (tmp_path / "enabled" / "wsgideploy-hello.conf").symlink_to(site)
    rendered = tmp_path / "new.conf"
    rendered.write_text("# the new site\n")
    subprocess.run([str(fake)], check=True, timeout=10)
    first = int(pidfile.read_text())
    try:
        result = subprocess.run(["bash", "-c", lighttpd.install_site(settings, "hello", str(rendered))
                                 + lighttpd.reload(settings)], capture_output=True, text=True, timeout=60)
        second = int(pidfile.read_text())
    finally:
        for pid in {first, int(pidfile.read_text())}:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("lighttpd stopped after the reload (its error log is above); the previous site was put back "
            "and lighttpd was started again") in result.stderr
    assert site.read_text() == "# the previous site\n"
    assert second != first and "lighttpd=reloaded" not in result.stdout
