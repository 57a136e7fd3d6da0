"""Apache's host bash (tasks/recipes/apache.sh) run for real against a fake Apache: what `apache.publish_site`,
`apache.reload` and `apache.disable_site` do on the host, per ``control``, and the facts they print.

The fake (``apache2`` in tmp_path) answers the queries the recipe makes (``-t -D DUMP_RUN_CFG``,
``DUMP_INCLUDES``, ``-M``, ``-t``) from files in tmp_path and records every call; ``systemctl`` is faked
the same way. A "running" Apache is a live process named in the fake's pidfile. A real apache2 runs in
tests/unit/test_mode_apache.py (``install_site`` in a private prefix) and tests/integration.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from wsgideploy.commands import apache
from wsgideploy.commands.recipe import Script
from wsgideploy.inventory import Apache
from wsgideploy.protocol import parse_facts

from tests.unit.recipe_text import function_body

FAKE_APACHE = r'''#!/bin/bash
echo "apache2 $*" >> "$STATE/calls"
case " $* " in
  *" -t -D DUMP_RUN_CFG "*) echo "PidFile: \"$STATE/apache.pid\""; echo "Main ErrorLog: \"$STATE/error.log\"";;
  *" -t -D DUMP_INCLUDES "*) echo "Included configuration files:"
    for f in "$STATE"/conf/*.conf "$STATE"/se/*.conf; do [ -e "$f" ] && echo "  (1) $f"; done;;
  *" -M "*) echo "Loaded Modules:"; echo " core_module (static)"
    cat "$STATE"/se/*.conf 2>/dev/null | sed -n 's/^LoadModule \([a-z_]*\) .*/ \1 (shared)/p';;
  *" -t "*) if [ -e "$STATE/reject" ]; then echo "AH00526: Syntax error: Invalid command 'Nope'" >&2; exit 1; fi
    echo "Syntax OK" >&2;;
  *" -k start "*) echo "$LIVE_PID" > "$STATE/apache.pid";;
  *" -k graceful-stop "*) kill "$(cat "$STATE/apache.pid")";;
  *" -k graceful "*) ;;
  *) echo "fake apache2: $*" >&2; exit 2;;
esac
'''
FAKE_SYSTEMCTL = r'''#!/bin/bash
echo "systemctl $*" >> "$STATE/calls"
if [ "$1" = is-active ]; then [ -e "$STATE/active" ]; fi
'''
SITE = "# wsgideploy-listen: {port}\n<VirtualHost *:{port}>\n{extra}</VirtualHost>\n"


class Host:
    """tmp_path as a host with a fake Apache: run scripts there, read what they did."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("bin", "sa", "se", "conf"):
            (root / sub).mkdir()
        for name, text in (("apache2", FAKE_APACHE), ("systemctl", FAKE_SYSTEMCTL)):
            (root / "bin" / name).write_text(text)
            (root / "bin" / name).chmod(0o755)
        self.rendered = root / "rendered.conf"
        self.children: list[subprocess.Popen[bytes]] = []

    def settings(self, control: str = "signal") -> Apache:
        root = self.root
        return Apache(sudo=False, control=control, conf=str(root / "apache2.conf"),
                      binary=str(root / "bin" / "apache2"), sites_available=str(root / "sa"),
                      sites_enabled=str(root / "se"), listen_dir=str(root / "conf"))

    def running(self) -> None:
        """An Apache parent that runs (a live process named in the pidfile), which -k graceful-stop ends."""
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        self.children.append(child)
        (self.root / "apache.pid").write_text(f"{child.pid}\n")

    def run(self, text: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        calls = self.root / "calls"
        calls.write_text("")
        env = {"PATH": f"{self.root / 'bin'}:{os.environ['PATH']}", "STATE": str(self.root),
               "LIVE_PID": str(os.getpid())}
        result = subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=60, env=env, check=False)
        return result, calls.read_text().splitlines()

    def publish(self, port: int, extra: str = "", control: str = "signal") -> tuple[dict[str, str], list[str]]:
        self.rendered.write_text(SITE.format(port=port, extra=extra))
        result, calls = self.run(apache.publish_site(self.settings(control), "hello", self.rendered.read_text()))
        assert result.returncode == 0, result.stderr
        return parse_facts(result.stdout), calls


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    made = Host(tmp_path)
    yield made
    for child in made.children:
        child.kill()
        child.wait()


def controls(calls: list[str]) -> list[str]:
    """The calls that start, restart or reload Apache."""
    return [call.split(" ", 1)[1] if call.startswith("systemctl") else call.rsplit(" -k ", 1)[1]
            for call in calls if " -k " in call or (call.startswith("systemctl ") and "is-active" not in call)]


