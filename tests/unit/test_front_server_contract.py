"""The contract every front server keeps (``wsgideploy.modes.FRONT_SERVERS``), for every script builder.

Over settings whose every path is hostile (a single quote; ``;&|``; the inventory refuses both, the
scripts must not need it to), for each ``control`` with and without a custom main config:

- ``install_site``, ``publish_site`` and ``reload`` pass ``bash -n`` and ``shellcheck -s bash`` (each
  distinct script once, in two batches at once; without shellcheck this fails under ``CI=true`` and
  skips elsewhere);
- a hostile path reaches bash only quoted (inside single or double quotes, never as bare words);
- ``site_path`` names the file that ``install_site`` writes, with the controller's text byte for byte
  (run in bash, with a stand-in server).
"""
from __future__ import annotations

import dataclasses
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from wsgideploy.checks import is_abs_path, is_config_dir
from wsgideploy.inventory import Apache, Lighttpd, Nginx
from wsgideploy.modes import FRONT_SERVERS, FrontServer, front_server
from wsgideploy.settings import NGINX_CONTROLS, checks_of

from tests.unit.contract_scripts import (ALL_HOSTILE, METACHARACTERS, PLAIN, QUOTE, RID, ROOTS,
                                         shellcheck_findings, value_blind)

SITE_NAME = "hello"
HOSTILE_PART = {QUOTE: "neil", METACHARACTERS: "b&c", ALL_HOSTILE: "neil;a&b|c"}
SETTINGS_TYPES: dict[str, type] = {"nginx": Nginx, "apache": Apache, "lighttpd": Lighttpd}

BUILDERS: dict[str, Callable[[FrontServer, Any, str], str]] = {
    "install_site": lambda front, settings, root: front.install_site(settings, SITE_NAME, site_text(front, root)),
    "publish_site": lambda front, settings, root: front.publish_site(settings, SITE_NAME, site_text(front, root)),
    "reload": lambda front, settings, root: front.reload(settings),
}
# Each control with a custom main config (which makes `auto` use signals) and without one (sudo too).
VARIANTS = [(control, custom_conf) for control in NGINX_CONTROLS for custom_conf in (False, True)]
# shellcheck findings that are not the scripts' fault: functions of a recipe that this script does
# not call (SC2317), the prelude's deliberate `read ... && echo ... || true` (SC2015), and the site's
# text in single quotes, where `$host` or `$(...)` are meant literally (SC2016: nginx's variables).
IGNORED_CHECKS = ("SC2317", "SC2015", "SC2016")

def site_text(front: FrontServer, root: str) -> str:
    """A site's text as the controller sends it in the script (hostile too: it names the root)."""
    return f"# the {front.name} site of {SITE_NAME}, release {RID}, in {root}\n# it's $(here) `too` \\ \"x\"\n"


def path_keys(settings_type: type) -> list[str]:
    """The settings of a front server's table that are paths on the host."""
    return [key for key, check in checks_of(settings_type).items() if check in (is_abs_path, is_config_dir)]


def front_settings(proxy: str, root: str, control: str, custom_conf: bool, **extra: Any) -> Any:
    """The front server's settings with every path below ``root`` (``conf`` only when ``custom_conf``)."""
    settings_type = SETTINGS_TYPES[proxy]
    paths = {key: f"{root}/{proxy}/{key}" for key in path_keys(settings_type) if key != "conf" or custom_conf}
    settings = settings_type(**paths, control=control, sudo=not custom_conf, **extra)
    # Never this machine's own /etc: every folder a script writes into must be below root.
    for key in ("sites_available", "sites_enabled", "listen_dir"):
        assert str(getattr(settings, key, root)).startswith(root), f"{key} is not below the test's root"
    return settings


@cache
def composed(proxy: str, builder: str, control: str, custom_conf: bool, root: str) -> str:
    return BUILDERS[builder](front_server(proxy), front_settings(proxy, root, control, custom_conf), root)


CASES = [pytest.param(proxy, builder, control, custom_conf,
                      id=f"{proxy}-{builder}-{control}{'-conf' if custom_conf else ''}")
         for proxy in FRONT_SERVERS for builder in BUILDERS for control, custom_conf in VARIANTS]


def test_every_front_server_has_settings_here() -> None:
    assert set(SETTINGS_TYPES) == set(FRONT_SERVERS)


