"""Shared fixtures of the fast unit tests (pure: no network, no SSH, no root)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from wsgideploy.inventory import App  # noqa: E402


def bash_syntax_error(text: str) -> str | None:
    """``bash -n`` on ``text``: None when it parses, else bash's complaint."""
    result = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, timeout=10)
    return None if result.returncode == 0 else result.stderr.strip() or f"exit {result.returncode}"


@pytest.fixture
def bash_syntax() -> Callable[[str], str | None]:
    """The `bash_syntax_error` check, as a fixture."""
    return bash_syntax_error


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., App]:
    """Build an `App` whose source is ``tmp_path/src`` (created), with overrides."""
    def make(**overrides) -> App:
        source = overrides.pop("source", tmp_path / "src")
        source.mkdir(parents=True, exist_ok=True)
        fields = {"name": "hello", "source": source, "wsgi": "app:app", "root": "/srv/hello"}
        return App(**{**fields, **overrides})
    return make


@pytest.fixture
def write_tree() -> Callable[[Path, dict[str, str | bytes]], Path]:
    """Create files under a directory from a ``{relative path: content}`` mapping."""
    def write(base: Path, files: dict[str, str | bytes]) -> Path:
        for rel, content in files.items():
            path = base / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        return base
    return write
