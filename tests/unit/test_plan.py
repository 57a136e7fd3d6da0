"""Plan mode, the pure parts: the read-only script, its output, diffs, the no-op decision."""
from __future__ import annotations

import base64
import json
import re

import pytest

from wsgideploy.commands import plan as plan_commands
from wsgideploy.inventory import Apache, Lighttpd, Nginx
from wsgideploy.layout import Layout
from wsgideploy.modes import front_server
from wsgideploy.plan import (ConfigPlan, HostPlan, LiveState, build_plan, diff_config, format_plan,
                        live_source_hash, parse_live_state, unified_diff)
from wsgideploy.source import Install, LocalRelease, pip_command

LIVE, NEW = "20261120T090000Z", "20261121T101500Z"
HASH = "ab" * 32


def release(source_hash: str = HASH) -> LocalRelease:
    return LocalRelease(release_id=NEW, archive=b"", source_hash=source_hash, file_count=1,
                        static_dir=None, shared={})


def log_line(release_id: str, source_hash: str | None, action: str = "deploy", result: str = "ok") -> str:
    return json.dumps({"action": action, "release": release_id, "result": result,
                       "source_hash": source_hash}, sort_keys=True)


REQUIREMENTS = Install(kind="requirements", key="py3.11.2-0123456789abcdef",
                       pip_args=("-r", f"/srv/hello/releases/{NEW}/requirements.txt", "gunicorn"))


# --- the script ----------------------------------------------------------------------

def test_read_live_state_script_is_valid_bash_and_writes_nothing(bash_syntax) -> None:
    body = plan_commands.read_live_state(Layout("/srv/hello"), "python3",
                                         {"gunicorn.conf.py": "/srv/hello/current/.wsgideploy/gunicorn.conf.py",
                                          "nginx.conf": "/etc/nginx/sites-available/hello"}, sudo=True)
    assert bash_syntax(body) is None
    writes = re.compile(r"\b(mkdir|touch|rm|mv|ln|cp|install|tee|chmod|chown)\b|>>|>\s*[^&/]")
    assert [ln for ln in body.splitlines() if writes.search(ln) and "/dev/null" not in ln] == []
    assert "/srv/hello/.deploy/lock" in body and "sudo -n cat" in body


