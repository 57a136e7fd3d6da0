"""Which kept server sessions the sandbox's ``down`` stops (`tests.sandbox.booted.sandbox_folders`): its own, and
kept ones whose state was lost, never another sandbox that is still up. The integration test of the sandbox
has a state folder of its own, and its ``down`` once stopped a person's sandbox that was up beside it."""
from __future__ import annotations

from pathlib import Path

from tests.sandbox.booted import BootedState, sandbox_folders
from tests.servers.lab import KEPT


def kept(sessions: Path, name: str, owner: Path | None) -> Path:
    folder = sessions / name
    folder.mkdir(parents=True)
    (folder / KEPT).write_text("kept by the sandbox\n" + (f"state: {owner}\n" if owner else ""))
    return folder


def up(state_dir: Path, folder: Path) -> None:
    BootedState(folder=str(folder), address="10.213.9.2", identity="id", known_hosts="kh",
                created_at="2026-12-05T00:00:00Z").save(state_dir / "state.json")


def test_down_stops_its_own_and_lost_sessions_never_another_sandbox_that_is_up(tmp_path: Path) -> None:
    sessions, mine, theirs = tmp_path / "sessions", tmp_path / "mine", tmp_path / "theirs"
    own = kept(sessions, "wsgdbr1", mine)
    other = kept(sessions, "wsgdbr2", theirs)
    legacy = kept(sessions, "wsgdbr3", None)           # kept before owners were recorded: state unknown
    orphan = kept(sessions, "wsgdbr4", tmp_path / "gone")  # its state folder is gone
    (sessions / "wsgdbr5").mkdir()                     # a test session, not kept
    up(mine, own)
    up(theirs, other)
    assert sandbox_folders(mine, sessions) == [own, legacy, orphan]
    assert sandbox_folders(theirs, sessions) == [other, legacy, orphan]


def test_down_after_its_state_was_lost_still_finds_its_session(tmp_path: Path) -> None:
    sessions, mine = tmp_path / "sessions", tmp_path / "mine"
    own = kept(sessions, "wsgdbr1", mine)
    assert sandbox_folders(mine, sessions) == [own]
