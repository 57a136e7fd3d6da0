"""proxy = "apache" with Debian's stock apache2 (mpm_event, running as root with ``User www-data``):
a full restart where a graceful one cannot start a module's own processes (mod_cgid's daemon), and
a CGI app that cannot write the deploy's ``shared/log/app.log`` as www-data.

The real thing is in tests/integration/test_stock_apache.py (a booted Debian 12 server).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from wsgideploy.commands import apache
from wsgideploy.inventory import Apache

from tests.unit.recipe_text import function_body
from tests.unit.test_mode_apache import make_release


def test_generated_cgi_script_answers_when_it_cannot_write_its_log_file(tmp_path: Path) -> None:
    """CGI under a stock Apache runs as www-data, which cannot write the deploy's shared/log/app.log:
    the app logs to standard error (Apache's error log) and still answers."""
    root, _ = make_release(tmp_path, "cgi", "app:app")
    (root / "shared/log/app.log").mkdir()  # not a file anyone can open for writing, root included
    env = {"PATH": os.environ["PATH"], "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/",
           "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
           "GATEWAY_INTERFACE": "CGI/1.1", "QUERY_STRING": ""}
    result = subprocess.run([sys.executable, str(root / "current/.wsgideploy/app.cgi")], env=env,
                            capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().startswith("Status: 200 OK\r\n"), result.stdout.decode()


def test_install_site_lists_the_modules_the_new_site_loads_anew() -> None:
    text = apache.install_site(Apache(), "hello", "<VirtualHost *:80>\n</VirtualHost>\n")
    assert "\nAPACHE_SITE_TEXT='<VirtualHost *:80>\n</VirtualHost>\n'\n" in text
    assert text.endswith("\napache_install_site\n")
    install = function_body("apache", "apache_install_site")
    assert (position(install, 'modules_before=" $(apache_modules | paste -sd \' \' -) "')
            < position(install, 'printf \'%s\' "$APACHE_SITE_TEXT" | root_install "$APACHE_SITE"')
            < position(install, "for module in $(apache_modules); do"))
    assert '\napache_ctl() { sudo -n apache2ctl "$@"; }\n' in text
    # Apache's queries need no root: the deploy user runs them (apache_query), root only the fixed commands
    assert '\napache_query() { apache2ctl "$@"; }\n' in text
    assert "apache_query -M" in function_body("apache", "apache_modules")


@pytest.mark.parametrize("settings, reload, restart", [
    (Apache(control="systemd"), "apache_systemd_reload", 'as_root systemctl restart "$APACHE_UNIT"'),
    (Apache(control="signal", sudo=False), "apache_signal_reload", "apache_full_restart"),
])
def test_reload_restarts_fully_when_a_module_is_loaded_anew_or_the_cgid_daemon_is_missing(
        settings: Apache, reload: str, restart: str) -> None:
    text = apache.reload(settings)
    assert f"\napache_reload() {{ {reload}; }}\n" in text and text.endswith("\napache_reload\n")
    body = function_body("apache", reload)
    assert (position(body, "why=$(restart_reason)") < position(body, restart)
            < position(body, "apache_check_cgid_daemon")
            < position(body, 'fact apache "restarted, not reloaded: $why"'))
    assert "mod_cgid's daemon is not running" in function_body("apache", "apache_check_cgid_daemon")
    assert 'apache_ctl -k graceful-stop' in function_body("apache", "apache_full_restart")
    reason = function_body("apache", "restart_reason")
    assert position(reason, "wsgideploy_apache_new_modules") < position(reason, "cgid_daemon_missing")


def test_cgid_daemon_missing_looks_for_the_socket_named_for_the_apache_parent(tmp_path: Path) -> None:
    """mod_cgid's socket is <ScriptSock>.<parent pid>: it is found in /proc/net/unix wherever it is."""
    import socket
    functions = apache.functions(Apache(sudo=False))
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(tmp_path / f"cgisock.{os.getpid()}"))
    listening.listen()
    try:
        probe = 'probe_pid=$1\n' + functions + """
apache_pid() { echo "$probe_pid"; }
apache_modules() { echo cgid_module; }
if cgid_daemon_missing; then echo missing; else echo running; fi
"""
        found = subprocess.run(["bash", "-c", probe, "probe", str(os.getpid())], capture_output=True, text=True,
                               timeout=30)
        gone = subprocess.run(["bash", "-c", probe, "probe", "999999999"], capture_output=True, text=True, timeout=30)
    finally:
        listening.close()
    assert (found.stdout.strip(), gone.stdout.strip()) == ("running", "missing"), found.stderr + gone.stderr


def position(text: str, needle: str) -> int:
    assert needle in text, needle
    return text.index(needle)
