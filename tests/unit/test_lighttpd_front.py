"""proxy = "lighttpd" on a host whose lighttpd drops to its own user (Debian's: www-data): the site's
access log is in lighttpd's own folder (/var/log/lighttpd, www-data's), so nothing is handed over and
root touches no log; a reload that lighttpd does not survive puts the previous site back, starts
lighttpd again and fails the step.

Run with a fake ``lighttpd`` (a script) in tmp_path; the real thing is in
tests/integration/test_stock_lighttpd.py (a booted Debian 12 server).
"""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from wsgideploy.commands import lighttpd
from wsgideploy.commands.recipe import recipe
from wsgideploy.inventory import Lighttpd

from tests.unit.recipe_text import function_body

SITE_WITH_LOGS = '''$SERVER["socket"] == ":8080" {
  accesslog.filename = "/var/log/lighttpd/hello.access.log"
  $HTTP["host"] == "a" { accesslog.filename = "|/usr/bin/logger -t a" }
}
'''


def test_config_values_reads_a_key_without_piped_values(tmp_path: Path) -> None:
    site = tmp_path / "site.conf"
    site.write_text(SITE_WITH_LOGS)
    found = subprocess.run(["bash", "-c", recipe("lighttpd") + f"\nconfig_values accesslog.filename '|' < {site}"],
                           capture_output=True, text=True, timeout=10, env={**os.environ, "WATCH_TENTHS": "1"})
    assert found.stdout.splitlines() == ["/var/log/lighttpd/hello.access.log"]


def test_install_site_touches_no_log_and_reads_lighttpds_config_as_the_deploy_user() -> None:
    text = lighttpd.install_site(Lighttpd(), "hello", "# the site\n")
    assert text.endswith("\nsite_install\n")
    assert '\nas_root() { sudo -n "$@"; }\n' in text
    assert "\nlighttpd_cmd() { sudo -n lighttpd -f /etc/lighttpd/lighttpd.conf \"$@\"; }\n" in text
    assert "\nlighttpd_query() { lighttpd -f /etc/lighttpd/lighttpd.conf \"$@\"; }\n" in text
    assert "lighttpd_query -p" in function_body("lighttpd", "lighttpd_setting")
    assert "chown" not in recipe("lighttpd") and "lighttpd_logs_for_user" not in recipe("lighttpd")
    # the live site is kept beside it, in root's folder, never in the release (which the deploy user writes)
    assert "\nSITE_KEPT=/etc/lighttpd/conf-available/wsgideploy-hello.conf.wsgideploy-live\n" in text


