"""The contract every app server keeps (``wsgideploy.modes.APP_SERVERS``), for every script builder.

Over hostile layouts (a root with a single quote; with ``;&|``; spaces are refused by validation):

- the composed script passes ``bash -n`` and ``shellcheck -s bash`` (shellcheck: one hostile layout
  that holds every hostile character, run in two batches at once; without shellcheck this fails
  under ``CI=true`` and skips elsewhere);
- the root reaches bash only inside quoted assignments (``name='value'``), never spelled into a
  command, except in the lines a front server's own builder writes (apache.py, quoted there);
- start, stop and status, run against an empty layout, end as they should and print their facts.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from wsgideploy.commands import apache
from wsgideploy.inventory import App, Apache, Lighttpd, Nginx
from wsgideploy.layout import Layout
from wsgideploy.modes import APP_SERVERS, AppServer, ServerContext, app_server
from wsgideploy.protocol import parse_facts

from tests.unit.contract_scripts import (ALL_HOSTILE, METACHARACTERS, QUOTE, RID, ROOTS, shellcheck_findings,
                                         value_blind)


BUILDERS: dict[str, Callable[[AppServer, ServerContext], str]] = {
    "check": lambda server, ctx: server.check(ctx, RID),
    "start": lambda server, ctx: server.start(ctx),
    "upgrade": lambda server, ctx: server.upgrade(ctx),
    "upgrade only if running": lambda server, ctx: server.upgrade(ctx, start_if_stopped=False),
    "stop": lambda server, ctx: server.stop(ctx),
    "status": lambda server, ctx: server.status(ctx),
}
# Every server behind every front server it goes with (fastcgi behind Apache is mod_fcgid's).
PAIRS = [(name, proxy) for name, server in APP_SERVERS.items() for proxy in server.fronts]
# shellcheck findings that are not the scripts' fault: functions of a recipe that this script does
# not call (SC2317), and the prelude's deliberate `read ... && echo ... || true` (SC2015).
IGNORED_CHECKS = ("SC2317", "SC2015")


def front_settings(proxy: str, root: str) -> Nginx | Apache | Lighttpd:
    """The front server's settings. Apache's control command is ``false``, so no script ever
    reaches the host's Apache when it runs here (it finds none running)."""
    if proxy == "apache":
        return Apache(sudo=False, binary="false", sites_available=f"{root}/apache/available",
                      sites_enabled=f"{root}/apache/enabled", listen_dir=f"{root}/apache/listen")
    return {"nginx": Nginx(), "lighttpd": Lighttpd()}[proxy]


def context(server: str, proxy: str, root: str) -> ServerContext:
    app = App(name="hello", source=Path("/nonexistent"), wsgi="app:app", root=root, server=server, proxy=proxy,
              server_name="hello.example.com", listen=8080)
    return ServerContext(Layout(root), app=app, proxy=front_settings(proxy, root), timeout=60.5,
                         graceful_timeout=30)


@cache
def composed(server: str, proxy: str, builder: str, root: str) -> str:
    return BUILDERS[builder](app_server(server), context(server, proxy, root))


CASES = [pytest.param(server, proxy, builder, id=f"{server}-{proxy}-{builder}")
         for server, proxy in PAIRS for builder in BUILDERS]


@pytest.mark.parametrize("root", ROOTS)
@pytest.mark.parametrize("server, proxy, builder", CASES)
def test_every_script_passes_bash_syntax_check(bash_syntax, server: str, proxy: str, builder: str,
                                               root: str) -> None:
    text = composed(server, proxy, builder, root)
    assert text.startswith("set -eu\nfail() {")
    assert bash_syntax(text) is None


# --- the root only in quoted assignments -----------------------------------------------------------


def front_server_lines(server: str, proxy: str, root: str) -> set[str]:
    """The lines that Apache's own builders write into the scripts of the servers inside it."""
    if proxy != "apache" or server not in ("mod_wsgi", "cgi"):
        return set()
    settings = front_settings(proxy, root)
    texts = [apache.install_live_site(settings, "hello"),
             apache.reload(settings), apache.disable_site(settings, "hello")]
    return {line for text in texts for line in text.splitlines()}


ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
HOSTILE_PART = {QUOTE: "neil", METACHARACTERS: "b&c"}  # found in the line however the root is written


