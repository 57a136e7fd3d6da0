"""nginx's verified reload and publish (``tasks/recipes/nginx.sh`` through `commands.nginx`).

The recipe runs for real in bash. A small bash process stands in for nginx's master: on HUP it
starts a new child (a new worker generation), and its stderr is its error log, as a daemonized
nginx master's is; the main config file (``NGINX_CONF``) names that log, where the recipe finds it
as the deploy user (it reads nothing as root). The fake control functions refuse a site that says ``bad`` the way nginx does
when another program holds a port: the signal is accepted, and ``[emerg] bind() ...`` goes to the log.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from wsgideploy.commands import nginx
from wsgideploy.commands.recipe import Script, recipe
from wsgideploy.inventory import Nginx
from wsgideploy.protocol import parse_facts

from tests.unit.recipe_text import function_body

BIND_ERROR = "[emerg] 12#12: bind() to 192.0.2.2:8091 failed (98: Address already in use)"

# The stand-in master: a new child on every HUP, its stderr the error log.
MASTER = 'trap "sleep 300 &" HUP; sleep 300 & while :; do wait; done'

FAKE_CONTROL = f"""
as_root() {{ "$@"; }}
root_install() {{ install -m 0644 /dev/stdin "$1"; }}
nginx_cmd() {{ :; }}
nginx_query() {{ :; }}
nginx_master() {{ cat "$MASTER_PIDFILE" 2>/dev/null || true; }}
nginx_signal_reload() {{
  echo reload >> "$CALLS"
  if grep -q bad "$SITE_AVAILABLE" 2>/dev/null; then echo '{BIND_ERROR}' >> "$ERROR_LOG"
  else kill -HUP "$(nginx_master)"; fi
}}
nginx_start() {{
  echo start >> "$CALLS"
  if grep -q bad "$SITE_AVAILABLE" 2>/dev/null; then echo 'nginx: {BIND_ERROR}'; return 1; fi
  setsid env --default-signal=HUP bash -c '{MASTER}' 2>> "$ERROR_LOG" > /dev/null < /dev/null &
  echo $! > "$MASTER_PIDFILE"
}}
"""


def wait_for_a_child(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if stat.read_text().rsplit(")", 1)[1].split()[1] == str(pid):
                    return
            except (OSError, IndexError):
                continue
        time.sleep(0.05)
    raise AssertionError(f"the stand-in master {pid} started no child in {timeout:g} s")


class Host:
    """Files of one fake host: the sites folders, the master's pidfile and error log, a call log."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("sites-available", "sites-enabled"):
            (root / sub).mkdir()
        self.available = root / "sites-available" / "hello"
        self.enabled = root / "sites-enabled" / "hello"
        self.pidfile, self.error_log, self.calls = root / "nginx.pid", root / "error.log", root / "calls"
        self.conf = root / "nginx.conf"
        self.conf.write_text(f"user www-data;\nerror_log {self.error_log};\npid {self.pidfile};\n")
        self.error_log.touch()
        self.calls.touch()

    def values(self) -> dict[str, str | int]:
        return {"RELOAD_TIMEOUT": 3, "SITE_AVAILABLE": str(self.available), "SITE_ENABLED": str(self.enabled),
                "SITE_KEPT": f"{self.available}.wsgideploy-live", "MASTER_PIDFILE": str(self.pidfile),
                "ERROR_LOG": str(self.error_log), "CALLS": str(self.calls), "NGINX_CONF": str(self.conf)}

    def start_master(self) -> None:
        with self.error_log.open("ab") as log:
            # HUP as its default: bash cannot trap a signal that was ignored when it started (under nohup)
            proc = subprocess.Popen(["env", "--default-signal=HUP", "bash", "-c", MASTER], stderr=log,
                                    stdout=subprocess.DEVNULL,
                                    start_new_session=True)
        self.pidfile.write_text(f"{proc.pid}\n")
        wait_for_a_child(proc.pid)  # its HUP trap is set before its first child starts

    def master_pid(self) -> int | None:
        text = self.pidfile.read_text().strip() if self.pidfile.exists() else ""
        return int(text) if text else None

    def stop_master(self) -> None:
        pid = self.master_pid()
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def enable(self, text: str) -> None:
        self.available.write_text(text)
        self.enabled.symlink_to(self.available)

    def publish(self, new_site: str) -> subprocess.CompletedProcess[str]:
        """site_keep, install the new site (as install_site does once nginx -t passed), nginx_publish."""
        new = self.root / "new.conf"
        new.write_text(new_site)
        install = f'cp {new} "$SITE_AVAILABLE"; ln -sfn "$SITE_AVAILABLE" "$SITE_ENABLED"'
        text = Script(f"{FAKE_CONTROL}\nsite_keep\n{install}\nnginx_publish", self.values(),
                      nginx.RECIPES).text()
        return subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=90, check=False)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    made = Host(tmp_path)
    yield made
    made.stop_master()


