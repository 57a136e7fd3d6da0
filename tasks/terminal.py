"""What a terminal adds to the plain lines: colour, and a status line rewritten in place. Pure.

Colour is only for a person at a terminal: never when the stream is a file or a
pipe (CI logs, ``--json`` documents), and never when ``NO_COLOR`` is set to
anything (https://no-color.org) or ``TERM`` is ``dumb``.
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence, TextIO

GREEN, RED, YELLOW, BOLD, DIM = "32", "31", "33", "1", "2"
RESET = "\x1b[0m"
# Back to the start of the line, then clear it: how the status line is erased.
ERASE_LINE = "\r\x1b[K"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (a closed or odd stream is not)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def wants_color(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Colour only on a terminal, and only if ``NO_COLOR`` is unset or empty and ``TERM`` is not dumb."""
    return is_terminal(stream) and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"


def paint(text: str, style: str, on: bool) -> str:
    """``text`` in ``style`` (an SGR code such as `GREEN`) when ``on``, else unchanged."""
    return f"\x1b[{style}m{text}{RESET}" if on and text else text


def strip_ansi(text: str) -> str:
    """``text`` without colour codes (what the run log keeps)."""
    return _ANSI.sub("", text)


def status_word_style(word: str) -> str:
    """The colour of an outcome word: green for ok, red for a failure, yellow otherwise."""
    if word.strip() in ("ok", "unchanged"):
        return GREEN
    if word.strip() in ("FAILED", "INTERRUPTED"):
        return RED
    return YELLOW


def running_status(running: Sequence[tuple[str, str, float]], width: int = 0) -> str:
    """The one status line for steps still running: ``… [web1] venv 4s · [web2] venv 3s``.

    ``running`` holds (host, step, seconds so far); ``width`` (when > 0) cuts the
    line so it never wraps, since a wrapped line cannot be erased in place.
    """
    parts = [f"[{host}] {step} {int(seconds)}s" if host else f"{step} {int(seconds)}s"
             for host, step, seconds in running]
    text = "… " + " · ".join(parts)
    if width > 0 and len(text) > width - 1:
        text = text[:max(width - 2, 1)] + "…"
    return text


def still_running_line(step: str, seconds: float) -> str:
    """The line a long step prints now and then when there is no terminal: ``venv         … still running (30s)``."""
    return f"{step:<12} … still running ({int(seconds)}s)"
