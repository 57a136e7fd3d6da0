"""The safety scripts (lock, prune, hooks, .env upload, deploy log, release list,
session stop) run for real with a local bash against a fake layout under tmp_path.

Nothing here needs SSH or root: each script is run the way `wsgideploy.transport` runs
it on a host (``bash -c <script>``), and the test looks at the files it left.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wsgideploy.commands import history, hooks, lock, prune, release, secrets
from wsgideploy.protocol import parse_facts
from wsgideploy.commands.shell import script, stop_session
from wsgideploy.protocol import SESSION_MARK
from wsgideploy.layout import Layout

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
R = [f"20261121T1000{n:02d}Z" for n in range(1, 7)]  # R[0] .. R[5] are r1 .. r6, sortable by name


def run_bash(text: str, cwd: Path, stdin: bytes | None = None, prefix: str = "",
             timeout: float = 20) -> subprocess.CompletedProcess:
    """Run ``text`` as `wsgideploy.transport` does on a host: ``bash -c <script>``, with a small env."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LC_ALL": "C"}
    result = subprocess.run(["bash", "-c", prefix + text], cwd=cwd, input=stdin if stdin is not None else b"",
                            capture_output=True, timeout=timeout, env=env)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(errors="replace"),
                                       result.stderr.decode(errors="replace"))


def facts_all(stdout: str, key: str) -> list[str]:
    """Every value of ``wsgideploy-fact:<key>=`` in order (parse_facts keeps only the last)."""
    prefix = f"wsgideploy-fact:{key}="
    return [line[len(prefix):] for line in stdout.splitlines() if line.startswith(prefix)]


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """A layout under a resolved tmp dir (``/proc/*/cwd`` shows resolved paths)."""
    root = tmp_path.resolve() / "srv" / "hello"
    for sub in ("releases", "venvs", "shared", ".deploy"):
        (root / sub).mkdir(parents=True)
    return Layout(str(root))


# --- lock -----------------------------------------------------------------------

OWNER = json.dumps({"user": "alice", "from": "laptop", "since": "2026-11-21T10:00:00Z",
                    "action": "deploy", "release": R[0], "token": "aaaa1111bbbb2222", "pid": 42},
                   sort_keys=True)
OTHER = json.dumps({"user": "bob", "from": "ci", "since": "2026-11-21T11:00:00Z",
                    "action": "rollback", "release": "", "token": "cccc3333dddd4444", "pid": 7},
                   sort_keys=True)


def owner_file(layout: Layout) -> Path:
    return Path(lock.lock_dir(layout)) / "owner.json"


def test_lock_dir_is_under_the_deploy_dir(layout: Layout) -> None:
    assert lock.lock_dir(layout) == f"{layout.root}/.deploy/lock"


