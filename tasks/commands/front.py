"""What every front server is (`FrontServer`), and what their builders share: the shell functions
that differ per ``control``, written before their recipe (``tasks/recipes/<server>.sh``)."""
from __future__ import annotations

from typing import Any, ClassVar


class FrontServer:
    """A front server (an inventory ``proxy`` value). Every method but `site_path` returns a shell script.

    ``publish_site`` installs the site, tests the whole config and applies it, checking that the
    server took it (the previous site back otherwise); ``install_site`` installs and tests it only;
    ``reload`` applies the config as it is; ``site_path`` says where ``install_site`` puts the site
    (``plan`` reads it there). ``settings`` is the inventory's table of this server
    (``[nginx]``, ``[apache]``, ``[lighttpd]``).
    """

    name: ClassVar[str]            # the inventory's ``proxy`` value, and the name of its settings table
    site_template: ClassVar[str]   # rendered into releases/<id>/.wsgideploy/<site_file>
    site_file: ClassVar[str]

    def site_path(self, settings: Any, site_name: str) -> str:
        raise NotImplementedError

    def install_site(self, settings: Any, site_name: str, rendered_path: str) -> str:
        raise NotImplementedError

    def publish_site(self, settings: Any, site_name: str, rendered_path: str) -> str:
        raise NotImplementedError

    def reload(self, settings: Any) -> str:
        raise NotImplementedError


def as_root_function(sudo: bool) -> str:
    """``as_root CMD...``: CMD through ``sudo -n`` when the inventory asks for it."""
    return f"as_root() {{ {'sudo -n ' if sudo else ''}\"$@\"; }}"


def per_control(control: str, custom_conf: bool, *, common: str, systemd: str, signal: str) -> str:
    """``common``, then the ``systemd`` or the ``signal`` functions for ``control``.

    ``auto`` uses systemd where it runs (``/run/systemd/system``, decided on the host) and no custom main
    config is set: a server run from its own config is not the one systemd's unit starts.
    """
    if control == "signal" or (control == "auto" and custom_conf):
        return common + signal
    if control == "systemd":
        return common + systemd
    return common + "\nif [ -d /run/systemd/system ]; then" + systemd + "\nelse" + signal + "\nfi"