def test_a_reload_that_takes_reports_reloaded_and_keeps_no_copy(host: Host) -> None:
    host.start_master()
    host.enable("old site\n")
    done = host.publish("new site\n")
    assert done.returncode == 0, done.stderr
    assert parse_facts(done.stdout)["nginx"] == "reloaded"
    assert host.available.read_text() == "new site\n" and host.enabled.is_symlink()
    assert not Path(f"{host.available}.wsgideploy-live").exists()
    assert host.calls.read_text().split() == ["reload"]


def test_a_reload_that_nginx_logs_as_failed_puts_the_previous_site_back_and_says_why(host: Host) -> None:
    host.start_master()
    host.enable("old site\n")
    done = host.publish("bad site\n")
    assert done.returncode == 1
    assert BIND_ERROR in done.stderr, done.stderr
    assert "nginx did not apply the new site; the previous site was put back and nginx reloaded with it" \
        in done.stderr
    assert "wsgideploy-fact:nginx=" not in done.stdout
    assert host.available.read_text() == "old site\n" and host.enabled.is_symlink()
    assert host.calls.read_text().split() == ["reload", "reload"]


def test_a_failed_first_site_is_removed_again(host: Host) -> None:
    host.start_master()
    done = host.publish("bad site\n")
    assert done.returncode == 1 and BIND_ERROR in done.stderr
    assert not host.available.exists() and not host.enabled.is_symlink()


def test_a_reload_with_no_new_workers_fails_after_the_timeout(host: Host, tmp_path: Path) -> None:
    """A master that ignores the signal and logs nothing: the timeout decides."""
    host.start_master()
    host.enable("old site\n")
    values = {**host.values(), "RELOAD_TIMEOUT": 1}
    script = Script(f"{FAKE_CONTROL}\nnginx_signal_reload() {{ :; }}\nnginx_apply_or_fail", values,
                    nginx.RECIPES).text()
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 1
    assert "nginx started no new workers within 1s of the reload signal" in done.stderr


def test_nginx_stopped_and_a_site_it_cannot_start_with_is_started_with_the_previous_site(host: Host) -> None:
    host.enable("old site\n")
    done = host.publish("bad site\n")
    assert done.returncode == 1
    assert BIND_ERROR in done.stderr
    assert "the previous site was put back and nginx started with it" in done.stderr
    assert host.available.read_text() == "old site\n"
    pid = host.master_pid()
    assert pid and Path(f"/proc/{pid}").exists(), "nginx must be running after the deploy"
    assert host.calls.read_text().split() == ["start", "start"]


def test_nginx_stopped_is_started_with_the_new_site(host: Host) -> None:
    host.enable("old site\n")
    done = host.publish("new site\n")
    assert done.returncode == 0, done.stderr
    assert parse_facts(done.stdout)["nginx"] == "started"


def test_publish_site_keeps_the_live_site_installs_and_tests_then_applies_in_that_order() -> None:
    text = nginx.publish_site(Nginx(), "hello", "server { listen 80; }\n")
    assert text.endswith("\nif site_is_live && nginx_running; then fact nginx unchanged\n"
                         "else site_install; nginx_publish; fi\n")
    install = function_body("site", "site_install")
    assert install.index("site_keep") < install.index('root_install "$SITE_AVAILABLE"') < install.index("site_test")
    assert "\nsite_test() { nginx_cmd -t; }\n" in text and "\nnginx_cmd() { sudo -n nginx \"$@\"; }\n" in text
    # root installs the controller's text, sent in the script: no path on the host is read
    assert "\nSITE_TEXT='server { listen 80; }\n'\n" in text and "RENDERED_SITE" not in text
    assert "SITE_KEPT=/etc/nginx/sites-available/hello.wsgideploy-live" in text
    assert f"RELOAD_TIMEOUT={nginx.RELOAD_TIMEOUT}" in text


