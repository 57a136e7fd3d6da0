"""Release ids: a UTC timestamp to the second, unique and in order for every deploy of a project."""
from __future__ import annotations

import multiprocessing
from datetime import datetime, timezone
from pathlib import Path

import pytest

from wsgideploy.release_id import claim_release_id, new_release_id, next_release_id

NOW = datetime(2026, 11, 21, 10, 15, 0, 250000, tzinfo=timezone.utc)


def test_a_release_id_is_a_compact_utc_timestamp() -> None:
    assert new_release_id(NOW) == "20261121T101500Z"


def test_release_ids_sort_in_time_order() -> None:
    times = [datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), datetime(2026, 1, 2, 3, 4, 6, tzinfo=timezone.utc),
             datetime(2026, 10, 1, 0, 0, 0, tzinfo=timezone.utc), datetime(2027, 1, 1, 0, 0, 0, tzinfo=timezone.utc)]
    ids = [new_release_id(t) for t in times]
    assert ids == sorted(ids)


def test_a_release_id_without_a_time_uses_the_current_utc_time() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    rid = new_release_id()
    after = datetime.now(timezone.utc)
    parsed = datetime.strptime(rid, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    assert before <= parsed <= after


@pytest.mark.parametrize("after, expected", [
    ("", "20261121T101500Z"),                     # nothing before
    ("20261121T101459Z", "20261121T101500Z"),     # an earlier second
    ("20261121T101500Z", "20261121T101501Z"),     # the same second: the next one
    ("20261121T101507Z", "20261121T101508Z"),     # ahead of the clock (claimed fast, or the clock went back)
    ("20261231T235959Z", "20270101T000000Z"),     # across a year
    ("not an id", "20261121T101500Z"),            # garbage is ignored
])
def test_a_release_id_comes_after_the_last_one(after: str, expected: str) -> None:
    assert new_release_id(NOW, after) == expected


def test_claims_in_the_same_second_get_ids_in_order_and_none_twice(tmp_path: Path) -> None:
    state = tmp_path / ".wsgideploy"
    ids = [claim_release_id(state, NOW) for _ in range(3)]
    assert ids == ["20261121T101500Z", "20261121T101501Z", "20261121T101502Z"]
    assert (state / "last-release").read_text() == "20261121T101502Z\n"
    assert (state / ".gitignore").read_text() == "*\n", "the state folder ignores itself for git"
    later = datetime(2026, 11, 21, 10, 16, 0, tzinfo=timezone.utc)
    assert claim_release_id(state, later) == "20261121T101600Z", "the clock wins once it is ahead again"


def test_the_next_id_is_shown_without_being_claimed(tmp_path: Path) -> None:
    state = tmp_path / ".wsgideploy"
    assert next_release_id(state, NOW) == "20261121T101500Z" and not state.exists()
    claim_release_id(state, NOW)
    assert next_release_id(state, NOW) == next_release_id(state, NOW) == "20261121T101501Z"


def test_a_folder_that_cannot_be_made_gives_the_plain_timestamp(tmp_path: Path) -> None:
    (tmp_path / "project").write_text("a file where the project folder should be")
    assert claim_release_id(tmp_path / "project" / ".wsgideploy", NOW) == "20261121T101500Z"


def _claim_many(state: str, count: int, queue) -> None:
    queue.put([claim_release_id(Path(state), NOW) for _ in range(count)])


def test_runs_claiming_at_the_same_time_never_share_an_id(tmp_path: Path) -> None:
    state = tmp_path / ".wsgideploy"
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_claim_many, args=(str(state), 25, queue)) for _ in range(4)]
    for proc in procs:
        proc.start()
    claimed = [rid for _ in procs for rid in queue.get(timeout=60)]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert len(claimed) == len(set(claimed)) == 100
