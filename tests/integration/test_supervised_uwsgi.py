"""uWSGI under systemd on a booted Debian 12 server behind Debian's nginx: a code deploy, a rollback
and a restart under load with 0 failed requests, ``kill -9`` of the main process undone within 10 s,
``stop`` and ``start`` (tests/integration/supervised.py, docs/supervision.md)."""
from __future__ import annotations

import time

from .fabcli import EXAMPLE
from .helpers import copy_app
from .supervised import live_unit, make_site, prove_mode, server  # noqa: F401  (fixtures)


def test_uwsgi_under_systemd_deploys_rolls_back_restarts_and_survives_kill_9(make_site, tmp_path,  # noqa: F811
                                                                              record_property):
    prove_mode("uwsgi", 8301, make_site, tmp_path, record_property)


def test_stop_right_after_a_crash_keeps_the_app_stopped(make_site, tmp_path):  # noqa: F811
    """``stop`` while systemd waits to restart a crashed instance (RestartSec) stops it for good: an
    instance that is not "active" yet (activating, auto-restart) used to be skipped, and came back."""
    site = make_site("crash-uwsgi", 8302, copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0"), server="uwsgi")
    site.fab("deploy")
    unit, pid = live_unit(site)
    site.target.run(f"kill -9 {pid}")
    site.fab("stop")  # within a second or so of the crash: systemd restarts it RestartSec=1 after
    time.sleep(4)  # past RestartSec and a start: a restart systemd still had in mind has happened by now
    states = {slot: site.target.run(f"systemctl is-active wsgideploy-crash-uwsgi@{slot}.service || true").strip()
              for slot in "ab"}
    assert not {"active", "activating", "reloading"} & set(states.values()), states
    assert site.get("/")[0] == 502
