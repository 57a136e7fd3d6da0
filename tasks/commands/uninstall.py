"""What ``uninstall`` runs on a host, after the app server's own ``stop`` and the front server's
``remove_site``: the app's unit files, its logrotate snippet, and its files under the root
(``tasks/recipes/uninstall.sh``; docs/uninstall.md). Pure builders, str in, str out.

Root removes exactly the files `privileged.py` declares (``rm -f`` of each unit file and of the
snippet, ``rm -rf --one-file-system -- <root>`` for ``--purge``); nothing is removed by a pattern.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..layout import Layout
from .logs import LOGROTATE_PREFIX
from .recipe import Script
from .systemd import SLOTS, UNIT_DIR, instance, process_unit, unit_name

if TYPE_CHECKING:
    from ..settings import App

RECIPES = ("process", "uninstall")


def unit_files(app_name: str, processes: Sequence[str]) -> list[str]:
    """The app's unit files in `UNIT_DIR`: its template unit, and one per ``[processes]`` name."""
    return [unit_name(app_name)] + [process_unit(app_name, name) for name in processes]


def logrotate_file(app: App) -> str:
    """``<logrotate>/wsgideploy-<app>``, or ``""`` without ``[app] logrotate``."""
    return f"{app.logrotate}/{LOGROTATE_PREFIX}{app.name}" if app.logrotate else ""


def _values(app: App, layout: Layout, processes: Sequence[str], purge: bool) -> dict[str, str | int]:
    instances = [instance(app.name, slot) for slot in SLOTS] + [process_unit(app.name, p) for p in processes]
    return {"unit_dir": UNIT_DIR, "unit_files": " ".join(unit_files(app.name, processes)),
            "instances": " ".join(instances), "logrotate_file": logrotate_file(app),
            "root": layout.root, "purge": int(purge)}


def remove_units(app: App, layout: Layout, processes: Sequence[str]) -> str:
    """Remove the app's unit files (``daemon-reload`` after; the instances' failed state reset)."""
    return Script("remove_units", _values(app, layout, processes, False), RECIPES).text()


def remove_logrotate(app: App, layout: Layout) -> str:
    """Remove the app's logrotate snippet."""
    return Script("remove_logrotate", _values(app, layout, (), False), RECIPES).text()


def remove_files(app: App, layout: Layout, purge: bool) -> str:
    """Remove the releases, venvs, ``current``, the slots' links and ``.deploy`` (the lock with it);
    ``shared/`` stays unless ``purge``, which removes the whole root."""
    return Script("remove_app_files", _values(app, layout, (), purge), RECIPES).text()


def facts(app: App, layout: Layout) -> str:
    """Read-only: the facts ``root`` (``present`` or ``absent``) and ``current`` (the live release)."""
    return Script("uninstall_facts", _values(app, layout, (), False), RECIPES).text()
