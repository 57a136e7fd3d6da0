"""The ``.env`` a deploy uploads and the loader that reads it on the host, the run
record (lock owner, deploy log entry), template overrides, and rollback targets
that skip bad releases.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

from wsgideploy.flow import choose_rollback_target
from wsgideploy.layout import Layout
from wsgideploy.record import RunRecord, describe_holder
from wsgideploy.render import TEMPLATES_DIR, VERBATIM_FILES, render_release_configs, template_context
from wsgideploy.source import SourceError, env_file_content

LOADER_PATH = Path(__file__).resolve().parents[2] / "templates" / "wsgideploy_env.py"


def load_loader():
    """Import ``templates/wsgideploy_env.py`` from its file, as the hosts run it."""
    spec = importlib.util.spec_from_file_location("wsgideploy_env_under_test", LOADER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


loader = load_loader()


# --- env_file_content -----------------------------------------------------------

def test_no_env_file_and_no_env_names_means_no_env_upload(make_app) -> None:
    assert env_file_content(make_app(), {"SECRET_KEY": "x"}) is None


def test_env_file_alone_is_uploaded_as_it_is_with_its_names(make_app, tmp_path: Path) -> None:
    env_file = tmp_path / "prod.env"
    env_file.write_text("# a comment\nDEBUG=0\n\nexport DATABASE_URL='postgres://db/hello'\n")
    content, names = env_file_content(make_app(env_file=env_file), {})
    assert content == env_file.read_bytes()
    assert names == ["DEBUG", "DATABASE_URL"]


def test_names_of_indented_export_lines_match_what_the_loader_reads(make_app, tmp_path: Path) -> None:
    env_file = tmp_path / "prod.env"
    env_file.write_text("  export FOO=1\nexport  BAR=2\n")
    content, names = env_file_content(make_app(env_file=env_file), {})
    assert names == list(loader.parse(content.decode())) == ["FOO", "BAR"]


def test_env_names_are_appended_after_the_env_file(make_app, tmp_path: Path) -> None:
    env_file = tmp_path / "prod.env"
    env_file.write_text("DEBUG=0")  # no trailing newline: one is added before the appended lines
    content, names = env_file_content(make_app(env_file=env_file, env=("SECRET_KEY", "API_TOKEN")),
                                      {"SECRET_KEY": "abc", "API_TOKEN": "t0k", "UNRELATED": "nope"})
    assert content == b"DEBUG=0\nSECRET_KEY='abc'\nAPI_TOKEN='t0k'\n"
    assert names == ["DEBUG", "SECRET_KEY", "API_TOKEN"]
    assert loader.parse(content.decode()) == {"DEBUG": "0", "SECRET_KEY": "abc", "API_TOKEN": "t0k"}


def test_env_names_alone_make_a_file_of_just_those_variables(make_app) -> None:
    content, names = env_file_content(make_app(env=("SECRET_KEY",)), {"SECRET_KEY": "abc", "OTHER": "x"})
    assert content == b"SECRET_KEY='abc'\n"
    assert names == ["SECRET_KEY"]


def test_a_missing_variable_is_named_but_no_value_ever_appears(make_app, tmp_path: Path) -> None:
    env_file = tmp_path / "prod.env"
    env_file.write_text("FILE_SECRET=hunter2-from-file\n")
    environ = {"SECRET_KEY": "s3cr3t-present-value", "PATH": "/usr/bin", "OTHER": "other-value-xyz"}
    app = make_app(env_file=env_file, env=("SECRET_KEY", "MISSING_ONE", "MISSING_TWO"))
    with pytest.raises(SourceError) as caught:
        env_file_content(app, environ)
    message = str(caught.value)
    assert message == "app.env names environment variables that are not set: MISSING_ONE, MISSING_TWO"
    for value in [*environ.values(), "hunter2-from-file"]:
        assert value not in message


def test_an_empty_variable_is_set_and_uploaded_empty(make_app) -> None:
    content, _ = env_file_content(make_app(env=("EMPTY",)), {"EMPTY": ""})
    assert loader.parse(content.decode()) == {"EMPTY": ""}


ROUND_TRIP_VALUES = [
    pytest.param("plain", id="plain"),
    pytest.param("", id="empty"),
    pytest.param("it's", id="single quote"),
    pytest.param('say "hi"', id="double quotes"),
    pytest.param("both ' and \"", id="both quotes"),
    pytest.param("$HOME ${PATH} $(id) `id`", id="dollars and backticks"),
    pytest.param("C:\\new\\table\\", id="backslashes"),
    pytest.param("\\n is not a newline", id="backslash n"),
    pytest.param("it's \\n and \\\\ and \\\"", id="escapes with a quote"),
    pytest.param("line one\nline two\n", id="newlines"),
    pytest.param("quote ' and\nnewline", id="quote and newline"),
    pytest.param("  padded  ", id="surrounding spaces"),
    pytest.param("value # not a comment", id="hash"),
    pytest.param("a=b=c", id="equals signs"),
    pytest.param("'already quoted'", id="single quoted"),
    pytest.param('"already quoted"', id="double quoted"),
    pytest.param("tab\tand unicode é ✓", id="tab and unicode"),
    pytest.param("-----BEGIN KEY-----\nMIIB\\+/=\n-----END KEY-----", id="pem"),
]


@pytest.mark.parametrize("value", ROUND_TRIP_VALUES)
def test_values_round_trip_exactly_through_the_hosts_loader(make_app, tmp_path: Path, value: str) -> None:
    content, names = env_file_content(make_app(env=("VALUE",)), {"VALUE": value})
    assert names == ["VALUE"]
    assert loader.parse(content.decode()) == {"VALUE": value}
    env_path = tmp_path / ".env"
    env_path.write_bytes(content)
    assert loader.load(str(env_path)) == {"VALUE": value}


def test_a_value_with_a_carriage_return_round_trips(make_app) -> None:
    content, _ = env_file_content(make_app(env=("VALUE",)), {"VALUE": "windows line\r\nend"})
    assert loader.parse(content.decode()) == {"VALUE": "windows line\r\nend"}


def test_every_value_survives_one_file_with_all_of_them(make_app, tmp_path: Path) -> None:
    environ = {f"V{i}": p.values[0] for i, p in enumerate(ROUND_TRIP_VALUES)}
    env_file = tmp_path / "prod.env"
    env_file.write_text("FROM_FILE=1\n")
    content, names = env_file_content(make_app(env_file=env_file, env=tuple(environ)), environ)
    assert names == ["FROM_FILE", *environ]
    assert loader.parse(content.decode()) == {"FROM_FILE": "1", **environ}


# --- templates/wsgideploy_env.py ------------------------------------------------

PARSE_CASES = [
    # (id, dotenv text, variables)
    ("plain", "KEY=value", {"KEY": "value"}),
    ("export prefix", "export KEY=value", {"KEY": "value"}),
    ("export with extra spaces", "  export   KEY = value  ", {"KEY": "value"}),
    ("comment line", "# KEY=value", {}),
    ("indented comment", "   # KEY=value", {}),
    ("blank lines", "\n\nA=1\n   \n\nB=2\n", {"A": "1", "B": "2"}),
    ("line without equals", "JUSTAWORD\nA=1", {"A": "1"}),
    ("empty value", "KEY=", {"KEY": ""}),
    ("empty single quotes", "KEY=''", {"KEY": ""}),
    ("empty double quotes", 'KEY=""', {"KEY": ""}),
    ("equals in value", "URL=postgres://u:p@h/db?a=b", {"URL": "postgres://u:p@h/db?a=b"}),
    ("single quotes are literal", r"KEY='a\nb $HOME \"x\"'", {"KEY": r"a\nb $HOME \"x\""}),
    ("double quotes unescape", r'KEY="a\nb \"q\" c:\\d"', {"KEY": 'a\nb "q" c:\\d'}),
    ("double-quoted backslash before n", r'KEY="\\n"', {"KEY": "\\n"}),
    ("inline comment on unquoted value", "KEY=value # the comment", {"KEY": "value"}),
    ("hash without a space is kept", "KEY=value#notacomment", {"KEY": "value#notacomment"}),
    ("hash in single quotes is kept", "KEY='value # kept'", {"KEY": "value # kept"}),
    ("hash in double quotes is kept", 'KEY="value # kept"', {"KEY": "value # kept"}),
    ("spaces around the equals sign", "KEY = value", {"KEY": "value"}),
    ("dollar is not expanded", "KEY=$HOME", {"KEY": "$HOME"}),
    ("unterminated quote is literal", "KEY='open", {"KEY": "'open"}),
    ("mismatched quotes are literal", "KEY='mixed\"", {"KEY": "'mixed\""}),
    ("empty key is skipped", "=value\nA=1", {"A": "1"}),
    ("the later duplicate wins", "A=1\nA=2", {"A": "2"}),
    ("crlf line endings", "A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
    ("several variables", "export A=1\n# c\nB='two'\nC=\"3\"\n", {"A": "1", "B": "two", "C": "3"}),
]


@pytest.mark.parametrize("text, expected", [pytest.param(*case[1:], id=case[0]) for case in PARSE_CASES])
def test_parse_reads_dotenv_lines(text: str, expected: dict[str, str]) -> None:
    assert loader.parse(text) == expected


def test_load_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert loader.load(str(tmp_path / "no.env")) == {}


def test_load_reads_utf8(tmp_path: Path) -> None:
    env_path = tmp_path / ".env"
    env_path.write_bytes("NAME='Zoë ✓'\n".encode())
    assert loader.load(str(env_path)) == {"NAME": "Zoë ✓"}


def run_loader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "FROM_PARENT": "kept"}
    return subprocess.run([sys.executable, str(LOADER_PATH), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=20, env=env)


def test_loader_as_a_script_runs_the_command_with_the_files_variables(tmp_path: Path) -> None:
    env_path = tmp_path / ".env"
    env_path.write_text("export SECRET_KEY='s e c'\nMULTI=\"a\\nb\"\nFROM_PARENT=overridden\n")
    result = run_loader(str(env_path), "env", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "SECRET_KEY=s e c" in lines
    assert "MULTI=a" in lines and "b" in lines
    assert "FROM_PARENT=overridden" in lines


def test_loader_as_a_script_with_a_missing_file_adds_nothing(tmp_path: Path) -> None:
    result = run_loader(str(tmp_path / "none.env"), "env", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "FROM_PARENT=kept" in result.stdout.splitlines()
    assert "SECRET_KEY" not in result.stdout


def test_loader_as_a_script_passes_arguments_and_the_exit_code(tmp_path: Path) -> None:
    result = run_loader(str(tmp_path / "none.env"), "sh", "-c", 'echo "$0 $1"; exit 7', "zero", "one",
                        cwd=tmp_path)
    assert result.returncode == 7
    assert result.stdout == "zero one\n"


def test_loader_as_a_script_without_a_command_prints_its_usage(tmp_path: Path) -> None:
    result = run_loader(str(tmp_path / "none.env"), cwd=tmp_path)
    assert result.returncode != 0
    assert "usage: wsgideploy_env.py ENV_FILE COMMAND" in result.stderr


# --- RunRecord ------------------------------------------------------------------

def record(**overrides) -> RunRecord:
    fields = dict(action="deploy", release_id="20261121T101500Z", source_revision="abc123def456+dirty",
                  source_hash="0123456789abcdef0123456789abcdef", user="alice", origin="laptop",
                  started_at="2026-11-21T10:15:00Z", token="feedfacecafebeef")
    return RunRecord(**{**fields, **overrides})


def test_lock_owner_names_who_from_where_since_when_what_and_the_token() -> None:
    owner = json.loads(record().lock_owner())
    assert owner == {"user": "alice", "from": "laptop", "since": "2026-11-21T10:15:00Z", "action": "deploy",
                     "release": "20261121T101500Z", "token": "feedfacecafebeef", "pid": os.getpid()}


def test_lock_owner_is_one_line_of_json() -> None:
    text = record(user="o'brien \"x\"").lock_owner()
    assert "\n" not in text
    assert json.loads(text)["user"] == "o'brien \"x\""


def test_default_record_has_a_fresh_token_a_utc_time_and_a_user() -> None:
    first, second = RunRecord(action="deploy"), RunRecord(action="deploy")
    assert re.fullmatch(r"[0-9a-f]{16}", first.token)
    assert first.token != second.token
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first.started_at)
    assert first.user and first.origin
    assert first.release_id == "" and first.force_unlock is False


def test_log_entry_has_every_field_and_rounds_the_duration() -> None:
    entry = json.loads(record().log_entry("web1", "20261121T101500Z", "ok", 12.3456))
    assert entry == {"action": "deploy", "host": "web1", "release": "20261121T101500Z", "result": "ok",
                     "user": "alice", "from": "laptop", "started": "2026-11-21T10:15:00Z", "duration": 12.35,
                     "source": "abc123def456+dirty", "source_hash": "0123456789abcdef"}


def test_log_entry_without_source_information_says_null() -> None:
    entry = json.loads(record(source_revision=None, source_hash=None).log_entry("web1", "", "failed", 0.001))
    assert (entry["source"], entry["source_hash"], entry["duration"]) == (None, None, 0.0)
    assert "message" not in entry


MESSAGE_CASES = [
    # (id, message, logged message)
    ("one line", "health check failed", "health check failed"),
    ("the last line only", "SECRET_KEY=hunter2 in some output\ntraceback...\nhealth check failed",
     "health check failed"),
    ("trailing blank lines ignored", "first\nthe real last line\n\n  \n", "the real last line"),
    ("truncated to 300", "x" * 500, "x" * 300),
    ("last line truncated", "short\n" + "y" * 301, "y" * 300),
]


@pytest.mark.parametrize("message, logged", [pytest.param(*case[1:], id=case[0]) for case in MESSAGE_CASES])
def test_log_entry_keeps_only_the_last_line_of_the_message(message: str, logged: str) -> None:
    entry = json.loads(record().log_entry("web1", "r", "failed", 1.0, message))
    assert entry["message"] == logged


def test_log_entry_holds_nothing_that_was_not_passed_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "env-secret-value-123")
    rec = record(force_unlock=True)
    text = rec.log_entry("web1", "20261121T101500Z", "rolled_back", 3.0,
                         "env-secret-value-123 leaked in output\nrolled back")
    assert "env-secret-value-123" not in text
    assert rec.token not in text  # the lock token stays in the lock
    given = {"deploy", "web1", "20261121T101500Z", "rolled_back", "alice", "laptop", "2026-11-21T10:15:00Z",
             3.0, "abc123def456+dirty", "0123456789abcdef", "rolled back"}
    assert set(json.loads(text).values()) <= given


DESCRIBE_CASES = [
    # (id, lock text, description)
    ("a deploy", json.dumps({**json.loads(record().lock_owner()), "pid": 4242}),
     "alice@laptop since 2026-11-21T10:15:00Z (deploy of 20261121T101500Z, pid 4242)"),
    ("a rollback without a release", json.dumps({"user": "bob", "from": "ci", "since": "T", "action": "rollback",
                                                 "release": "", "pid": 7}),
     "bob@ci since T (rollback, pid 7)"),
    ("no action or pid", json.dumps({"user": "bob", "from": "ci", "since": "T"}), "bob@ci since T (deploy, pid ?)"),
    ("json with a trailing newline", json.dumps({"user": "u", "from": "h", "since": "s", "pid": 1}) + "\n",
     "u@h since s (deploy, pid 1)"),
    ("json missing the user", json.dumps({"from": "h", "since": "s"}), json.dumps({"from": "h", "since": "s"})),
    ("not json", "  (no owner recorded)\n", "(no owner recorded)"),
    ("truncated json", '{"user": "alice", "fr', '{"user": "alice", "fr'),
    ("empty", "", "unknown"),
    ("blank", " \n ", "unknown"),
]


@pytest.mark.parametrize("text, described", [pytest.param(*case[1:], id=case[0]) for case in DESCRIBE_CASES])
def test_describe_holder(text: str, described: str) -> None:
    assert describe_holder(text) == described


@pytest.mark.parametrize("text", ["[1, 2]", "42", "null"])
def test_describe_holder_of_json_that_is_not_an_object_returns_the_text(text: str) -> None:
    assert describe_holder(text) == text


# --- template overrides ---------------------------------------------------------

def context() -> dict:
    from wsgideploy.inventory import App
    app = App(name="hello", source=Path("/nonexistent/hello"), wsgi="app:app", root="/srv/hello")
    return template_context(app, Layout("/srv/hello"), "20261121T101500Z", "static", {})


def test_an_override_template_replaces_the_bundled_one_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "nginx.site.conf.j2").write_text("# CUSTOM-SITE-MARKER for {{ app.name }} {{ release_id }}\n")
    bundled = render_release_configs(context())
    custom = render_release_configs(context(), overrides=tmp_path)
    assert custom["nginx.conf"] == "# CUSTOM-SITE-MARKER for hello 20261121T101500Z\n"
    assert "CUSTOM-SITE-MARKER" not in bundled["nginx.conf"]
    assert custom["gunicorn.conf.py"] == bundled["gunicorn.conf.py"]  # no override: the bundled one


def test_an_empty_override_dir_renders_the_bundled_templates(tmp_path: Path) -> None:
    assert render_release_configs(context(), overrides=tmp_path) == render_release_configs(context())


def test_an_override_template_is_strict_about_undefined_variables(tmp_path: Path) -> None:
    (tmp_path / "gunicorn.conf.py.j2").write_text("workers = {{ vars.wrokers }}\n")
    with pytest.raises(jinja2.UndefinedError):
        render_release_configs(context(), overrides=tmp_path)


def test_the_env_loader_and_the_process_launcher_are_copied_verbatim(tmp_path: Path) -> None:
    assert VERBATIM_FILES == ("wsgideploy_env.py", "wsgideploy_process.py")
    files = render_release_configs(context(), overrides=tmp_path)
    assert files["wsgideploy_env.py"] == LOADER_PATH.read_text() == (TEMPLATES_DIR / "wsgideploy_env.py").read_text()
    assert files["wsgideploy_process.py"] == (TEMPLATES_DIR / "wsgideploy_process.py").read_text()
    assert sorted(files) == ["gunicorn.conf.py", "logrotate.conf", "nginx.conf", "wsgideploy_entry.py", "wsgideploy_env.py",
                             "wsgideploy_process.py"]


# --- choose_rollback_target with bad releases -----------------------------------

R1, R2, R3, R4 = "20261101T000000Z", "20261110T120000Z", "20261121T101500Z", "20261122T080000Z"

BAD_TARGET_CASES = [
    # (releases, live, --to, bad, expected)
    ([R1, R2, R3], R3, None, {R2}, R1),
    ([R1, R2, R3, R4], R4, None, {R2, R3}, R1),
    ([R1, R2, R3], R3, None, {R3}, R2),            # the live one being bad changes nothing
    ([R1, R2, R3, R4], R3, None, {R4}, R2),        # a bad newer release is not a candidate anyway
    ([R1, R2, R3], R3, R2, {R2}, R2),              # --to may name a bad release
    ([R1, R2, R3], R1, R3, {R3}, R3),
    ([R1, R2, R3], R3, None, frozenset(), R2),
]


@pytest.mark.parametrize("releases, current, to, bad, expected", BAD_TARGET_CASES)
def test_rollback_skips_bad_releases_unless_named(releases: list[str], current: str, to: str | None,
                                                  bad: set[str], expected: str) -> None:
    assert choose_rollback_target(releases, current, to, bad) == expected


def test_rollback_with_only_bad_releases_before_the_live_one_refuses() -> None:
    with pytest.raises(ValueError) as caught:
        choose_rollback_target([R1, R2, R3], R3, None, {R1, R2})
    assert str(caught.value) == f"there is no good release before the live one ({R3}) to roll back to"


def test_a_log_entry_finished_in_the_go_live_script_gets_the_whole_runs_duration(tmp_path: Path) -> None:
    """`finish_step`'s log line: the time before the script plus the script's time so far (WSGIDEPLOY_T0)."""
    from wsgideploy.commands import history
    layout = Layout(str(tmp_path))
    (tmp_path / ".deploy").mkdir()
    entry = RunRecord(action="deploy").log_entry("web1", "20261204T100000Z", "ok", None)
    assert '"duration": null' in entry
    text = "export WSGIDEPLOY_T0=$(awk -v t=\"${EPOCHREALTIME/,/.}\" 'BEGIN { printf \"%.6f\", t - 2 }')\n"
    done = subprocess.run(["bash", "-c", text + history.append_log_timed(layout, entry, 1.5)], check=True)
    assert done.returncode == 0
    logged = json.loads((tmp_path / ".deploy" / "log.jsonl").read_text())
    assert 3.4 <= logged["duration"] <= 4.5 and logged["result"] == "ok" and logged["host"] == "web1"
    with pytest.raises(ValueError):
        history.append_log_timed(layout, '{"duration": 1.0}', 1.5)
