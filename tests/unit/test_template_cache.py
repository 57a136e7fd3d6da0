"""The compiled templates kept between runs (`template_cache`): used from a private folder only, checked
against the template's source, and never the reason a render fails."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import jinja2
import pytest

from wsgideploy import render, template_cache
from wsgideploy.layout import Layout
from wsgideploy.render import template_context

from .test_render import hello_app


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "wsgideploy" / "templates"


def fresh_environment(overrides: Path | None = None) -> jinja2.Environment:
    """What `render.environment` makes, not the one it keeps for the process (a new run, in effect)."""
    return render.environment.__wrapped__(overrides)  # type: ignore[attr-defined]


def configs(env: jinja2.Environment) -> dict[str, str]:
    context = template_context(hello_app(), Layout("/srv/hello"), "20261206T101500Z", "static", {})
    files = {name: render.render(name, context, env)
             for name in ("gunicorn.conf.py.j2", "nginx.site.conf.j2", "wsgideploy_entry.py.j2")}
    return files


def refuse_compiling(env: jinja2.Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    def compile_(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled a template the cache holds")
    monkeypatch.setattr(env, "compile", compile_)


def test_a_later_run_renders_from_the_cache_without_compiling(cache_home: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    first = configs(fresh_environment())
    entries = sorted(cache_home.iterdir())
    assert len(entries) >= 3  # the three, and the templates they include
    assert oct(os.stat(cache_home).st_mode & 0o777) == "0o700"
    later = fresh_environment()
    refuse_compiling(later, monkeypatch)
    assert configs(later) == first


def test_a_changed_template_is_compiled_again(cache_home: Path, tmp_path: Path) -> None:
    overrides = tmp_path / "templates"
    overrides.mkdir()
    (overrides / "logrotate.conf.j2").write_text("first {{ release_id }}\n")
    context = {"release_id": "r1"}
    assert render.render("logrotate.conf.j2", context, fresh_environment(overrides)) == "first r1\n"
    (overrides / "logrotate.conf.j2").write_text("second {{ release_id }}\n")
    assert render.render("logrotate.conf.j2", context, fresh_environment(overrides)) == "second r1\n"


def test_a_damaged_entry_is_compiled_again_and_replaced(cache_home: Path) -> None:
    expected = configs(fresh_environment())
    for entry in cache_home.iterdir():
        entry.write_bytes(entry.read_bytes()[:20])  # cut short inside the checksum's pickle
    assert configs(fresh_environment()) == expected
    assert all(entry.stat().st_size > 20 for entry in cache_home.iterdir())
    for entry in cache_home.iterdir():
        entry.write_bytes(b"")
    assert configs(fresh_environment()) == expected


def test_a_cache_that_cannot_be_written_changes_nothing(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = configs(fresh_environment())
    for entry in cache_home.iterdir():
        entry.unlink()

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", full_disk)
    assert configs(fresh_environment()) == expected
    assert list(cache_home.iterdir()) == []


@pytest.mark.parametrize("how", ["group-writable", "a link", "another user's", "not a folder"])
def test_a_folder_others_could_write_is_not_used(how: str, cache_home: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cache_home.parent.mkdir(parents=True)
    if how == "group-writable":
        cache_home.mkdir(mode=0o700)
        cache_home.chmod(0o770)
    elif how == "a link":
        target = tmp_path / "elsewhere"
        target.mkdir(mode=0o700)
        cache_home.symlink_to(target)
    elif how == "another user's":
        cache_home.mkdir(mode=0o700)
        monkeypatch.setattr(os, "geteuid", lambda: os.stat(cache_home).st_uid + 1)
    else:
        cache_home.write_text("")
    assert template_cache.bytecode_cache() is None
    assert configs(fresh_environment())  # rendered, compiled as before
    if how != "not a folder":
        assert list(Path(os.path.realpath(cache_home)).iterdir()) == []


def test_where_the_folder_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert template_cache.cache_folder() == tmp_path / "xdg" / "wsgideploy" / "templates"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec: ignored
    assert template_cache.cache_folder() == tmp_path / "home" / ".cache" / "wsgideploy" / "templates"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert template_cache.cache_folder() == tmp_path / "home" / ".cache" / "wsgideploy" / "templates"


def test_no_folder_that_can_be_made_means_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))  # under a file: mkdir fails
    assert template_cache.bytecode_cache() is None
    assert configs(fresh_environment())


def test_trim_keeps_the_entries_used_last(tmp_path: Path) -> None:
    for age, name in enumerate(["e", "d", "c", "b", "a"]):  # "a" is the oldest
        entry = tmp_path / f"__jinja2_{name}.cache"
        entry.write_text(name)
        os.utime(entry, (1_000_000 - age * 10, 1_000_000 - age * 10))
    (tmp_path / "other.txt").write_text("not an entry")
    template_cache.trim(tmp_path, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["__jinja2_c.cache", "__jinja2_d.cache",
                                                          "__jinja2_e.cache", "other.txt"]


def test_the_folder_keeps_at_most_keep_entries_and_a_read_marks_one_used(cache_home: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template_cache, "KEEP", 2)
    overrides = tmp_path / "templates"
    overrides.mkdir()
    for name in ("one", "two", "three"):
        (overrides / f"{name}.j2").write_text(name + " {{ release_id }}\n")
    env = fresh_environment(overrides)
    render.render("one.j2", {"release_id": "r"}, env)
    [one] = cache_home.iterdir()
    render.render("two.j2", {"release_id": "r"}, env)
    [two] = set(cache_home.iterdir()) - {one}
    os.utime(one, (1_000_000, 1_000_000))  # "one" was written before "two"
    os.utime(two, (1_000_010, 1_000_010))
    render.render("one.j2", {"release_id": "r"}, fresh_environment(overrides))  # read: "one" is used now
    render.render("three.j2", {"release_id": "r"}, fresh_environment(overrides))  # written: "two" goes
    later = fresh_environment(overrides)
    refuse_compiling(later, monkeypatch)
    assert render.render("one.j2", {"release_id": "r"}, later) == "one r\n"
    assert render.render("three.j2", {"release_id": "r"}, later) == "three r\n"
    assert len(list(cache_home.iterdir())) == 2 and one.exists() and not two.exists()
