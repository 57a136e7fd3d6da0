"""`[app] root` is the app's own folder: `uninstall --purge` removes it as root, so it can never be a
system folder, a folder that holds other things, or a path written to look like one."""
from __future__ import annotations

import pytest

from wsgideploy.checks import is_app_root

GOOD = ["/srv/hello", "/srv/hello/", "/opt/shop", "/home/deploy/apps/blog", "/var/www/site", "/tmp/pytest-1/app"]
BAD = {
    "/": "not '/' itself",
    "/srv": "not /srv itself",
    "/var/www": "not /var/www itself",
    "/home": "not /home itself",
    "/usr": "system folder /usr",
    "/usr/local/app": "system folder /usr",
    "/etc/app": "system folder /etc",
    "/var/lib/app": "system folder /var/lib",
    "/srv/../etc": "plainly",
    "/srv/./app": "plainly",
    "/srv//app": "plainly",
    "srv/app": "absolute",
}


@pytest.mark.parametrize("root", GOOD)
def test_an_own_folder_is_a_root(root: str) -> None:
    assert is_app_root(root) is None


@pytest.mark.parametrize("root,problem", BAD.items())
def test_system_shared_or_crooked_folders_are_refused(root: str, problem: str) -> None:
    found = is_app_root(root)
    assert found is not None and problem in found, found
