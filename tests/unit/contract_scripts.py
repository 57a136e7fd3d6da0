"""What the contract tests of the app and front servers share: the hostile roots their scripts are
built over, and shellcheck over many composed scripts at once, each distinct one once."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
RID = "20261121T101500Z"
PLAIN = "/srv/hello"
QUOTE = "/home/o'neil/apps/x"
METACHARACTERS = "/srv/a;b&c|d"
ALL_HOSTILE = "/srv/o'neil;a&b|c"   # the one root shellcheck reads: every hostile character at once
ROOTS = [PLAIN, QUOTE, METACHARACTERS]


def value_blind(text: str) -> str:
    """``text`` with the value of every quoted (or int) assignment left out: scripts that differ only
    there get the same verdict from shellcheck, which never looks into a quoted literal."""
    def blank(line: str) -> str:
        match = ASSIGNMENT.match(line)
        if match:
            try:
                words = shlex.split(match.group(2))
            except ValueError:
                return line
            if len(words) == 1 and match.group(2) == shlex.quote(words[0]) and "$" not in words[0]:
                return f"{match.group(1)}=..."
        return line
    return "\n".join(blank(line) for line in text.splitlines())


def require_shellcheck() -> None:
    """Fail without shellcheck under ``CI=true``, skip elsewhere."""
    if shutil.which("shellcheck") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("shellcheck is not installed (CI=true): apt-get install shellcheck")
        pytest.skip("shellcheck is not installed")


def shellcheck_findings(texts: Iterable[str], ignored: tuple[str, ...]) -> dict[str, list[str]]:
    """``shellcheck -s bash`` over each distinct script of ``texts`` (`value_blind`), in two batches at
    once: {value-blind text: findings (``line:column: message``)}."""
    require_shellcheck()
    distinct: dict[str, str] = {}
    for text in texts:
        distinct.setdefault(value_blind(text), text)
    with tempfile.TemporaryDirectory() as folder:
        files = {key: Path(folder, f"{index}.sh") for index, key in enumerate(distinct)}
        for key, path in files.items():
            path.write_text(distinct[key])
        paths = [str(path) for path in files.values()]
        batches = [paths[0::2], paths[1::2]]
        with ThreadPoolExecutor(len(batches)) as pool:
            outputs = list(pool.map(lambda batch: subprocess.run(
                ["shellcheck", "-s", "bash", "-f", "gcc", "-e", ",".join(ignored), *batch],
                capture_output=True, text=True, timeout=120, check=False).stdout, batches))
    by_file: dict[str, list[str]] = {}
    for line in "".join(outputs).splitlines():
        name, _, rest = line.partition(":")
        by_file.setdefault(Path(name).name, []).append(rest)
    return {key: by_file.get(path.name, []) for key, path in files.items()}