def test_signal_control_starts_leaves_an_unchanged_site_alone_reloads_and_restarts_for_a_new_module(host: Host) -> None:
    facts, calls = host.publish(18080)
    assert facts == {"apache": "started"} and controls(calls) == ["start"]
    assert (host.root / "se" / "hello.conf").resolve() == host.root / "sa" / "hello.conf"
    assert "Listen 18080\n" in (host.root / "conf" / "wsgideploy-hello.conf").read_text()
    host.running()
    facts, calls = host.publish(18080)
    assert facts == {"apache": "unchanged, not restarted"} and controls(calls) == []
    facts, calls = host.publish(18081)
    assert facts == {"apache": "reloaded"} and controls(calls) == ["graceful"]
    facts, calls = host.publish(18081, "LoadModule wsgi_module /x/mod_wsgi.so\n")
    assert facts == {"apache": "restarted, not reloaded: the site loads wsgi_module anew (a graceful restart "
                               "does not start a new module's own processes)"}
    assert controls(calls) == ["graceful-stop", "start"]


def test_systemd_control_starts_reloads_and_restarts_for_a_new_module(host: Host) -> None:
    facts, calls = host.publish(18080, control="systemd")
    assert facts == {"apache": "started"} and controls(calls) == ["start apache2"]
    (host.root / "active").write_text("")
    host.running()
    assert host.publish(18080, control="systemd")[0] == {"apache": "unchanged, not restarted"}
    facts, calls = host.publish(18081, control="systemd")
    assert facts == {"apache": "reloaded"} and controls(calls) == ["reload apache2"]
    # mod_cgid's daemon listens on <ScriptSock>.<pid of the Apache parent>: checked after the restart
    with socket.socket(socket.AF_UNIX) as cgid_daemon:
        cgid_daemon.bind(str(host.root / f"cgisock.{host.children[-1].pid}"))
        cgid_daemon.listen()
        facts, calls = host.publish(18081, "LoadModule cgid_module /x/mod_cgid.so\n", control="systemd")
    assert facts == {"apache": "restarted, not reloaded: the site loads cgid_module anew (a graceful restart "
                               "does not start a new module's own processes)"}
    assert controls(calls) == ["restart apache2"]


def test_a_rejected_config_keeps_the_previous_site_and_apache_untouched(host: Host) -> None:
    host.publish(18080)
    before = {p.name: p.read_text() for p in (*(host.root / "sa").iterdir(), *(host.root / "conf").iterdir())}
    (host.root / "reject").write_text("")
    host.rendered.write_text(SITE.format(port=18090, extra="Nope\n"))
    result, calls = host.run(apache.publish_site(host.settings(), "hello", host.rendered.read_text()))
    assert result.returncode == 1 and "Invalid command 'Nope'" in result.stderr
    assert result.stderr.splitlines()[-1] == ("apachectl configtest rejected the new site; the previous config "
                                              "was put back and Apache was not reloaded")
    assert controls(calls) == [] and "wsgideploy-fact" not in result.stdout
    assert {p.name: p.read_text() for p in (*(host.root / "sa").iterdir(), *(host.root / "conf").iterdir())} == before


def disable(host: Host) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`apache.disable_site` as an app server's script runs it (mod_wsgi's stop): after `apache.functions`."""
    settings = host.settings()
    run = apache.disable_site(settings, "hello") + 'echo "disabled=$wsgideploy_apache_disabled"'
    return host.run(Script(run, {}, ("process",), apache.functions(settings)).text())


def test_disable_site_takes_the_link_and_listen_away_or_puts_both_back(host: Host) -> None:
    host.publish(18080)
    link, listen = host.root / "se" / "hello.conf", host.root / "conf" / "wsgideploy-hello.conf"
    (host.root / "reject").write_text("")
    result, _ = disable(host)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1] == "apachectl configtest failed without the site hello; it was left enabled"
    assert link.is_symlink() and "Listen 18080" in listen.read_text()
    (host.root / "reject").unlink()
    result, _ = disable(host)
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "disabled=1", result.stderr
    assert not link.is_symlink() and not listen.exists() and (host.root / "sa" / "hello.conf").exists()
    result, _ = disable(host)
    assert result.stdout.splitlines()[-1] == "disabled=0"


def test_the_builders_write_values_and_per_settings_functions_and_the_recipe_the_rest() -> None:
    text = apache.publish_site(Apache(), "o'neil", "# the site\n")
    assert text.endswith("\napache_install_site\napache_reload\n")
    assert "\nAPACHE_SITE_NAME='o'\"'\"'neil'\n" in text and "\nAPACHE_A2ENSITE=1\n" in text
    assert '\nas_root() { sudo -n "$@"; }\n' in text and '\napache_ctl() { sudo -n apache2ctl "$@"; }\n' in text
    assert apache.disable_site(Apache(), "hello").endswith("\nAPACHE_A2ENSITE=1\napache_disable_site\n")
    assert 'fact apache "$action"' in function_body("apache", "apache_graceful")
