"""``flow.choose_rollback_target``: which release a rollback goes back to; what a failed release
with nothing to go back to leaves, as its message says."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from wsgideploy.flow import choose_rollback_target
from wsgideploy.going_live import left_in_place, nothing_to_roll_back_to

R1, R2, R3, R4 = "20261101T000000Z", "20261110T120000Z", "20261121T101500Z", "20261122T080000Z"

TARGET_CASES = [
    # (releases on the host, live release, --to, expected target)
    ([R1, R2, R3], R3, None, R2),
    ([R1, R2, R3], R2, None, R1),
    ([R1, R2, R3, R4], R3, None, R2),  # a newer, never-live release is not "previous"
    ([R1, R2, R3], R3, R1, R1),
    ([R1, R2, R3], R1, R3, R3),  # --to may go forward again
    ([R1, R2, R3], "", R2, R2),  # nothing live: --to still works
    ([R1, R3], R3, None, R1),
]


@pytest.mark.parametrize("releases, current, to, expected", TARGET_CASES)
def test_choose_rollback_target(releases: list[str], current: str, to: str | None, expected: str) -> None:
    assert choose_rollback_target(releases, current, to) == expected


ERROR_CASES = [
    # (releases, live, --to, exact message)
    ([R1, R2, R3], R3, R4, f"release {R4!r} is not on the host; it has: {R1}, {R2}, {R3}"),
    ([], "", R1, f"release {R1!r} is not on the host; it has: none"),
    ([R1, R2, R3], R3, R3, f"release {R3!r} is already live"),
    ([R1], R1, None, f"there is no good release before the live one ({R1}) to roll back to"),
    ([R2, R3], R2, None, f"there is no good release before the live one ({R2}) to roll back to"),
    ([R1, R2], "", None, "there is no good release before the live one (none) to roll back to"),
    ([], "", None, "there is no good release before the live one (none) to roll back to"),
]


@pytest.mark.parametrize("releases, current, to, message", ERROR_CASES)
def test_choose_rollback_target_refuses_with_a_reason(releases: list[str], current: str, to: str | None,
                                                      message: str) -> None:
    with pytest.raises(ValueError) as caught:
        choose_rollback_target(releases, current, to)
    assert str(caught.value) == message


# --- a failed release with nothing to roll back to -------------------------------

def run_with(**facts: str) -> SimpleNamespace:
    return SimpleNamespace(facts=facts)


def test_a_failed_first_release_says_what_stays_on_the_host_and_that_the_next_deploy_builds_again() -> None:
    text = left_in_place(run_with(previous_release=""), R3, marked=True)  # type: ignore[arg-type]
    assert text.startswith(f"{R3} was the first release on the host: there is nothing to roll back to.\n")
    assert f"{R3} stays on the host, marked bad: `current` points to it" in text
    assert "the next deploy builds a new one, even from the same source and settings" in text


def test_a_failed_release_after_a_bad_live_one_names_it() -> None:
    assert nothing_to_roll_back_to(run_with(previous_release=R2), R3) == (  # type: ignore[arg-type]
        f"the release live before {R3}, {R2}, is marked bad: there is nothing to roll back to")


def test_a_release_that_could_not_be_marked_bad_asks_for_force() -> None:
    text = left_in_place(run_with(), R3, marked=False)  # type: ignore[arg-type]
    assert "stays on the host, marked bad" not in text and "could NOT be marked bad" in text and "--force" in text