@pytest.mark.parametrize("root", [QUOTE, METACHARACTERS])
@pytest.mark.parametrize("server, proxy, builder", CASES)
def test_the_root_reaches_bash_only_in_quoted_assignments(server: str, proxy: str, builder: str, root: str) -> None:
    text = composed(server, proxy, builder, root)
    assigned = 0
    front = front_server_lines(server, proxy, root)
    for line in text.splitlines():
        if HOSTILE_PART[root] not in line:
            continue
        if line in front:
            continue
        match = ASSIGNMENT.match(line)
        assert match, f"the root outside an assignment: {line}"
        words = shlex.split(match.group(2))
        assert len(words) == 1 and words[0].startswith(root) and match.group(2) == shlex.quote(words[0]), line
        assigned += 1
    assert assigned > 0


# --- shellcheck --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def findings_by_script() -> dict[str, list[str]]:
    """Every composed script of the all-hostile layout through shellcheck (`shellcheck_findings`)."""
    return shellcheck_findings((composed(*case.values, ALL_HOSTILE) for case in CASES), IGNORED_CHECKS)


@pytest.mark.parametrize("server, proxy, builder", CASES)
def test_every_script_passes_shellcheck(findings_by_script: dict[str, list[str]], server: str, proxy: str,
                                        builder: str) -> None:
    text = composed(server, proxy, builder, ALL_HOSTILE)
    lines = text.splitlines()
    front = front_server_lines(server, proxy, ALL_HOSTILE)
    findings = findings_by_script[value_blind(text)]
    ours = [finding for finding in findings if lines[int(finding.split(":")[0]) - 1] not in front]
    assert ours == [], "\n".join(f"{f}\n    {lines[int(f.split(':')[0]) - 1]}" for f in ours)


# --- run against an empty layout ---------------------------------------------------------------------

# What each builder prints, run with nothing deployed and nothing running: (exit code, facts);
# None where the builder needs a live release (it fails with "no release is live yet").
NOTHING_LIVE = "no release is live yet: run deploy first"
STOPPED = {"action": "not running"}
NO_PID = {"pid": "", "current": ""}
EXPECTED: dict[str, dict[str, tuple[int, dict[str, str] | str]]] = {
    **{server: {"start": (1, NOTHING_LIVE), "stop": (0, STOPPED), "status": (0, NO_PID)}
       for server in ("gunicorn", "uwsgi", "fastcgi", "gevent", "tornado", "twisted")},
    "mod_wsgi": {"start": (1, NOTHING_LIVE), "stop": (0, {"action": "not running (the site was not enabled)"}),
                 "status": (0, NO_PID)},
    "cgi": {"start": (1, NOTHING_LIVE), "stop": (1, NOTHING_LIVE), "status": (0, NO_PID)},
}
MOD_FCGID = {"action": "managed by Apache's mod_fcgid (nothing to do)", "current": ""}


def test_every_server_has_an_expectation() -> None:
    assert set(EXPECTED) == set(APP_SERVERS)


@pytest.mark.parametrize("root_name", ["o'neil", "a;b&c|d"])
@pytest.mark.parametrize("builder", ["start", "stop", "status"])
@pytest.mark.parametrize("server, proxy", PAIRS)
def test_start_stop_and_status_print_their_facts_on_an_empty_layout(tmp_path: Path, server: str, proxy: str,
                                                                    builder: str, root_name: str) -> None:
    root = str(tmp_path / root_name)
    layout = Layout(root)
    for folder in (layout.run, layout.log, layout.releases):
        Path(folder).mkdir(parents=True)
    result = subprocess.run(["bash", "-c", BUILDERS[builder](app_server(server), context(server, proxy, root))],
                            capture_output=True, text=True, timeout=60)
    code, expected = (0, MOD_FCGID) if (server, proxy) == ("fastcgi", "apache") else EXPECTED[server][builder]
    if isinstance(expected, str):
        assert (result.returncode, result.stderr.strip()) == (code, expected), result.stdout
    else:
        assert result.returncode == code, result.stderr
        facts = parse_facts(result.stdout)
        assert {key: facts.get(key) for key in expected} == expected, facts
    assert sorted(os.listdir(layout.run)) == [], "nothing left in shared/run"
