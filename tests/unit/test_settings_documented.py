"""Every inventory key declared in settings.py is in docs/inventory.md's tables, with its default.

A key table in the doc is the first table under a heading that names the inventory table
(``## `[app]`: ...``). Its ``default`` cell is ``required`` for a required key, and starts
with the default as a TOML value in backticks (`` `80` ``, `` `"nginx"` ``, `` `[]` ``) for a
key with a default. A key whose default is none (its absence means something: "all
addresses", "SSH defaults"), or one that a file cannot spell (``url_prefix``), is described in
words there. The doc lists no key that is not declared.
"""
from __future__ import annotations

import dataclasses
import itertools
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from wsgideploy.inventory import HOST_TABLES, build, check_table
from wsgideploy.settings import (Apache, App, Health, Hook, Hooks, Host, Lighttpd, Nginx, ProxyFixCounts, Rollout, Ssh,
                                 Tls, default_of, is_required, settings_of)

DOC = Path(__file__).resolve().parents[2] / "docs" / "inventory.md"

# The doc's heading of each table, the class that declares its keys, and keys declared elsewhere.
TABLES = [
    ("[app]", App, {}),
    ("[app.tls]", Tls, {}),
    ("[hooks]", Hooks, {}),
    ("[rollout]", Rollout, {}),
    ("[nginx]", Nginx, {}),
    ("[apache]", Apache, {}),
    ("[lighttpd]", Lighttpd, {}),
    ("[ssh]", Ssh, {}),
    ("[hosts.<alias>]", Host, HOST_TABLES),
]
ALL_SETTINGS = [App, Health, Tls, ProxyFixCounts, Hook, Hooks, Rollout, Nginx, Apache, Lighttpd, Ssh, Host]


def key_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """The first table under each heading, by the heading's first `code` (``[app]``), as rows of cells by column."""
    tables: dict[str, list[dict[str, str]]] = {}
    heading, lines = None, text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#"):
            names = re.findall(r"`([^`]+)`", line)
            heading = names[0] if names else None
        elif line.startswith("|") and heading and heading not in tables:
            block = list(itertools.takewhile(lambda row: row.startswith("|"), lines[i:]))
            columns = [cell.strip() for cell in block[0].strip("|").split("|")]
            rows = [[cell.strip() for cell in row.strip("|").split("|")] for row in block[2:]]
            assert all(len(row) == len(columns) for row in rows), f"a row of {heading}'s table has a stray '|'"
            tables[heading] = [dict(zip(columns, row)) for row in rows]
    return tables


def documented_keys(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """Each key of a table's rows (a row may name several: `nginx`, `apache`) with its row."""
    return {key: row for row in rows for key in re.findall(r"`([^`]+)`", row["key"])}


def as_toml(value: Any) -> Any:
    """A declared default as the TOML value that writes it (a tuple is a list, a settings table a table)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return list(value) if isinstance(value, tuple) else value


def writable(cls: type, key: str) -> bool:
    """Whether the declared default of ``key`` passes its own check, so a stage file could spell it."""
    return settings_of(cls)[key].metadata["check"](as_toml(default_of(cls, key))) is None


def documented_default(cell: str) -> Any:
    """The TOML value in backticks that starts a default cell."""
    match = re.match(r"`([^`]+)`", cell)
    assert match, f"the default {cell!r} does not start with a TOML value in backticks"
    return tomllib.loads(f"value = {match.group(1)}")["value"]


DOCUMENTED = key_tables(DOC.read_text())
CASES = [pytest.param(heading, cls, key, id=f"{heading}.{key}")
         for heading, cls, _ in TABLES for key in settings_of(cls)]


@pytest.mark.parametrize("heading, cls, extra", [pytest.param(*t, id=t[0]) for t in TABLES])
def test_the_doc_table_lists_exactly_the_declared_keys(heading: str, cls: type, extra: dict[str, Any]) -> None:
    assert heading in DOCUMENTED, f"docs/inventory.md has no key table under a heading `{heading}`"
    assert set(documented_keys(DOCUMENTED[heading])) == set(settings_of(cls)) | set(extra)


@pytest.mark.parametrize("heading, cls, key", CASES)
def test_the_doc_gives_each_key_its_declared_default(heading: str, cls: type, key: str) -> None:
    cell = documented_keys(DOCUMENTED[heading])[key]["default"]
    field = settings_of(cls)[key]
    if is_required(field):
        assert cell == "required"
    elif default_of(cls, key) is None or field.metadata["optional"] or not writable(cls, key):
        assert cell and cell != "required"  # what its absence means, in words
    else:
        assert documented_default(cell) == as_toml(default_of(cls, key))


def test_the_proxy_fix_row_shows_the_counts_that_are_not_zero() -> None:
    cell = documented_keys(DOCUMENTED["[app]"])["proxy_fix"]["default"]
    assert documented_default(cell) == {key: n for key, n in as_toml(ProxyFixCounts()).items() if n}


def test_the_before_switch_row_names_every_key_of_a_hook() -> None:
    meaning = documented_keys(DOCUMENTED["[hooks]"])["before_switch"]["meaning"]
    assert all(f"{key} = " in meaning for key in settings_of(Hook))


@pytest.mark.parametrize("cls", ALL_SETTINGS, ids=lambda cls: cls.__name__)
def test_every_setting_has_a_check_and_one_line_of_doc(cls: type) -> None:
    for key, field in settings_of(cls).items():
        assert callable(field.metadata["check"]), key
        doc = field.metadata["doc"]
        assert doc and "\n" not in doc and len(doc) <= 100, key


@pytest.mark.parametrize("cls", ALL_SETTINGS, ids=lambda cls: cls.__name__)
def test_every_declared_default_can_be_written_in_a_stage_file(cls: type) -> None:
    unwritable = [key for key, field in settings_of(cls).items()
                  if not (is_required(field) or field.metadata["optional"] or default_of(cls, key) is None)
                  and not writable(cls, key)]
    assert unwritable == []


def test_build_fills_in_the_declared_defaults_and_keeps_a_list_as_a_tuple() -> None:
    assert build(Nginx, {}) == Nginx()
    assert build(Ssh, {"connect_timeout": 5}) == Ssh(connect_timeout=5.0)
    assert isinstance(build(Ssh, {"connect_timeout": 5}).connect_timeout, float)
    assert build(Hook, {"run": "true", "roles": ["web"]}) == Hook(run="true", roles=("web",))


def test_check_table_names_the_key_path_and_the_likely_key(tmp_path: Path) -> None:
    from wsgideploy.inventory import InventoryError
    with pytest.raises(InventoryError, match=r"hosts\.web1\.nginx\.sudoo: unknown key \(did you mean 'sudo'\?\)"):
        check_table(tmp_path / "p.toml", "hosts.web1.nginx", {"sudoo": True}, Nginx)
    with pytest.raises(InventoryError, match=r"app\.name: is required"):
        check_table(tmp_path / "p.toml", "app", {"wsgi": "app:app", "root": "/srv/a"}, App)
    check_table(tmp_path / "p.toml", "hosts.web1.app", {"root": "/srv/b"}, App, partial=True)
