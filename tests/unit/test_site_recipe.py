"""A front server's site install (``tasks/recipes/site.sh``, shared by nginx and lighttpd), run in bash.

A stand-in ``site_test`` plays the server's test of its whole config: it rejects a site that says ``bad``.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from wsgideploy.commands.recipe import Script

STAND_IN = """
as_root() { "$@"; }
root_install() { install -m 0644 /dev/stdin "$1"; }
site_test() { if grep -q bad "$SITE_AVAILABLE"; then echo "emerg: the site is bad"; return 1; fi; }
"""


class Sites:
    """The sites folders of one fake host; a new site is its text, as the controller sends it."""

    def __init__(self, root: Path) -> None:
        self.available_dir, self.enabled_dir = root / "available", root / "enabled"
        self.available_dir.mkdir()
        self.enabled_dir.mkdir()
        self.available, self.enabled = self.available_dir / "hello", self.enabled_dir / "hello"
        self.kept = self.available_dir / "hello.wsgideploy-live"

    def enable(self, text: str) -> None:
        self.available.write_text(text)
        self.enabled.symlink_to(self.available)

    def install(self, new_site: str) -> subprocess.CompletedProcess[str]:
        values: dict[str, str | int] = {
            "SITE_AVAILABLE": str(self.available), "SITE_ENABLED": str(self.enabled),
            "SITE_KEPT": str(self.kept), "SITE_TEXT": new_site,
            "SITES_LABEL": "nginx sites directory", "SITE_TEST_LABEL": "nginx -t"}
        text = Script("site_install", values, ("process", "site"), STAND_IN).text()
        return subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def sites(tmp_path: Path) -> Sites:
    return Sites(tmp_path)


def test_an_accepted_site_goes_in_enabled_and_no_copy_stays(sites: Sites) -> None:
    sites.enable("old site\n")
    done = sites.install("new site\n")
    assert done.returncode == 0, done.stderr
    assert sites.available.read_text() == "new site\n" and sites.enabled.resolve() == sites.available
    assert not sites.kept.exists() and not Path(f"{sites.available}.tmp").exists()


def test_a_first_site_goes_in_and_is_enabled(sites: Sites) -> None:
    done = sites.install("new site\n")
    assert done.returncode == 0, done.stderr
    assert sites.available.read_text() == "new site\n" and sites.enabled.resolve() == sites.available


def test_a_rejected_site_puts_the_previous_one_back_and_fails_with_the_servers_words(sites: Sites) -> None:
    sites.enable("old site\n")
    done = sites.install("bad site\n")
    assert done.returncode == 1
    assert "emerg: the site is bad" in done.stderr
    assert ("nginx -t rejected the new site; the previous config was put back and nginx was not reloaded"
            in done.stderr)
    assert sites.available.read_text() == "old site\n" and sites.enabled.resolve() == sites.available
    assert not sites.kept.exists()


def test_a_rejected_first_site_leaves_no_site_and_no_link(sites: Sites) -> None:
    done = sites.install("bad site\n")
    assert done.returncode == 1
    assert not sites.available.exists() and not sites.enabled.is_symlink()


def test_a_missing_sites_folder_fails_before_anything_changes(sites: Sites) -> None:
    sites.enabled_dir.rmdir()
    done = sites.install("new site\n")
    assert done.returncode == 1
    assert done.stderr.strip() == f"nginx sites directory {sites.enabled_dir} does not exist on the host"
    assert not sites.available.exists()