def syntax_errors(texts: list[str]) -> dict[str, str]:
    """``bash -n`` over each distinct script of ``texts``, all in one shell: {script: bash's complaint,
    or "" when it parses}."""
    distinct = list(dict.fromkeys(texts))
    with tempfile.TemporaryDirectory() as folder:
        for index, text in enumerate(distinct):
            Path(folder, f"{index}.sh").write_text(text)
        checked = subprocess.run(["bash", "-c", 'for f in *.sh; do bash -n "$f" 2>&1 | sed "s|^|$f: |"; done'],
                                 cwd=folder, capture_output=True, text=True, timeout=120, check=True).stdout
    errors: dict[str, str] = {}
    for line in checked.splitlines():
        name, _, complaint = line.partition(": ")
        errors[name] = errors.get(name, "") + complaint + "\n"
    return {text: errors.get(f"{index}.sh", "") for index, text in enumerate(distinct)}


@pytest.fixture(scope="module")
def bash_syntax_errors() -> dict[str, str]:
    """`syntax_errors` of every composed script of every root."""
    return syntax_errors([composed(*case.values, root) for case in CASES for root in ROOTS])


@pytest.mark.parametrize("root", ROOTS)
@pytest.mark.parametrize("proxy, builder, control, custom_conf", CASES)
def test_every_script_passes_bash_syntax_check(bash_syntax_errors: dict[str, str], proxy: str, builder: str,
                                               control: str, custom_conf: bool, root: str) -> None:
    text = composed(proxy, builder, control, custom_conf, root)
    assert text.startswith("set -eu\nfail() {")
    assert bash_syntax_errors[text] == ""


def test_the_batched_syntax_check_names_the_broken_script() -> None:
    good = composed("lighttpd", "reload", "auto", False, PLAIN)
    broken = good.replace('lighttpd_alive "$1"; }', "{ ; }", 1)
    found = syntax_errors([good, broken, good])
    assert found[good] == "" and "syntax error" in found[broken]


# --- hostile paths only quoted -----------------------------------------------------------------------


def quoted_positions(text: str) -> list[bool]:
    """For each character of a bash script, whether bash reads it inside quotes (single, double, $'...',
    or a here-document's body, which bash reads as if double-quoted). Comments count as quoted: bash
    never runs them. A command substitution ``$(...)`` inside double quotes or a here-document is code."""
    quoted = [False] * len(text)
    stack: list[tuple[str, int]] = [("code", 0)]  # (state, open parentheses of a $(...))
    pending_heredocs: list[str] = []
    heredoc_end = ""
    i = 0
    while i < len(text):
        state, depth = stack[-1]
        char = text[i]
        if state == "heredoc":
            end = text.find("\n", i)
            line = text[i:end if end >= 0 else len(text)]
            if line.strip("\t") == heredoc_end:
                stack.pop()
                i += len(line)
                continue
            if char == "$" and text.startswith("$(", i):
                stack.append(("code", 1))
                i += 2
                continue
            quoted[i] = True
            i += 1
            continue
        if state in ("single", "ansi"):
            quoted[i] = True
            if state == "ansi" and char == "\\":
                quoted[i:i + 2] = [True] * len(quoted[i:i + 2])
                i += 2
                continue
            if char == "'":
                stack.pop()
            i += 1
            continue
        if state == "double":
            quoted[i] = True
            if char == "\\":
                quoted[i:i + 2] = [True] * len(quoted[i:i + 2])
                i += 2
            elif char == '"':
                stack.pop()
                i += 1
            elif text.startswith("$(", i):
                stack.append(("code", 1))
                i += 2
            else:
                i += 1
            continue
        # code
        if char == "\\":
            i += 2
            continue
        if char == "\n":
            if pending_heredocs:
                heredoc_end = pending_heredocs.pop(0)
                stack.append(("heredoc", 0))
            i += 1
            continue
        if char == "#" and (i == 0 or text[i - 1] in " \t\n;"):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            quoted[i:end] = [True] * (end - i)
            i = end
            continue
        if text.startswith("$'", i):
            stack.append(("ansi", 0))
            i += 2
            continue
        if char == "'":
            stack.append(("single", 0))
        elif char == '"':
            stack.append(("double", 0))
        elif text.startswith("<<<", i):  # a here-string: a word like any other
            i += 3
            continue
        elif text.startswith("<<", i):
            j = i + 2 + (text[i + 2:i + 3] == "-")
            word = text[j:].split(None, 1)[0] if text[j:].strip() else ""
            pending_heredocs.append(word.strip("'\""))
            i = j + len(word)
            continue
        elif len(stack) > 1 and char == "(":
            stack[-1] = ("code", depth + 1)
        elif len(stack) > 1 and char == ")":
            if depth == 1:
                stack.pop()
            else:
                stack[-1] = ("code", depth - 1)
        i += 1
    return quoted