def test_read_live_state_script_reads_a_host_layout(tmp_path) -> None:
    import subprocess
    root = tmp_path / "app"
    (root / "releases" / LIVE / ".wsgideploy").mkdir(parents=True)
    (root / "releases" / LIVE / ".wsgideploy" / "gunicorn.conf.py").write_text("workers = 2\n")
    (root / "current").symlink_to(f"releases/{LIVE}")
    for key, complete in (("py3-aaa", True), ("py3-bbb", False)):
        (root / "venvs" / key).mkdir(parents=True)
        if complete:
            (root / "venvs" / key / ".wsgideploy-complete").touch()
    (root / ".deploy" / "lock").mkdir(parents=True)
    (root / ".deploy" / "lock" / "owner.json").write_text('{"user": "ann"}\n')
    (root / ".deploy" / "log.jsonl").write_text(log_line("other", "11" * 8) + "\n" + log_line(LIVE, "22" * 8) + "\n")
    (root / "releases" / LIVE / ".wsgideploy" / "fingerprint").write_text("f1" * 32 + "\n")
    before = sorted((p.as_posix(), p.lstat().st_mtime_ns) for p in root.rglob("*"))
    body = plan_commands.read_live_state(Layout(str(root)), "python3", {
        "gunicorn.conf.py": f"{root}/current/.wsgideploy/gunicorn.conf.py",
        "nginx.conf": f"{tmp_path}/missing-site"},
        fingerprint_path=f"{root}/current/.wsgideploy/fingerprint")
    result = subprocess.run(["bash", "-c", body], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    state = parse_live_state(result.stdout)
    assert state.current == LIVE and state.root_exists and state.root_writable
    assert state.live_fingerprint == "f1" * 32
    assert re.fullmatch(r"\d+\.\d+\.\d+", state.python_version)
    assert state.complete_venvs == {"py3-aaa"}
    assert state.lock_holder == '{"user": "ann"}'
    assert state.files == {"gunicorn.conf.py": "workers = 2\n", "nginx.conf": None}
    assert state.log == (log_line(LIVE, "22" * 8),)
    assert sorted((p.as_posix(), p.lstat().st_mtime_ns) for p in root.rglob("*")) == before


def test_read_live_state_on_a_host_without_the_app_creates_no_root(tmp_path) -> None:
    import subprocess
    root = tmp_path / "app"
    body = plan_commands.read_live_state(Layout(str(root)), "no-such-python", {"x": f"{root}/current/x"})
    result = subprocess.run(["bash", "-c", body], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    state = parse_live_state(result.stdout)
    assert not root.exists()
    assert (state.root_exists, state.current, state.python_version, state.files) == (False, "", "", {"x": None})
    assert state.lock_holder is None and state.complete_venvs == frozenset()


@pytest.mark.parametrize("proxy, settings, expected", [
    ("nginx", Nginx(), "/etc/nginx/sites-available/hello"),
    ("apache", Apache(), "/etc/apache2/sites-available/hello.conf"),
    ("lighttpd", Lighttpd(), "/etc/lighttpd/conf-available/wsgideploy-hello.conf"),
])
def test_site_path_matches_where_install_site_puts_it(proxy, settings, expected) -> None:
    front = front_server(proxy)
    assert front.site_path(settings, "hello") == expected
    assert expected in front.install_site(settings, "hello", "/srv/hello/releases/1/.wsgideploy/site.conf")


# --- parsing -------------------------------------------------------------------------

def test_parse_live_state_decodes_files_and_keeps_missing_ones_apart() -> None:
    content = "line 1\n\u00e9t\u00e9 = 'x=y'\n"
    stdout = "\n".join([
        "wsgideploy-session:123",
        "wsgideploy-fact:python_version=3.11.2",
        "wsgideploy-fact:user=deploy", "wsgideploy-fact:group=www",
        "wsgideploy-fact:root=exists", "wsgideploy-fact:root_writable=no",
        f"wsgideploy-fact:current={LIVE}",
        "wsgideploy-venv:py3.11.2-aaaa", "wsgideploy-venv:py3.11.2-bbbb",
        "wsgideploy-file:gunicorn.conf.py=" + base64.b64encode(content.encode()).decode(),
        "wsgideploy-file:empty=",
        "wsgideploy-missing:nginx.conf",
        "wsgideploy-log:" + log_line(LIVE, "cd" * 8),
    ])
    state = parse_live_state(stdout)
    assert state == LiveState(python_version="3.11.2", user="deploy", group="www", root_exists=True,
                              root_writable=False, current=LIVE, lock_holder=None,
                              complete_venvs=frozenset({"py3.11.2-aaaa", "py3.11.2-bbbb"}),
                              files={"gunicorn.conf.py": content, "empty": "", "nginx.conf": None},
                              log=(log_line(LIVE, "cd" * 8),))


def test_parse_live_state_reads_the_lock_holder() -> None:
    state = parse_live_state('wsgideploy-fact:lock_holder={"user": "ann", "from": "laptop"}\n')
    assert state.lock_holder == '{"user": "ann", "from": "laptop"}'


# --- diffs ---------------------------------------------------------------------------

def test_diff_config_of_an_identical_file_is_unchanged() -> None:
    assert diff_config("a.conf", "/x/a.conf", "x = 1\n", "x = 1\n") == ConfigPlan("a.conf", "/x/a.conf", "unchanged")


def test_diff_config_shows_a_unified_diff_labelled_live_and_new() -> None:
    found = diff_config("gunicorn.conf.py", "/x", "a\nworkers = 2\nb\n", "a\nworkers = 3\nb\n")
    assert found.status == "changed"
    assert found.diff == ("--- live/gunicorn.conf.py\n+++ new/gunicorn.conf.py\n@@ -1,3 +1,3 @@\n"
                          " a\n-workers = 2\n+workers = 3\n b\n")


def test_diff_config_without_a_live_file_is_a_new_file() -> None:
    found = diff_config("nginx.conf", "/x", None, "server {}\n")
    assert found.status == "new"
    assert found.diff.splitlines()[-1] == "+server {}"


def test_diff_config_that_only_names_the_new_release_id_says_so() -> None:
    found = diff_config("entry.py", "/x", f"# release {LIVE}\nx = 1\n", f"# release {NEW}\nx = 1\n", LIVE, NEW)
    assert found.status == "release-id"
    assert f"+# release {NEW}" in found.diff


def test_diff_config_with_the_release_id_and_more_is_changed() -> None:
    found = diff_config("entry.py", "/x", f"# {LIVE}\nx = 1\n", f"# {NEW}\nx = 2\n", LIVE, NEW)
    assert found.status == "changed"


def test_unified_diff_marks_a_missing_newline_at_the_end() -> None:
    assert "\\ No newline at end of file" in unified_diff("a", "x", "x\n")


# --- source hash and no-op -----------------------------------------------------------

def test_live_source_hash_is_the_last_deploy_of_the_live_release() -> None:
    log = [log_line(LIVE, "11" * 8), log_line(LIVE, None, action="rollback"), log_line(LIVE, "22" * 8),
           "not json", log_line("other", "33" * 8)]
    assert live_source_hash(log, LIVE) == "22" * 8
    assert live_source_hash(log, "") is None
    assert live_source_hash([log_line(LIVE, None)], LIVE) is None


def state(**overrides) -> LiveState:
    fields = dict(python_version="3.11.2", user="deploy", group="deploy", root_exists=True, root_writable=True,
                  current=LIVE, complete_venvs=frozenset({REQUIREMENTS.key}),
                  files={"gunicorn.conf.py": f"# {LIVE}\nworkers = 2\n"},
                  log=(log_line(LIVE, HASH[:16]),))
    return LiveState(**{**fields, **overrides})


FINGERPRINT = "f1" * 32


def plan_of(live: LiveState, configs: dict[str, str] | None = None, install: Install | None = REQUIREMENTS,
            source_hash: str = HASH, fingerprint: str = FINGERPRINT) -> HostPlan:
    configs = configs if configs is not None else {"gunicorn.conf.py": f"# {NEW}\nworkers = 2\n"}
    return build_plan("web1", release(source_hash), live, install, configs,
                      {"gunicorn.conf.py": "/srv/hello/current/.wsgideploy/gunicorn.conf.py"}, "/srv/hello",
                      fingerprint=fingerprint)


def test_the_live_fingerprint_makes_a_no_op_as_deploy_decides() -> None:
    plan = plan_of(state(live_fingerprint=FINGERPRINT))
    assert plan.unchanged_source and plan.venv_action == "reuse" and plan.no_op
    assert format_plan(plan)[-1] == ("no-op        yes: the live release has this source and these settings; "
                                     "deploy leaves this host alone (--force deploys anyway)")


def test_without_a_live_fingerprint_nothing_is_a_no_op() -> None:
    plan = plan_of(state(live_fingerprint=""))
    assert not plan.no_op
    assert format_plan(plan)[-1] == "no-op        no: the live release records no fingerprint"
    assert not plan_of(state(live_fingerprint=""), fingerprint="").no_op


def test_a_live_release_marked_bad_with_this_fingerprint_is_not_a_no_op() -> None:
    plan = plan_of(state(live_fingerprint=FINGERPRINT, live_bad=True), configs={"gunicorn.conf.py": f"# {LIVE}\nworkers = 2\n"})
    assert plan.unchanged_source and plan.venv_action == "reuse" and not plan.no_op
    lines = format_plan(plan)
    assert lines[0] == f"release      {NEW} (live: {LIVE}, marked bad: it failed here)"
    assert lines[-1] == ("no-op        no: the live release is marked bad (it failed on this host): "
                         "a deploy builds a new one")
    assert plan.to_dict()["live_bad"] is True and plan.to_dict()["no_op"] is False


def test_read_live_state_reports_a_live_release_marked_bad(tmp_path) -> None:
    import subprocess
    root = tmp_path / "app"
    (root / "releases" / LIVE / ".wsgideploy").mkdir(parents=True)
    (root / "current").symlink_to(f"releases/{LIVE}")
    body = plan_commands.read_live_state(Layout(str(root)), "python3", {})
    healthy = parse_live_state(subprocess.run(["bash", "-c", body], capture_output=True, text=True,
                                              timeout=30).stdout)
    (root / "releases" / LIVE / ".wsgideploy-bad").touch()
    marked = parse_live_state(subprocess.run(["bash", "-c", body], capture_output=True, text=True,
                                             timeout=30).stdout)
    assert (healthy.live_bad, marked.live_bad) == (False, True)


def test_another_fingerprint_with_the_same_source_venv_and_configs_names_the_settings() -> None:
    plan = plan_of(state(live_fingerprint="0f" * 32))
    assert not plan.no_op
    assert format_plan(plan)[-1] == ("no-op        no: the settings, environment or templates differ "
                                     "from the live release's")


def test_a_changed_source_is_not_a_no_op() -> None:
    plan = plan_of(state(), source_hash="ff" * 32)
    assert not plan.unchanged_source and not plan.no_op
    assert "the source changed" in format_plan(plan)[-1]


def test_a_changed_config_is_not_a_no_op_even_with_the_same_source() -> None:
    plan = plan_of(state(), configs={"gunicorn.conf.py": f"# {NEW}\nworkers = 3\n"})
    assert plan.unchanged_source and not plan.no_op
    assert format_plan(plan)[-1] == "no-op        no: configs: gunicorn.conf.py"


def test_a_missing_venv_is_built() -> None:
    plan = plan_of(state(complete_venvs=frozenset({"py3.11.2-other"})))
    assert plan.venv_action == "build" and not plan.no_op
    assert (f"venv         build {REQUIREMENTS.key} (pip install -r requirements.txt gunicorn)"
            in format_plan(plan))


def test_a_live_release_missing_from_the_log_has_an_unknown_source() -> None:
    plan = plan_of(state(log=()))
    assert plan.live_source_hash is None and not plan.unchanged_source and not plan.no_op


def test_a_fresh_host_plans_a_build_new_files_and_the_root() -> None:
    plan = plan_of(LiveState(python_version="3.11.2", user="deploy", group="deploy"))
    lines = format_plan(plan)
    assert plan.venv_action == "build" and plan.configs[0].status == "new" and not plan.problems
    assert "note         /srv/hello does not exist yet: a deploy creates it" in lines
    assert "config       gunicorn.conf.py: new file (2 lines)" in lines
    assert "+workers = 2" in plan.configs[0].diff and "  +workers = 2" not in lines


def test_a_held_lock_and_no_python_are_problems() -> None:
    holder = json.dumps({"user": "ann", "from": "laptop", "since": "2026-11-21T10:00:00Z", "action": "deploy",
                         "release": NEW, "pid": 42})
    plan = plan_of(state(lock_holder=holder, python_version=""), install=None)
    lines = format_plan(plan)
    assert plan.venv_action == "unknown"
    assert ("a deploy now would fail: lock held by ann@laptop since 2026-11-21T10:00:00Z "
            f"(deploy of {NEW}, pid 42)") in lines
    assert "a deploy now would fail: python3 is not installed on the host" in lines


def test_an_unwritable_root_is_a_problem() -> None:
    assert plan_of(state(root_writable=False)).problems == ("/srv/hello is not writable by deploy",)


def test_format_plan_shows_a_changed_config_as_an_indented_diff() -> None:
    lines = format_plan(plan_of(state(), configs={"gunicorn.conf.py": f"# {NEW}\nworkers = 3\n"}))
    start = lines.index("config       gunicorn.conf.py: changed")
    assert lines[start + 1:start + 3] == ["  --- live/gunicorn.conf.py", "  +++ new/gunicorn.conf.py"]
    assert "  -workers = 2" in lines and "  +workers = 3" in lines


def test_format_plan_names_the_installed_site_it_compared_with() -> None:
    plan = build_plan("web1", release(), state(files={}), REQUIREMENTS, {"nginx.conf": "server {}\n"},
                      {"nginx.conf": "/etc/nginx/sites-available/hello"})
    assert "config       nginx.conf (live: /etc/nginx/sites-available/hello): new file (1 line)" in format_plan(plan)


def test_format_plan_hides_a_diff_that_only_changes_the_release_id() -> None:
    lines = format_plan(plan_of(state()))
    assert "config       gunicorn.conf.py: only the release id changes" in lines
    assert not any(line.startswith("  ---") for line in lines)


def test_host_plan_to_dict_is_json() -> None:
    plan = plan_of(state(), configs={"gunicorn.conf.py": f"# {NEW}\nworkers = 3\n"})
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["host"] == "web1" and data["release_id"] == NEW and data["live_release"] == LIVE
    assert data["venv_action"] == "reuse" and data["unchanged_source"] is True and data["no_op"] is False
    assert data["configs"][0]["name"] == "gunicorn.conf.py" and data["configs"][0]["status"] == "changed"
    assert data["lock_holder"] is None and data["problems"] == [] and data["source_hash"] == HASH[:16]
    assert data["fingerprint"] == FINGERPRINT and data["live_fingerprint"] == ""


def test_pip_command_shows_release_relative_paths() -> None:
    assert pip_command(REQUIREMENTS) == "pip install -r requirements.txt gunicorn"
    package = Install(kind="package", key="k", pip_args=(f"/srv/hello/releases/{NEW}", "gunicorn"))
    assert pip_command(package) == "pip install . gunicorn"
    assert pip_command(package, installer="uv") == "uv pip install . gunicorn"


def test_plan_is_a_task_with_its_help() -> None:
    from wsgideploy.collection import build_namespace
    task = build_namespace().tasks["plan"]
    assert task.__doc__.startswith("Show what deploy would do on each host")
