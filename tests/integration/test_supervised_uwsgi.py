"""uWSGI under systemd on a booted Debian 12 server behind Debian's nginx: a code deploy, a rollback
and a restart under load with 0 failed requests, ``kill -9`` of the main process undone within 10 s,
``stop`` and ``start`` (tests/integration/supervised.py, docs/supervision.md)."""
from __future__ import annotations

import shlex
import time

from .fabcli import EXAMPLE
from .helpers import ON_SERVER_GET, copy_app
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


# Run on the server as the deploy user: within one second, a request while the live link names no socket
# (nginx: connect() fails on both upstream entries), then the link back and more requests.
REFUSED_THEN_BACK = ON_SERVER_GET + r"""
link = sys.argv[1]
def point(target):
    os.symlink(target, link + ".t")
    os.rename(link + ".t", link)
live = os.readlink(link)
for attempt in range(10):
    time.sleep(1 - time.time() % 1)  # at the start of a second
    second = int(time.time())
    point("uwsgi.gone.sock")
    refused = {get() for _ in range(8)}  # new connections: each of nginx's workers keeps its own count
    point(live)
    back = {get() for _ in range(8)}
    if int(time.time()) == second:
        print(*sorted(refused), "then", *sorted(back))
        break
"""


def test_one_refused_connect_does_not_keep_nginx_from_the_socket_for_that_second(make_site, tmp_path):  # noqa: F811
    """The uWSGI upstream names the socket twice (a primary and a backup): nginx counts failures there
    (it ignores max_fails only for a single server), and ``fail_timeout=0`` let one refused connect mark
    both entries down until the second ends ("no live upstreams": 502 while the app answers). Seen right
    after ``start``, whose instance was up and checked while nginx still held an earlier 502 against it."""
    site = make_site("refused-uwsgi", 8304, copy_app(EXAMPLE, tmp_path / "v1", version="1.0.0"), server="uwsgi")
    site.fab("deploy")
    link = f"{site.target.app_root}/shared/run/uwsgi.sock"
    out = site.target.run_as_deploy(f"python3 -c {shlex.quote(REFUSED_THEN_BACK)} {site.port} {link}")
    assert out.split() == ["502", "then", "200"], out