def test_without_systemd_the_reload_is_a_fixed_command_on_root_s_pidfile() -> None:
    text = lighttpd.reload(Lighttpd(control="signal"))
    assert 'as_root pkill --signal USR1 --pidfile "$PIDFILE"' in text and "kill -USR1" not in text
    assert "\nPIDFILE=/run/lighttpd.pid\n" in text
    assert "as_root kill" not in recipe("lighttpd")


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
    subprocess.run([str(fake)], check=True, timeout=10)
    first = int(pidfile.read_text())
    try:
        result = subprocess.run(["bash", "-c", lighttpd.install_site(settings, "hello", "# the new site\n")
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


NEW_LOW_PORTS_SITE = '''$SERVER["socket"] == ":80" {
}
$SERVER["socket"] == "127.0.0.1:443" {
}
$SERVER["socket"] == "[::1]:8443" {
}
'''


@pytest.mark.parametrize("listening, expected", [
    ((), "80 443 "), (("80",), "443 "), (("80", "443"), ""),
], ids=["nothing yet", "80 already", "both already"])
def test_a_new_port_below_1024_means_a_restart(listening: tuple[str, ...], expected: str) -> None:
    """lighttpd reloads after dropping root: it binds a new port below 1024 at a (re)start only."""
    fake_ss = "ss() { case \"$2\" in " + "".join(f'"sport = :{p}") echo LISTEN;; ' for p in listening) + "esac; }\n"
    text = f"SITE_TEXT={shlex.quote(NEW_LOW_PORTS_SITE)}\nWATCH_TENTHS=1\n" + recipe("lighttpd") + fake_ss + \
        'printf "[%s]" "$(new_low_ports)"\n'
    done = subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=30)
    assert done.stdout == f"[{expected}]", done.stderr


@pytest.mark.parametrize("when, started_again", [("pid", True), ("test", True), ("pid", False)],
                         ids=["as on CI", "right after the install", "systemd has not started it yet"])
def test_a_new_port_is_asked_before_the_site_goes_in_so_a_reload_by_someone_else_cannot_hide_it(
        tmp_path: Path, when: str, started_again: bool) -> None:
    """certbot's deploy hook reloads lighttpd at issuance and returns before lighttpd has read its config
    again; the https step right after it installs the site with 443. On CI that late reload read the new
    site, could not bind 443 (lighttpd reloads as www-data) and ended; systemd started lighttpd again, as
    root, bound to 443. The step had read the old pid, then asked about the port, saw 443 bound, reloaded
    and watched the old pid: "lighttpd stopped after the reload". Here a stand-in plays that late reload
    once the site holds 443: ``systemctl show`` right after it names the old pid (``when="pid"``), or the
    site's ``lighttpd -tt`` (``when="test"``, the first command after the install); systemd has started
    lighttpd again by then, or not yet (its ``Restart=`` waits 0.1 s). The port is asked before the site
    goes in, when it was free and lighttpd ran, so the step restarts lighttpd, and the restart binds 443."""
    state, bin_dir = tmp_path / "state", tmp_path / "bin"
    state.mkdir()
    bin_dir.mkdir()
    for sub in ("avail", "enabled"):
        (tmp_path / sub).mkdir()
    site_file = tmp_path / "avail" / "wsgideploy-hello.conf"

    def tool(name: str, body: str) -> Path:
        path = bin_dir / name
        path.write_text("#!/bin/bash\n" + body)
        path.chmod(0o755)
        return path

    main = f"setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $! > {state}/pid; echo $! >> {state}/all"
    alive = 'grep -qs "^State:[[:space:]]*[^ZX]" "/proc/$(cat ' + f'{state}/pid)/status"'
    tool("late-reload", f'[ "$1" = {when} ] && [ ! -e {state}/raced ] && grep -qs :443 {site_file} || exit 0\n'
         f'touch {state}/raced; kill "$(cat {state}/pid)"; while {alive}; do sleep 0.01; done\n'
         + (f"{main}; touch {state}/443\n" if started_again else f"echo activating > {state}/active\n"))
    tool("systemctl", f'echo "$*" >> {state}/calls\n'
         f'case "$1" in\n'
         f'  show) if [ "$3" = ActiveState ]; then cat {state}/active 2>/dev/null || echo active; exit; fi\n'
         f'    cat {state}/pid; late-reload pid;;\n'
         f'  is-active) {alive};;\n'
         f'  restart|start) kill "$(cat {state}/pid)" 2>/dev/null; rm -f {state}/active; {main};;\n'
         f'esac\n')
    tool("ss", f'case "$2" in "sport = :80") echo LISTEN;; "sport = :443") [ ! -e {state}/443 ] || echo LISTEN;; esac\n')
    fake = tool("lighttpd", 'case " $* " in *" -tt "*) late-reload test;; esac\n')
    subprocess.run(["bash", "-c", main], check=True, timeout=10)
    settings = Lighttpd(sudo=False, control="systemd", binary=str(fake), sites_available=str(tmp_path / "avail"),
                        sites_enabled=str(tmp_path / "enabled"))
    site = '$SERVER["socket"] == ":80" {\n}\n$SERVER["socket"] == ":443" {\n}\n'
    try:
        done = subprocess.run(["bash", "-c", lighttpd.publish_site(settings, "hello", site)], capture_output=True,
                              text=True, timeout=60, env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    finally:
        for pid in (state / "all").read_text().split():
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
    calls = (state / "calls").read_text()
    assert done.returncode == 0, done.stdout + done.stderr + calls
    assert "restarted: it binds the new port 443 as root only" in done.stdout, done.stdout
    assert "restart lighttpd" in calls and "reload" not in calls, calls
    assert site_file.read_text() == site