@pytest.mark.parametrize("config, master", [
    (Nginx(control="systemd"), "active_main_pid nginx"),
    (Nginx(control="signal"), 'pid_in "$(nginx_pidfile)"'),
    (Nginx(sudo=False, conf="/opt/nginx/nginx.conf"), 'pid_in "$(nginx_pidfile)"'),
])
def test_reload_is_verified_for_every_control(config: Nginx, master: str) -> None:
    text = nginx.reload(config)
    assert master in text
    assert text.rstrip().endswith("nginx_apply_or_fail")
    assert ("sudo -n" in text) == config.sudo


def test_the_pidfile_and_error_log_come_from_the_main_config_file_read_as_the_deploy_user(tmp_path: Path) -> None:
    """No `nginx -T` as root: the main config file (its path from `nginx -V` when no -c) is read as it is."""
    conf = tmp_path / "nginx.conf"
    conf.write_text("user www-data;\npid /run/x.pid;\nerror_log /var/log/x/error.log;\nhttp {\n  error_log /srv/a.log;\n}\n")
    fake_nginx = tmp_path / "nginx"
    fake_nginx.write_text("#!/bin/sh\n"
                          f'if [ "$1" = -V ]; then echo "configure arguments: --prefix=/usr/share/nginx --conf-path={conf}" >&2; fi\n')
    fake_nginx.chmod(0o755)
    script = Script(f'as_root() {{ exit 3; }}\nnginx_cmd() {{ exit 3; }}\nnginx_query() {{ {fake_nginx} "$@"; }}\n'
                    "nginx_pidfile; configured_error_log", {"RELOAD_TIMEOUT": 1}, nginx.RECIPES).text()
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if not line.startswith("wsgideploy-")]
    assert lines == ["/run/x.pid", "/var/log/x/error.log"]


def test_a_site_that_nginx_t_rejects_leaves_no_kept_copy(host: Host) -> None:
    host.enable("old site\n")
    script = Script(f"{FAKE_CONTROL}\nsite_keep\nfail 'nginx -t rejected the new site'\nnginx_publish",
                    host.values(), nginx.RECIPES).text()
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 1
    assert not Path(f"{host.available}.wsgideploy-live").exists()
    assert host.available.read_text() == "old site\n"


@pytest.mark.parametrize("installed, link, live", [
    ("server { listen 80; }\n", "available", True),      # these very bytes, enabled: nginx is left alone
    ("server { listen 81; }\n", "available", False),     # another site
    ("server { listen 80; }", "available", False),        # one byte less
    ("server { listen 80; }\n", None, False),             # not enabled
    ("server { listen 80; }\n", "elsewhere", False),      # enabled from another file
    (None, None, False),                                 # a first deploy
])
def test_site_is_live_only_for_the_very_bytes_enabled(tmp_path: Path, installed: str | None, link: str | None,
                                                        live: bool) -> None:
    available, enabled = tmp_path / "available", tmp_path / "enabled"
    if installed is not None:
        available.write_text(installed)
    if link:
        enabled.symlink_to(tmp_path / link)
    text = (function_body("site", "site_is_live") + f"SITE_AVAILABLE={available}\nSITE_ENABLED={enabled}\n"
            "SITE_TEXT='server { listen 80; }\n'\nsite_is_live")
    assert (subprocess.run(["bash", "-c", text], check=False).returncode == 0) == live


@pytest.mark.parametrize("shown, master", [
    ("ActiveState=active\nMainPID=4242\n", "4242"),
    ("MainPID=4242\nActiveState=active\n", "4242"),  # systemctl prints properties in its own order
    ("ActiveState=reloading\nMainPID=4242\n", "4242"),
    ("ActiveState=inactive\nMainPID=0\n", ""),
    ("ActiveState=deactivating\nMainPID=4242\n", ""),
    ("ActiveState=active\nMainPID=0\n", ""),
    ("", ""),  # no systemctl answer at all
])
def test_the_systemd_master_is_the_main_pid_of_an_active_unit(tmp_path: Path, shown: str, master: str) -> None:
    """``nginx_master`` under systemd (process.sh's ``active_main_pid``, which the systemd go-live uses too):
    one ``systemctl show`` for the state and the pid, run with a local bash against a stand-in systemctl that
    prints what systemd would."""
    fake = tmp_path / "systemctl"
    fake.write_text(f"#!/bin/sh\nprintf '%s' '{shown}'\n")
    fake.chmod(0o755)
    text = recipe("process") + nginx.control_functions(Nginx(control="systemd")) + "\nnginx_master\n"
    result = subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=10,
                            env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == master
