"""Where the deployed commit shows: the JSON document, the deploy log, `releases`, `plan`."""
from __future__ import annotations

import json

from wsgideploy.jobs import commit_note, file_lines
from wsgideploy.cli.releases import _format_log, release_commits
from wsgideploy.plan import LiveState, build_plan, format_plan, live_commit
from wsgideploy.record import RunRecord, short_revision
from wsgideploy.report import with_commits
from wsgideploy.source import LocalRelease

SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"
LIVE, NEW = "20261120T090000Z", "20261121T101500Z"


def release(revision: str | None = SHA, files: tuple[str, ...] = ("app.py",)) -> LocalRelease:
    commit = revision.removesuffix("+dirty") if revision else None
    return LocalRelease(release_id=NEW, archive=b"", source_hash="ab" * 32, file_count=len(files),
                        static_dir=None, shared={}, commit=commit, revision=revision, files=files)


def entry(release_id: str, source: str | None, action: str = "deploy", result: str = "ok") -> str:
    return json.dumps({"action": action, "release": release_id, "result": result, "source": source,
                       "source_hash": "ab" * 8, "started": "2026-11-21T10:15:00Z", "duration": 1.0,
                       "user": "alice", "from": "laptop"})


def test_the_json_document_names_the_commit_after_the_release_for_the_run_and_each_host() -> None:
    doc = {"wsgideploy": 1, "action": "deploy", "release": NEW, "result": "ok",
           "hosts": {"web1": {"stage": "prod", "release": NEW, "result": "ok"}}}
    assert with_commits(doc, {"web1": SHA}) == {
        "wsgideploy": 1, "action": "deploy", "release": NEW, "commit": SHA, "result": "ok",
        "hosts": {"web1": {"stage": "prod", "release": NEW, "commit": SHA, "result": "ok"}}}
    assert list(with_commits(doc, {"web1": SHA})) == ["wsgideploy", "action", "release", "commit", "result", "hosts"]


def test_the_json_document_has_no_run_commit_when_hosts_got_different_ones() -> None:
    doc = {"release": NEW, "hosts": {"web1": {"release": NEW}, "web2": {"release": NEW}}}
    out = with_commits(doc, {"web1": SHA, "web2": OTHER})
    assert (out["commit"], out["hosts"]["web1"]["commit"], out["hosts"]["web2"]["commit"]) == (None, SHA, OTHER)


def test_a_refused_run_still_has_a_commit_key() -> None:
    assert with_commits({"release": None, "hosts": {}}, {}) == {"release": None, "commit": None, "hosts": {}}


def test_the_deploy_log_keeps_the_full_sha() -> None:
    record = RunRecord(action="deploy", release_id=NEW, source_revision=SHA + "+dirty")
    assert json.loads(record.log_entry("web1", NEW, "ok", 1.0))["source"] == SHA + "+dirty"


def test_short_revision_keeps_twelve_digits_and_the_dirty_mark() -> None:
    assert [short_revision(r) for r in (SHA, SHA + "+dirty", "abc123def456+dirty")] == [
        SHA[:12], SHA[:12] + "+dirty", "abc123def456+dirty"]


def test_each_release_gets_the_commit_of_the_deploy_that_made_it() -> None:
    log = [entry(LIVE, "abc123def456"), entry(NEW, SHA), entry(NEW, OTHER, result="noop"),
           entry("20261122T000000Z", None), entry(LIVE, OTHER, action="rollback"), "not json"]
    assert release_commits(log) == {LIVE: "abc123def456", NEW: SHA}


def test_a_log_line_shows_the_short_commit() -> None:
    assert _format_log(entry(NEW, SHA)).endswith(f"alice@laptop  {SHA[:12]}")


def test_the_plan_shows_the_commit_and_the_live_one() -> None:
    live = LiveState(python_version="3.11.2", root_exists=True, root_writable=True, current=LIVE,
                     log=(entry(LIVE, OTHER),))
    plan = build_plan("web1", release(), live, None, {}, {}, "/srv/hello")
    assert (plan.commit, plan.live_commit) == (SHA, OTHER)
    assert f"commit       {SHA} (live: {OTHER})" in format_plan(plan)
    assert live_commit((), LIVE) is None


def test_the_plan_of_a_source_outside_git_has_no_commit_line() -> None:
    plan = build_plan("web1", release(None), LiveState(python_version="3.11.2"), None, {}, {}, "/srv/hello")
    assert not [line for line in format_plan(plan) if line.startswith("commit")]


def test_plan_files_lists_the_paths_and_their_origin() -> None:
    assert file_lines(release(SHA, ("app.py", "static/a.css"))) == [
        f"2 file(s) from commit {SHA}:", "  app.py", "  static/a.css"]
    assert file_lines(release(None))[0] == "1 file(s) from the working tree (not in git):"
    assert file_lines(release(SHA + "+dirty"))[0] == (
        f"1 file(s) from the working tree (uncommitted changes on top of commit {SHA}):")


def test_the_release_line_names_the_commit_when_every_host_gets_the_same() -> None:
    class Job:
        def __init__(self, revision: str | None) -> None:
            self.rel = release(revision)
    assert commit_note({"web1": Job(SHA), "web2": Job(SHA)}) == f" of commit {SHA[:12]}"  # type: ignore[dict-item]
    assert commit_note({"web1": Job(SHA + "+dirty")}) == f" of commit {SHA[:12]}+dirty"  # type: ignore[dict-item]
    assert commit_note({"web1": Job(SHA), "web2": Job(OTHER)}) == ""  # type: ignore[dict-item]
    assert commit_note({"web1": Job(None)}) == ""  # type: ignore[dict-item]