def test_first_acquire_creates_the_lock_with_the_owner_json(layout: Layout, tmp_path: Path) -> None:
    result = run_bash(script(lock.acquire(layout, OWNER)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert owner_file(layout).read_text() == OWNER + "\n"
    assert json.loads(owner_file(layout).read_text())["token"] == "aaaa1111bbbb2222"


def test_second_acquire_exits_75_naming_the_holder_and_leaves_the_lock(layout: Layout, tmp_path: Path) -> None:
    assert run_bash(script(lock.acquire(layout, OWNER)), tmp_path).returncode == 0
    result = run_bash(script(lock.acquire(layout, OTHER), "echo after-the-lock"), tmp_path)
    assert result.returncode == lock.LOCKED_EXIT == 75
    assert f"the deploy lock is held: {OWNER}" in result.stderr
    assert "after-the-lock" not in result.stdout
    assert owner_file(layout).read_text() == OWNER + "\n"
    assert parse_facts(result.stdout)["holder"] == OWNER  # the holder as data, for the message


def test_a_held_lock_without_an_owner_file_says_so(layout: Layout, tmp_path: Path) -> None:
    Path(lock.lock_dir(layout)).mkdir()
    result = run_bash(script(lock.acquire(layout, OWNER)), tmp_path)
    assert result.returncode == 75
    assert "the deploy lock is held: (no owner recorded)" in result.stderr


def test_owner_json_with_quotes_and_dollars_is_stored_literally(layout: Layout, tmp_path: Path) -> None:
    owner = json.dumps({"user": "o'brien", "from": "$(touch pwned) `id` $HOME", "token": "t1"})
    result = run_bash(script(lock.acquire(layout, owner)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert owner_file(layout).read_text() == owner + "\n"
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("token, released", [
    pytest.param("aaaa1111bbbb2222", True, id="own token removes the lock"),
    pytest.param("ffff0000ffff0000", False, id="another token leaves the lock"),
])
def test_release_removes_the_lock_only_with_the_owners_token(layout: Layout, tmp_path: Path, token: str,
                                                             released: bool) -> None:
    assert run_bash(script(lock.acquire(layout, OWNER)), tmp_path).returncode == 0
    result = run_bash(script(lock.release(layout, token)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(lock.lock_dir(layout)).exists() is not released
    assert parse_facts(result.stdout).get("unlocked") == ("yes" if released else None)
    if not released:
        assert owner_file(layout).read_text() == OWNER + "\n"


def test_release_without_any_lock_succeeds_quietly(layout: Layout, tmp_path: Path) -> None:
    result = run_bash(script(lock.release(layout, "aaaa1111bbbb2222")), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "unlocked" not in result.stdout
    assert not Path(lock.lock_dir(layout)).exists()


def test_forced_acquire_replaces_a_held_lock_and_reports_the_old_holder(layout: Layout, tmp_path: Path) -> None:
    assert run_bash(script(lock.acquire(layout, OWNER)), tmp_path).returncode == 0
    result = run_bash(script(lock.acquire(layout, OTHER, force=True)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert facts_all(result.stdout, "forced_lock") == [OWNER]
    assert owner_file(layout).read_text() == OTHER + "\n"


def test_forced_acquire_of_a_free_lock_reports_nothing_forced(layout: Layout, tmp_path: Path) -> None:
    result = run_bash(script(lock.acquire(layout, OTHER, force=True)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "forced_lock" not in result.stdout
    assert owner_file(layout).read_text() == OTHER + "\n"


def test_forced_acquire_of_a_lock_without_owner_reports_unknown(layout: Layout, tmp_path: Path) -> None:
    Path(lock.lock_dir(layout)).mkdir()
    result = run_bash(script(lock.acquire(layout, OTHER, force=True)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert facts_all(result.stdout, "forced_lock") == ["unknown"]
    assert owner_file(layout).read_text() == OTHER + "\n"


def test_force_release_reports_the_holder_and_removes_the_lock(layout: Layout, tmp_path: Path) -> None:
    assert run_bash(script(lock.acquire(layout, OWNER)), tmp_path).returncode == 0
    result = run_bash(script(lock.force_release(layout)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert facts_all(result.stdout, "holder") == [OWNER]
    assert not Path(lock.lock_dir(layout)).exists()


def test_force_release_of_a_free_lock_reports_an_empty_holder(layout: Layout, tmp_path: Path) -> None:
    result = run_bash(script(lock.force_release(layout)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert facts_all(result.stdout, "holder") == [""]


def test_acquire_that_cannot_write_the_owner_removes_the_lock_and_fails(layout: Layout, tmp_path: Path) -> None:
    # A real write failure: RLIMIT_FSIZE=0 makes every write to a regular file fail (EFBIG,
    # with SIGXFSZ ignored), as a full disk would; mkdir still works. Root cannot chmod its way
    # to a failure, so this is the honest way to reach that branch without a tiny filesystem.
    result = run_bash(script(lock.acquire(layout, OWNER), "echo after-the-lock"), tmp_path,
                      prefix="ulimit -f 0; trap '' XFSZ\n")
    assert result.returncode == 1
    assert f"could not record the deploy lock in {lock.lock_dir(layout)}" in result.stderr
    assert "after-the-lock" not in result.stdout
    assert not Path(lock.lock_dir(layout)).exists()


# --- prune ----------------------------------------------------------------------

VENV_KEYS = ["k1", "k1", "k2", "k3", "k3", "k4"]  # the venv each of r1..r6 links to


def fake_releases(layout: Layout, live: str, bad: tuple[str, ...] = (), keys: list[str] = VENV_KEYS,
                  extra_venvs: tuple[str, ...] = ()) -> None:
    """r1..r6, each with ``venv -> ../../venvs/<key>``, ``current -> releases/<live>``."""
    for rid, key in zip(R, keys):
        path = Path(layout.release(rid))
        path.mkdir()
        (path / "app.py").write_text("app = None\n")
        (Path(layout.venvs) / key / "bin").mkdir(parents=True, exist_ok=True)
        (path / "venv").symlink_to(f"../../venvs/{key}")
        if rid in bad:
            (path / history.BAD_MARK).touch()
    for key in extra_venvs:
        (Path(layout.venvs) / key).mkdir()
    (Path(layout.current)).symlink_to(f"releases/{live}")


def remaining(layout: Layout) -> tuple[list[str], list[str]]:
    return sorted(os.listdir(layout.releases)), sorted(os.listdir(layout.venvs))


def test_prune_keeps_newest_live_and_previous_good_and_removes_unused_venvs(layout: Layout,
                                                                            tmp_path: Path) -> None:
    fake_releases(layout, live=R[5], bad=(R[4],), extra_venvs=("orphan",))
    result = run_bash(prune.prune(layout, keep=2), tmp_path)
    assert result.returncode == 0, result.stderr
    releases, venvs = remaining(layout)
    # r6 live and newest, r5 newest (bad but within keep), r4 the good release a rollback would use
    assert releases == [R[3], R[4], R[5]]
    assert venvs == ["k3", "k4"]
    assert parse_facts(result.stdout)["removed"].split() == [R[0], R[1], R[2], "venv:k1", "venv:k2",
                                                             "venv:orphan"]
    assert os.readlink(layout.current) == f"releases/{R[5]}"


def test_prune_keeps_a_release_some_process_runs_in(layout: Layout, tmp_path: Path) -> None:
    fake_releases(layout, live=R[5], bad=(R[4],))
    sleeper = subprocess.Popen(["sleep", "5"], cwd=layout.release(R[1]))
    try:
        result = run_bash(prune.prune(layout, keep=2), tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.returncode == 0, result.stderr
    releases, venvs = remaining(layout)
    assert releases == [R[1], R[3], R[4], R[5]]
    assert venvs == ["k1", "k3", "k4"]  # r2 still links k1
    assert parse_facts(result.stdout)["removed"].split() == [R[0], R[2], "venv:k2"]


def test_prune_after_a_rollback_keeps_the_old_live_release_and_the_one_before_it(layout: Layout,
                                                                                 tmp_path: Path) -> None:
    fake_releases(layout, live=R[2])
    result = run_bash(prune.prune(layout, keep=2), tmp_path)
    assert result.returncode == 0, result.stderr
    releases, _ = remaining(layout)
    assert releases == [R[1], R[2], R[4], R[5]]
    assert parse_facts(result.stdout)["removed"].split() == [R[0], R[3]]


def test_prune_with_fewer_releases_than_keep_removes_nothing(layout: Layout, tmp_path: Path) -> None:
    fake_releases(layout, live=R[5])
    result = run_bash(prune.prune(layout, keep=10), tmp_path)
    assert result.returncode == 0, result.stderr
    assert remaining(layout) == (R, ["k1", "k2", "k3", "k4"])
    assert facts_all(result.stdout, "removed") == [""]


def test_prune_leaves_hidden_partial_uploads_alone(layout: Layout, tmp_path: Path) -> None:
    fake_releases(layout, live=R[5])
    partial = Path(layout.releases) / f".{R[5]}9.partial"
    partial.mkdir()
    result = run_bash(prune.prune(layout, keep=2), tmp_path)
    assert result.returncode == 0, result.stderr
    assert partial.is_dir()
    assert f".{R[5]}9.partial" not in result.stdout


def test_prune_removes_an_unpacked_pip_that_no_remaining_venv_names(layout: Layout, tmp_path: Path) -> None:
    """A venv built with pip (`commands.venv`) names its unpacked pip in ``wsgideploy-pip.pth``; once the venvs
    naming an older one are gone (the system's pip wheel was updated meanwhile), that copy goes too."""
    fake_releases(layout, live=R[5])
    pips = Path(layout.bundled_pip)
    for name in ("pip-23.0.1-py3-none-any", "pip-23.0.2-py3-none-any", "pip-23.0.2-py3-none-any.partial.77"):
        (pips / name / "pip").mkdir(parents=True)
    def names(key: str, pip: str) -> None:
        site = Path(layout.venvs) / key / "lib" / "python3.11" / "site-packages"
        site.mkdir(parents=True)
        (site / "wsgideploy-pip.pth").write_text(f"{pips / pip}\n")
    names("k1", "pip-23.0.1-py3-none-any")  # k1 goes (no kept release links it), and its pip with it
    names("k4", "pip-23.0.2-py3-none-any")
    result = run_bash(prune.prune(layout, keep=2), tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(pips)) == ["pip-23.0.2-py3-none-any"]
    removed = parse_facts(result.stdout)["removed"].split()
    assert "pip:pip-23.0.1-py3-none-any" in removed and "pip:pip-23.0.2-py3-none-any.partial.77" in removed


def test_prune_keeps_an_unpacked_pip_a_kept_venv_names(layout: Layout, tmp_path: Path) -> None:
    fake_releases(layout, live=R[5])
    pip = Path(layout.bundled_pip) / "pip-23.0.1-py3-none-any"
    (pip / "pip").mkdir(parents=True)
    site = Path(layout.venvs) / "k3" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "wsgideploy-pip.pth").write_text(f"{pip}\n")
    result = run_bash(prune.prune(layout, keep=2), tmp_path)
    assert result.returncode == 0, result.stderr
    assert pip.is_dir() and "pip:" not in result.stdout


def test_prune_removes_every_unpacked_pip_when_no_venv_names_one_and_reads_no_input(layout: Layout,
                                                                                  tmp_path: Path) -> None:
    """A deploy runs prune as a soft step: a ``bash -s`` reading its script from standard input. With no
    venv's pip file to search, nothing may read that input (a grep with no file would swallow the script)."""
    fake_releases(layout, live=R[5])
    pip = Path(layout.bundled_pip) / "pip-23.0.1-py3-none-any"
    (pip / "pip").mkdir(parents=True)
    result = run_bash("bash -s", tmp_path, stdin=(prune.prune(layout, keep=2) + "echo after-prune\n").encode())
    assert result.returncode == 0, result.stderr
    assert not pip.exists()
    assert "pip:pip-23.0.1-py3-none-any" in parse_facts(result.stdout)["removed"].split()
    assert result.stdout.rstrip().endswith("after-prune")


def test_prune_of_an_app_root_with_no_release_removes_nothing(layout: Layout, tmp_path: Path) -> None:
    result = run_bash(prune.prune(layout, keep=2), tmp_path)
    assert result.returncode == 0, result.stderr
    assert facts_all(result.stdout, "removed") == [""]


# --- hooks ----------------------------------------------------------------------

@pytest.fixture
def hook_release(layout: Layout) -> Path:
    """``releases/r1`` with ``venv/bin/python`` (this interpreter) and the env loader,
    and a ``shared/.env``."""
    release_dir = Path(layout.release(R[0]))
    (release_dir / "venv" / "bin").mkdir(parents=True)
    (release_dir / "venv" / "bin" / "python").symlink_to(sys.executable)
    (release_dir / layout.config_dir_name).mkdir()
    shutil.copy(TEMPLATES / "wsgideploy_env.py", release_dir / layout.config_dir_name / "wsgideploy_env.py")
    (Path(layout.shared) / ".env").write_text("HOOK_SECRET='from the env file'\nexport OTHER=2\n")
    return release_dir


def test_run_hooks_passes_the_bash_syntax_check(bash_syntax, layout: Layout) -> None:
    text = hooks.run_hooks(layout, R[0], ["flask db upgrade", "echo 'it''s' \"$HOME\" && exit 3"], 60)
    assert bash_syntax(text) is None


def test_hooks_run_in_order_in_the_release_with_its_venv_and_env(layout: Layout, hook_release: Path,
                                                                 tmp_path: Path) -> None:
    commands = [
        "echo one >> order.txt; pwd -P > pwd.txt; printf '%s' \"$PATH\" > path.txt",
        "echo two >> order.txt; printf '%s|%s' \"$PYTHONPATH\" \"$VIRTUAL_ENV\" > pythonpath.txt",
        "echo three >> order.txt; printf '%s|%s' \"$HOOK_SECRET\" \"$OTHER\" > env.txt; command -v python > which.txt",
        "cat > stdin.txt",
    ]
    result = run_bash(hooks.run_hooks(layout, R[0], commands, 30), tmp_path, stdin=b"must not reach a hook\n")
    assert result.returncode == 0, result.stderr
    assert facts_all(result.stdout, "hook") == ["1", "2", "3", "4"]
    assert (hook_release / "order.txt").read_text() == "one\ntwo\nthree\n"
    assert (hook_release / "pwd.txt").read_text().strip() == str(hook_release)
    assert (hook_release / "path.txt").read_text().startswith(f"{hook_release}/venv/bin:")
    assert (hook_release / "pythonpath.txt").read_text() == \
        f"{hook_release}:{hook_release}/.wsgideploy/site|{hook_release}/venv", "the release, and its own package"
    assert (hook_release / "env.txt").read_text() == "from the env file|2"
    assert (hook_release / "which.txt").read_text().strip() == f"{hook_release}/venv/bin/python"
    assert (hook_release / "stdin.txt").read_text() == ""


def test_the_first_failing_hook_stops_the_rest_and_shows_its_output(layout: Layout, hook_release: Path,
                                                                   tmp_path: Path) -> None:
    failing = "echo two >> order.txt; echo migration-output-line; echo to-stderr >&2; exit 3"
    commands = ["echo one >> order.txt", failing, "echo three >> order.txt"]
    result = run_bash(hooks.run_hooks(layout, R[0], commands, 30), tmp_path)
    assert result.returncode == 1
    assert (hook_release / "order.txt").read_text() == "one\ntwo\n"
    assert facts_all(result.stdout, "hook") == ["1", "2"]
    assert "migration-output-line" in result.stderr
    assert "to-stderr" in result.stderr
    assert result.stderr.rstrip().endswith(f"hook failed: {failing}")


def test_successful_hooks_print_no_output_of_their_own(layout: Layout, hook_release: Path,
                                                       tmp_path: Path) -> None:
    result = run_bash(hooks.run_hooks(layout, R[0], ["echo quiet-hook-output"], 30), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "quiet-hook-output" not in result.stdout + result.stderr


def test_hooks_run_without_a_shared_env_file(layout: Layout, hook_release: Path, tmp_path: Path) -> None:
    (Path(layout.shared) / ".env").unlink()
    result = run_bash(hooks.run_hooks(layout, R[0], ["printf '%s' \"${HOOK_SECRET-unset}\" > env.txt"], 30),
                      tmp_path)
    assert result.returncode == 0, result.stderr
    assert (hook_release / "env.txt").read_text() == "unset"


def test_a_hook_that_runs_too_long_is_stopped_and_fails(layout: Layout, hook_release: Path,
                                                        tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_bash(hooks.run_hooks(layout, R[0], ["sleep 10", "echo never > never.txt"], 1), tmp_path)
    assert result.returncode == 1
    assert "hook failed: sleep 10" in result.stderr
    assert time.monotonic() - started < 8
    assert not (hook_release / "never.txt").exists()


def test_no_hooks_is_a_script_that_does_nothing(layout: Layout, hook_release: Path, tmp_path: Path) -> None:
    result = run_bash(hooks.run_hooks(layout, R[0], [], 30), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wsgideploy-fact:hook=" not in result.stdout


# --- secrets --------------------------------------------------------------------

ENV_BYTES = b"SECRET_KEY='s3cr3t $HOME `id`'\nexport B=\"x\\ny\"\n\xc3\xa9\r\nno-trailing-newline"


def test_write_env_file_stores_stdin_exactly_with_mode_0600(layout: Layout, tmp_path: Path) -> None:
    shutil.rmtree(layout.shared)  # the script creates shared/ itself
    result = run_bash(secrets.write_env_file(layout), tmp_path, stdin=ENV_BYTES)
    assert result.returncode == 0, result.stderr
    target = Path(layout.shared) / ".env"
    assert target.read_bytes() == ENV_BYTES
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(layout.shared) == [".env"]  # no temp file left behind
    assert "s3cr3t" not in result.stdout + result.stderr


def test_write_env_file_replaces_an_existing_file_even_a_world_readable_one(layout: Layout,
                                                                            tmp_path: Path) -> None:
    target = Path(layout.shared) / ".env"
    target.write_text("OLD=1\n")
    target.chmod(0o644)
    result = run_bash(secrets.write_env_file(layout), tmp_path, stdin=b"NEW=2\n")
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == b"NEW=2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_write_env_file_temp_file_is_private_from_the_moment_it_is_created(layout: Layout,
                                                                          tmp_path: Path) -> None:
    # A `cat` first on PATH records the mode of the file its stdout was opened on (before chmod).
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    spy = fake_bin / "cat"
    spy.write_text(f'#!/bin/bash\nstat -L -c %a /proc/$$/fd/1 > {tmp_path}/mode-at-create\n'
                   f'exec {shutil.which("cat")} "$@"\n')
    spy.chmod(0o755)
    result = run_bash(secrets.write_env_file(layout), tmp_path, stdin=b"SECRET=1\n",
                      prefix=f"umask 022; PATH={fake_bin}:$PATH\n")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mode-at-create").read_text().strip() == "600"
    assert (Path(layout.shared) / ".env").read_bytes() == b"SECRET=1\n"


def test_write_env_file_with_empty_stdin_leaves_an_empty_file(layout: Layout, tmp_path: Path) -> None:
    (Path(layout.shared) / ".env").write_text("OLD=1\n")
    result = run_bash(secrets.write_env_file(layout), tmp_path, stdin=b"")
    assert result.returncode == 0, result.stderr
    assert (Path(layout.shared) / ".env").read_bytes() == b""


# --- history --------------------------------------------------------------------

ENTRY_1 = json.dumps({"action": "deploy", "result": "ok", "message": "it's $HOME `x`"})
ENTRY_2 = json.dumps({"action": "rollback", "result": "failed"})


def test_append_log_appends_one_line_per_call(layout: Layout, tmp_path: Path) -> None:
    for entry in (ENTRY_1, ENTRY_2):
        result = run_bash(script(history.append_log(layout, entry)), tmp_path)
        assert result.returncode == 0, result.stderr
    assert Path(history.log_path(layout)).read_text() == f"{ENTRY_1}\n{ENTRY_2}\n"
    assert history.log_path(layout) == f"{layout.root}/.deploy/log.jsonl"


@pytest.mark.parametrize("lines, expected", [
    pytest.param(1, [ENTRY_2], id="the last one"),
    pytest.param(2, [ENTRY_1, ENTRY_2], id="two"),
    pytest.param(10, [ENTRY_1, ENTRY_2], id="more than there are"),
])
def test_read_log_prints_the_last_entries_prefixed(layout: Layout, tmp_path: Path, lines: int,
                                                   expected: list[str]) -> None:
    Path(history.log_path(layout)).write_text(f"{ENTRY_1}\n{ENTRY_2}\n")
    result = run_bash(script(history.read_log(layout, lines)), tmp_path)
    assert result.returncode == 0, result.stderr
    logged = [line for line in result.stdout.splitlines() if not line.startswith(SESSION_MARK)]
    assert logged == [f"wsgideploy-log:{entry}" for entry in expected]


def test_read_log_without_a_log_prints_nothing_and_succeeds(layout: Layout, tmp_path: Path) -> None:
    result = run_bash(script(history.read_log(layout, 5), "echo after"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wsgideploy-log:" not in result.stdout
    assert result.stdout.rstrip().endswith("after")


def test_mark_bad_touches_the_mark_in_the_release(layout: Layout, tmp_path: Path) -> None:
    Path(layout.release(R[0])).mkdir()
    result = run_bash(script(history.mark_bad(layout, R[0])), tmp_path)
    assert result.returncode == 0, result.stderr
    assert (Path(layout.release(R[0])) / history.BAD_MARK).is_file()
    assert history.BAD_MARK == ".wsgideploy-bad"


def test_mark_bad_of_a_missing_release_does_not_fail_the_script(layout: Layout, tmp_path: Path) -> None:
    result = run_bash(script(history.mark_bad(layout, R[0]), "echo after"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("after")
    assert not Path(layout.release(R[0])).exists()


# --- release.prepare ------------------------------------------------------------

@pytest.mark.parametrize("marked", [False, True], ids=["a good live release", "a live release marked bad"])
def test_prepare_reports_the_live_fingerprint_and_whether_the_live_release_is_marked_bad(
        layout: Layout, tmp_path: Path, marked: bool) -> None:
    config_dir = Path(layout.release(R[0])) / layout.config_dir_name
    config_dir.mkdir(parents=True)
    (config_dir / "fingerprint").write_text("f1" * 32 + "\n")
    Path(layout.current).symlink_to(f"releases/{R[0]}")
    if marked:
        run_bash(script(history.mark_bad(layout, R[0])), tmp_path)
    result = run_bash(release.prepare(layout, "python3"), tmp_path)
    assert result.returncode == 0, result.stderr
    facts = parse_facts(result.stdout)
    assert (facts["current"], facts["fingerprint"]) == (R[0], "f1" * 32)
    assert facts.get("live_bad", "") == ("yes" if marked else "")


# --- release.list_releases ------------------------------------------------------

@pytest.mark.parametrize("bad", [
    pytest.param((R[1],), id="the last release is good"),
    pytest.param((R[1], R[2]), id="the last release is bad"),
    pytest.param((), id="no bad release"),
])
def test_list_releases_reports_releases_bad_ones_and_current_and_exits_0(layout: Layout, tmp_path: Path,
                                                                        bad: tuple[str, ...]) -> None:
    for rid in R[:3]:
        Path(layout.release(rid)).mkdir()
    for rid in bad:
        (Path(layout.release(rid)) / history.BAD_MARK).touch()
    Path(layout.current).symlink_to(f"releases/{R[1]}")
    result = run_bash(release.list_releases(layout), tmp_path)
    assert result.returncode == 0, result.stderr  # once a trailing `[ ] && echo` made this exit 1
    assert facts_all(result.stdout, "release") == R[:3]
    assert facts_all(result.stdout, "bad") == list(bad)
    assert facts_all(result.stdout, "current") == [R[1]]
    assert "wsgideploy-log:" not in result.stdout


def test_list_releases_with_log_lines_prints_the_last_log_entries(layout: Layout, tmp_path: Path) -> None:
    Path(layout.release(R[0])).mkdir()
    Path(history.log_path(layout)).write_text(f"{ENTRY_1}\n{ENTRY_2}\n")
    result = run_bash(release.list_releases(layout, log_lines=1), tmp_path)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("wsgideploy-log:")] == [
        f"wsgideploy-log:{ENTRY_2}"]
    assert facts_all(result.stdout, "release") == [R[0]]


def test_list_releases_on_an_empty_host_reports_nothing_and_exits_0(tmp_path: Path) -> None:
    empty = Layout(str(tmp_path.resolve() / "nothing-here"))
    result = run_bash(release.list_releases(empty, log_lines=5), tmp_path)
    assert result.returncode == 0, result.stderr
    assert facts_all(result.stdout, "current") == [""]
    assert facts_all(result.stdout, "release") == []


def test_list_releases_ignores_plain_files_and_hidden_partials(layout: Layout, tmp_path: Path) -> None:
    Path(layout.release(R[0])).mkdir()
    (Path(layout.releases) / "stray.txt").write_text("x")
    (Path(layout.releases) / f".{R[1]}.partial").mkdir()
    result = run_bash(release.list_releases(layout), tmp_path)
    assert result.returncode == 0, result.stderr
    assert facts_all(result.stdout, "release") == [R[0]]


# --- shell.stop_session ---------------------------------------------------------

def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, session id) of ``pid`` from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[3])


def session_members(sid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = proc_stat(int(entry.name))
            if info and info[2] == sid and info[0] != "Z":
                members.append(int(entry.name))
    return members


def alive(pid: int) -> bool:
    info = proc_stat(pid)
    return info is not None and info[0] != "Z"  # an orphan zombie init has not reaped yet is gone too


def wait_until(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_the_prelude_prints_the_scripts_session_id(tmp_path: Path) -> None:
    result = run_bash(script("true"), tmp_path)
    marks = [line for line in result.stdout.splitlines() if line.startswith(SESSION_MARK)]
    assert marks == [f"{SESSION_MARK}{os.getsid(0)}"]  # bash -c from here stays in this session


def test_stop_session_ends_every_process_of_the_session_and_nothing_else(tmp_path: Path) -> None:
    bystander = subprocess.Popen(["sleep", "30"])  # in this test's own session
    leader = subprocess.Popen(["setsid", "bash", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        assert wait_until(lambda: proc_stat(leader.pid) is not None and proc_stat(leader.pid)[2] == leader.pid
                          and len(session_members(leader.pid)) == 3)
        sid = proc_stat(leader.pid)[2]
        assert sid != os.getsid(0)
        members = session_members(sid)
        result = run_bash(stop_session(sid), tmp_path)
        assert result.returncode == 0, result.stderr
        leader.wait(timeout=5)
        assert wait_until(lambda: not any(alive(pid) for pid in members))
        assert bystander.poll() is None
        assert alive(os.getpid())
    finally:
        for proc in (leader, bystander):
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def test_stop_session_of_a_session_with_no_processes_succeeds(tmp_path: Path) -> None:
    result = run_bash(stop_session(2 ** 22 + 12345), tmp_path)  # above the default pid_max
    assert result.returncode == 0, result.stderr


def test_stop_session_spares_a_child_in_its_own_session_whose_name_has_spaces(tmp_path: Path) -> None:
    program = tmp_path / "a b c"  # the comm of the process: two spaces
    program.symlink_to(shutil.which("sleep"))
    # The leader ignores TERM (set after the child is forked, so the child does not inherit it),
    # so the child keeps the leader as its parent while stop_session scans /proc.
    leader = subprocess.Popen(["setsid", "bash", "-c", 'setsid "$1" 30 & trap "" TERM; sleep 30 & wait',
                               "_", str(program)])
    escaped: list[int] = []
    started: list[int] = []
    try:
        def find_escaped() -> bool:
            escaped[:] = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                          and (proc_stat(int(p.name)) or ("", 0, 0))[1] == leader.pid
                          and (Path(f"/proc/{p.name}/comm").read_text().strip()
                               if Path(f"/proc/{p.name}/comm").exists() else "") == "a b c"]
            return bool(escaped) and len(session_members(leader.pid)) == 2
        assert wait_until(find_escaped)
        started[:] = session_members(leader.pid) + escaped
        assert proc_stat(escaped[0])[2] == escaped[0] != leader.pid  # a session of its own
        run_bash(stop_session(leader.pid), tmp_path)
        time.sleep(0.3)
        assert alive(leader.pid)  # still the child's parent: the comparison saw the parent pid
        assert alive(escaped[0])
    finally:
        for pid in started or [leader.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        leader.wait()
