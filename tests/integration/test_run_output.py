"""What a person sees of a real deploy: the closing line, ``WSGIDEPLOY_VERBOSE=1``, the local run log.

The test deploys to a booted Debian 12 server (tests/servers: systemd, Debian's stock nginx with its
default site, real OpenSSH).
"""
from __future__ import annotations

import re
from pathlib import Path

from tests.servers.fixtures import nginx_target, server_lab  # noqa: F401  (fixtures)

from .booted_deploy import inventory
from .fabcli import EXAMPLE, fab
from .helpers import copy_app

CLOSING_OK = re.compile(r"^deploy ok: 1 host in \d+\.\ds$")


def run_logs(project: Path, task: str) -> list[Path]:
    return sorted((project / ".wsgideploy" / "logs").glob(f"*-{task}.log"))


def test_a_deploy_ends_with_its_closing_line_streams_with_verbose_and_keeps_its_log(
        nginx_target, write_inventory, tmp_path):  # noqa: F811
    host = nginx_target.with_app("runout")
    alias = host.alias
    source = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    hooks = {"before_switch": [{"run": "echo hook-says-hello"}]}
    inventories = inventory(write_inventory, host, source, listen=8080, extra={"hooks": hooks})
    project = inventories.parent

    done = fab(inventories, "-H", alias, "deploy")
    lines = done.stdout.splitlines()
    assert CLOSING_OK.match(lines[-1]), done.stdout
    assert "wsgideploy-step" not in done.stdout and "\x1b[" not in done.stdout, "no markers, no colour in a pipe"
    [log] = run_logs(project, "deploy")
    assert (project / ".wsgideploy" / ".gitignore").read_text() == "*\n"
    assert log.read_text().splitlines() == lines, "the log holds what was printed (the scripts printed nothing else)"

    # With -v the remote output is shown under the host; a failed run names its log, which holds it too.
    (inventories / "test.toml").write_text((inventories / "test.toml").read_text().replace(
        "echo hook-says-hello", "echo the-hook-broke; exit 3"))
    failed = fab(inventories, "-H", alias, "deploy", "--force", expect=1, env={"WSGIDEPLOY_VERBOSE": "1"})
    assert f"[{alias}]   | the-hook-broke" in failed.stdout.splitlines(), failed.stdout
    last = failed.stdout.splitlines()[-1]
    match = re.fullmatch(rf"deploy FAILED on {alias} \(1 of 1 host\) in \d+\.\ds: see (?P<log>\S+)", last)
    assert match, failed.stdout
    assert Path(match["log"]) == run_logs(project, "deploy")[-1]
    assert Path(match["log"]).read_text().splitlines() == failed.stdout.splitlines()

    # Without -v the remote output is not shown, and the log still has it.
    failed = fab(inventories, "-H", alias, "deploy", "--force", expect=1)
    assert f"[{alias}]   | the-hook-broke" not in failed.stdout.splitlines(), failed.stdout
    assert f"[{alias}]   | the-hook-broke" in run_logs(project, "deploy")[-1].read_text().splitlines()

    # Every host task ends with its closing line.
    status = fab(inventories, "-H", alias, "status")
    assert re.fullmatch(r"status ok: 1 host in \d+\.\ds", status.stdout.splitlines()[-1]), status.stdout
    assert run_logs(project, "status")
