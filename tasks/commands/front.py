"""What the builders of the front servers with recipes share (nginx.py, lighttpd.py): the shell
functions that differ per ``control``, written before their recipe (``tasks/recipes/<server>.sh``)."""
from __future__ import annotations


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