def test_the_quote_reader_knows_quotes_comments_and_here_documents() -> None:
    text = ("echo '/a;b' \"/c;d\" /e;f # it's /g;h\ncat <<EOF\n/i;j $(echo /k;l)\nEOF\nread -r x <<< \"$y\"\n"
            "x=\"$(printf '%s' /m;n)\" 'o'\"'\"'p;q'\n")
    quoted = quoted_positions(text)
    inside = {word: all(quoted[text.index(word):text.index(word) + len(word)])
              for word in ("a;b", "c;d", "e;f", "g;h", "i;j", "k;l", "m;n", "p;q")}
    assert inside == {"a;b": True, "c;d": True, "e;f": False, "g;h": True, "i;j": True, "k;l": False,
                      "m;n": False, "p;q": True}


@pytest.mark.parametrize("root", [QUOTE, METACHARACTERS])
@pytest.mark.parametrize("proxy, builder, control, custom_conf", CASES)
def test_a_hostile_path_reaches_bash_only_quoted(proxy: str, builder: str, control: str, custom_conf: bool,
                                                 root: str) -> None:
    text = composed(proxy, builder, control, custom_conf, root)
    quoted = quoted_positions(text)
    part, start, found = HOSTILE_PART[root], 0, 0
    while (at := text.find(part, start)) >= 0:
        line_start = text.rfind("\n", 0, at) + 1
        line = text[line_start:text.find("\n", at)]
        assert all(quoted[at:at + len(part)]), f"a hostile path outside quotes: {line}"
        found += 1
        start = at + len(part)
    assert found > 0 or builder == "reload", "the site's text (which names the root) is in every site script"


# --- shellcheck --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def findings_by_script() -> dict[str, list[str]]:
    """Every composed script of the all-hostile root through shellcheck (`shellcheck_findings`)."""
    return shellcheck_findings((composed(*case.values, ALL_HOSTILE) for case in CASES), IGNORED_CHECKS)


@pytest.mark.parametrize("proxy, builder, control, custom_conf", CASES)
def test_every_script_passes_shellcheck(findings_by_script: dict[str, list[str]], proxy: str, builder: str,
                                        control: str, custom_conf: bool) -> None:
    text = composed(proxy, builder, control, custom_conf, ALL_HOSTILE)
    lines = text.splitlines()
    findings = findings_by_script[value_blind(text)]
    assert findings == [], "\n".join(f"{f}\n    {lines[int(f.split(':')[0]) - 1]}" for f in findings)


# --- site_path -----------------------------------------------------------------------------------------


@pytest.fixture
def stand_in_server(tmp_path: Path) -> Iterator[str]:
    """A front server's command that accepts every config and prints nothing: ``<tmp>/bin/stand-in``."""
    binary = tmp_path / "bin" / "stand-in"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    yield str(binary)


@pytest.mark.parametrize("root_name", ["o'neil", "a;b&c|d"])
@pytest.mark.parametrize("proxy", list(FRONT_SERVERS))
def test_site_path_names_the_file_install_site_writes(tmp_path: Path, stand_in_server: str, proxy: str,
                                                      root_name: str) -> None:
    front = front_server(proxy)
    root = str(tmp_path / root_name)
    settings = dataclasses.replace(front_settings(proxy, root, "signal", custom_conf=True),
                                   binary=stand_in_server)
    for key in path_keys(type(settings)):
        if key in ("sites_available", "sites_enabled", "listen_dir"):
            Path(getattr(settings, key)).mkdir(parents=True)
    text = site_text(front, root)
    result = subprocess.run(["bash", "-c", front.install_site(settings, SITE_NAME, text)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert Path(front.site_path(settings, SITE_NAME)).read_text() == text, "the controller's bytes, exactly"
