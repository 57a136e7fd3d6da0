"""Rolling deploys: the hosts of a run split into batches (``[rollout] batch_size``). Pure."""
from __future__ import annotations

import math
import re
from typing import Sequence, TypeVar

DEFAULT_PARALLEL = 10  # hosts worked on at once, unless --parallel or [rollout] parallel says otherwise

T = TypeVar("T")

_PERCENT = re.compile(r"^([0-9]{1,3})%$")


def batch_size_problem(value: object) -> str | None:
    """Why ``value`` is not a batch size (a positive integer or '1%'..'100%'), or None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None if value >= 1 else f"must be a positive number of hosts or a percentage like '25%', not {value}"
    if isinstance(value, str):
        match = _PERCENT.fullmatch(value)
        if match and 1 <= int(match.group(1)) <= 100:
            return None
        return f"must be a positive number of hosts or a percentage from '1%' to '100%', not {value!r}"
    return f"must be a positive number of hosts or a percentage like '25%', not {type(value).__name__}"


def batch_length(total: int, batch_size: int | str | None) -> int:
    """How many of ``total`` hosts go in one batch: all of them for None, a percentage rounded up, at least 1."""
    problem = batch_size_problem(batch_size) if batch_size is not None else None
    if problem:
        raise ValueError(f"batch_size {problem}")
    if batch_size is None:
        return max(total, 1)
    if isinstance(batch_size, str):
        return max(1, math.ceil(total * int(batch_size[:-1]) / 100))
    return batch_size


def batches(items: Sequence[T], batch_size: int | str | None) -> list[list[T]]:
    """``items`` in order, cut into batches of ``batch_size`` (see `batch_length`); no items, no batches."""
    size = batch_length(len(items), batch_size)
    return [list(items[start:start + size]) for start in range(0, len(items), size)]
