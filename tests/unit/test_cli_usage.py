"""The command-line contract for usage errors: exit 2, one line naming the problem and what exists.

Each case runs the real command (``wsgideploy``, or ``fab`` through the two-line fabfile that
``wsgideploy init`` writes) in a directory of its own. Every case fails before any connection:
the inventory's only host points at a closed port.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from wsgideploy.program import usage_message

INVENTORY = """\
[app]
name = "hello"
wsgi = "app:app"
root = "/srv/hello"

[hosts.web1]
hostname = "127.0.0.1"
port = 9
"""
FABFILE = 'from wsgideploy.fab import ns  # noqa: F401\n'

WSGIDEPLOY = [sys.executable, "-m", "wsgideploy"]
FAB = [sys.executable, "-c", "import sys; from fabric.main import program; program.run(sys.argv)"]

# (command, arguments, exit code, text that the one error line holds)
CASES = [
    ("wsgideploy", "prodution deploy", 2, "unknown task or stage 'prodution' (did you mean 'production'?)"),
    ("wsgideploy", "deploy --bogus", 2, "unknown option --bogus; options here: --allow-dirty, --batch-size"),
    ("wsgideploy", "deploy --paralel 2", 2, "unknown option --paralel (did you mean '--parallel'?)"),
    ("wsgideploy", "deploy --parallel abc", 2, "--parallel takes a whole number, not 'abc'"),
    ("wsgideploy", "deploy --parallel=abc", 2, "--parallel takes a whole number, not 'abc'"),
    ("wsgideploy", "deploy --parallel", 2, "--parallel needs a value"),
    ("wsgideploy", "rollback --to", 2, "--to needs a value"),
    ("wsgideploy", "-H web1 -- uptime", 2, "runs tasks, not raw commands after '--'"),
    ("wsgideploy", "-i key -H web1 deploy", 2, "-i does not apply to wsgideploy: set identity"),
    ("wsgideploy", "--connect-timeout 5 -H web1 deploy", 2, "does not apply to wsgideploy: set [ssh] connect_timeout"),
    ("wsgideploy", "-e -H web1 status", 2, "--echo does not apply to wsgideploy"),
    ("wsgideploy", "-H nosuch deploy", 2, "unknown host 'nosuch'; known hosts: web1"),
    ("wsgideploy", "--help nosuch", 2, "unknown task or stage 'nosuch'"),
    ("wsgideploy", "-H web1 deploy --batch-size 0", 2, "--batch-size must be a count"),
    ("fab", "prodution deploy", 2, "unknown task or stage 'prodution' (did you mean 'production'?)"),
    ("fab", "deploy --parallel abc", 2, "--parallel takes a whole number, not 'abc'"),
    ("fab", "-i key -H web1 deploy", 2, "--identity does not apply to wsgideploy: set identity"),
    ("fab", "-t 5 -H web1 deploy", 2, "--connect-timeout does not apply to wsgideploy"),
    ("fab", "-H nosuch deploy", 2, "unknown host 'nosuch'; known hosts: web1"),
    ("wsgideploy", "-H web1 uninstall", 2, "uninstall removes hello from web1"),
    ("fab", "-H web1 uninstall --purge", 2, "It asks before it does, and cannot ask here"),
]


@pytest.fixture
def app_repo(tmp_path: Path) -> Path:
    """An app directory with ``deploy/production.toml`` and the two-line fabfile."""
    (tmp_path / ".git").mkdir()  # the search for inventories stops here
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "production.toml").write_text(INVENTORY)
    (tmp_path / "fabfile.py").write_text(FABFILE)
    return tmp_path


def run(command: str, args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSGIDEPLOY_", "FABRIC_"))}
    argv = (WSGIDEPLOY if command == "wsgideploy" else FAB) + args.split()
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("command", "args", "code", "expected"), CASES,
                         ids=[f"{c} {a}" for c, a, _, _ in CASES])
def test_usage_error_exits_with_its_code_and_one_clear_line(app_repo: Path, command: str, args: str,
                                                            code: int, expected: str) -> None:
    result = run(command, args, app_repo)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wsgideploy: "), result.stderr
    assert expected in lines[0]


def test_no_inventory_is_a_usage_error_that_names_init(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    result = run("wsgideploy", "-H web1 deploy", tmp_path)
    assert result.returncode == 2
    assert "no inventory found" in result.stderr and "wsgideploy init" in result.stderr


def test_an_invalid_inventory_is_a_usage_error_that_names_file_and_key(app_repo: Path) -> None:
    path = app_repo / "deploy" / "production.toml"
    path.write_text(INVENTORY.replace("port = 9", "prot = 9"))
    result = run("wsgideploy", "-H web1 deploy", app_repo)
    assert result.returncode == 2
    assert f"{path}: hosts.web1.prot: unknown key (did you mean 'port'?)" in result.stderr


def test_a_missing_identity_file_is_named_by_the_command_and_by_inventory_check(app_repo: Path) -> None:
    path = app_repo / "deploy" / "production.toml"
    path.write_text(INVENTORY + 'identity = "~/.ssh/no_such_key"\n')
    for args in ("-H web1 deploy", "inventory.check"):
        result = run("wsgideploy", args, app_repo)
        assert result.returncode == 2, result.stderr
        assert "hosts.web1.identity: is not a file: " in result.stderr and "/.ssh/no_such_key" in result.stderr


def test_inventories_are_found_from_a_subdirectory_of_the_app(app_repo: Path) -> None:
    (app_repo / "src").mkdir()
    result = run("wsgideploy", "inventory.check", app_repo / "src")
    assert result.returncode == 0, result.stderr
    assert "production.toml: ok: app hello" in result.stdout


def test_version_and_list_work_without_a_fabfile_or_an_inventory(tmp_path: Path) -> None:
    version = run("wsgideploy", "--version", tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("wsgideploy ")
    listing = run("wsgideploy", "--list", tmp_path)
    assert listing.returncode == 0
    assert "deploy" in listing.stdout and "rollback" in listing.stdout


def test_fab_lists_the_same_tasks_as_wsgideploy(app_repo: Path) -> None:
    tasks = [run(cmd, "--list", app_repo).stdout.split("\n", 1)[1] for cmd in ("wsgideploy", "fab")]
    assert tasks[0] == tasks[1]
    assert "production" in tasks[0]


@pytest.mark.parametrize("command", ["wsgideploy", "fab"])
def test_a_listing_piped_into_a_reader_that_stops_early_ends_quietly(app_repo: Path, command: str) -> None:
    argv = (WSGIDEPLOY if command == "wsgideploy" else FAB) + ["--list"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSGIDEPLOY_", "FABRIC_"))}
    lister = subprocess.Popen(argv, cwd=app_repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert lister.stdout is not None and lister.stdout.readline()  # read one line, like `| head -1`
    lister.stdout.close()
    _, err = lister.communicate(timeout=60)
    assert lister.returncode == 0 and b"Traceback" not in err, err.decode()


def test_an_unknown_option_names_the_closest_flag() -> None:
    message = usage_message("No idea what '--forse' is!", ["deploy", "--forse"], ["deploy"], [],
                            ["--force", "--force-unlock", "--json"])
    assert message == ("unknown option --forse (did you mean '--force'?); "
                       "options here: --force, --force-unlock, --json")


def test_uninstall_without_yes_never_asks_under_ci_or_without_a_terminal(app_repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSGIDEPLOY_", "FABRIC_"))}
    for ci in ("true", ""):
        result = subprocess.run([*WSGIDEPLOY, "-H", "web1", "uninstall"], cwd=app_repo, env={**env, "CI": ci},
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert result.returncode == 2, result.stderr
        assert ("(CI)" if ci else "(no terminal)") in result.stderr and "pass --yes" in result.stderr


def test_uninstall_at_a_terminal_goes_on_only_when_the_app_name_is_typed(app_repo: Path) -> None:
    """At a terminal (a pty), a wrong answer cancels (exit 2, nothing connected); the app's name goes on,
    to the connection (the inventory's host is a closed port: exit 4)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSGIDEPLOY_", "FABRIC_", "CI"))}
    for answer, code, said in (("yes", 2, "uninstall cancelled; nothing was changed"), ("hello", 4, "connect")):
        main, other = os.openpty()
        try:
            process = subprocess.Popen([*WSGIDEPLOY, "-H", "web1", "uninstall"], cwd=app_repo, env=env,
                                       stdin=other, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            os.write(main, f"{answer}\n".encode())
            out, err = process.communicate(timeout=60)
        finally:
            os.close(main)
            os.close(other)
        assert process.returncode == code, out + err
        assert "Type 'hello' to go on" in out + err and said in out + err


@pytest.mark.parametrize("command", ["wsgideploy", "fab"])
def test_a_port_that_closes_without_an_ssh_banner_is_one_clear_error_not_paramikos_traceback(
        app_repo: Path, command: str) -> None:
    """paramiko logs a failed banner read with its traceback (to stderr, through logging's last resort);
    the person sees wsgideploy's own line about that host only."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def close_each() -> None:
            for _ in range(4):
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                conn.close()
        threading.Thread(target=close_each, daemon=True).start()
        inventory = app_repo / "deploy" / "production.toml"
        inventory.write_text(INVENTORY.replace("port = 9", f"port = {port}"))
        done = run(command, "-H web1 status", app_repo)
    assert done.returncode == 4, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr and "Exception (client)" not in done.stderr, done.stderr
    assert "Error reading SSH protocol banner" in done.stdout + done.stderr, (done.stdout, done.stderr)
