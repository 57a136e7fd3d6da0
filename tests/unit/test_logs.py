"""``logs`` and the logrotate snippet (tasks/commands/logs.py): the scripts run for real in bash.

The front server's logs of the app are read where the front server writes them, by the deploy user; one it
cannot read is named with the group that reads it (tests/integration/test_proxy_and_logs.py, as a user
outside adm). The logrotate snippet is the controller's text, installed from the script.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from wsgideploy.commands import logs
from wsgideploy.layout import Layout
from wsgideploy.modes import front_server


def run(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=30, check=False)


def test_logs_shows_the_apps_logs_and_the_front_servers_where_it_writes_them(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path / "srv"))
    Path(layout.log).mkdir(parents=True)
    Path(layout.log, "app.log").write_text("index served\n")
    front = tmp_path / "var-log-nginx"
    front.mkdir()
    (front / "hello.access.log").write_text('"GET /info HTTP/1.1" 200\n')
    # the error log does not exist yet (no error): nothing to show, nothing to explain
    done = run(logs.tail(layout, 5, False, (str(front / "hello.access.log"), str(front / "hello.error.log"))))
    assert done.returncode == 0, done.stderr
    assert f"==> {layout.log}/app.log <==\nindex served\n" in done.stdout
    assert f"==> {front}/hello.access.log <==\n\"GET /info HTTP/1.1\" 200\n" in done.stdout
    assert "hello.error.log" not in done.stdout and "not readable" not in done.stdout


def test_the_front_logs_are_nginx_s_own_folder_and_lighttpd_s_access_log_only() -> None:
    assert front_server("nginx").log_files("hello", {}) == ("/var/log/nginx/hello.access.log",
                                                            "/var/log/nginx/hello.error.log")
    assert front_server("apache").log_files("hello", {})[1] == "/var/log/apache2/hello.error.log"
    assert front_server("lighttpd").log_files("hello", {}) == ("/var/log/lighttpd/hello.access.log",)
    assert front_server("nginx").log_files("hello", {"front_log_dir": "/opt/logs/"})[0] == "/opt/logs/hello.access.log"
    assert (front_server("nginx").log_group, front_server("lighttpd").log_group) == ("adm", "www-data")


def test_the_logrotate_snippet_is_the_controllers_text_installed_from_the_script(tmp_path: Path) -> None:
    text = "/srv/hello/shared/log/*.log {\n    su deploy deploy\n    daily\n}\n"
    script = logs.install_logrotate(text, str(tmp_path), "hello")
    assert "/current/" not in script and "releases/" not in script, "no file of the host is read"
    assert "install -o root -g root -m 0644 /dev/stdin" in script
    if os.geteuid() != 0:
        pytest.skip("installs a root-owned file: runs as root")
    done = run(script)  # as a deploy user that is root does
    assert "logrotate=installed" in done.stdout, done.stdout + done.stderr
    assert (tmp_path / "wsgideploy-hello").read_text() == text
    assert "logrotate=unchanged" in run(script).stdout
