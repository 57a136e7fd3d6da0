"""The app inside Debian's stock Apache: mod_wsgi (daemon mode), CGI, and FastCGI under mod_fcgid, on a
booted Debian 12 server (tests/servers): systemd, apache2 as packaged (mpm_event, mod_wsgi and mod_fcgid
enabled) with its default site on port 80, a ``deploy`` user; real ssh, real ``fab``, real HTTP from this
machine to the server. The server boots once for the module; each test deploys an app of its own (its own
name, root ``/srv/<name>``, site and port) with Debian's ``[apache]`` defaults. Every check is a real HTTP
request through that Apache:

- the example app's body and ``/info`` (its version, release and venv prefix);
- ``/static/style.css`` served by Apache's ``Alias``: the test copy of the app has Flask's own
  static route turned off, so only Apache can answer it;
- ``/noisy``: a route that print()s, and the app also prints at import time (which CGI does at
  every request): the responses must stay intact, the prints land in Apache's error logs;
- a new version with a new requirement (``six``, a new venv), then a rollback; for mod_wsgi and
  FastCGI both run under a bounded `RequestStream` and no request may fail (the site does not
  change, so Apache is not restarted: mod_wsgi's daemon processes restart through the touched
  ``.wsgi`` file, mod_fcgid starts processes of the new ``app.fcgi``);
- a broken site template (an ``[app] templates`` override) fails ``apachectl -t``, the deploy
  exits 1, the old site files are back and keep serving, Apache was not restarted;
- a deploy that changes the site restarts Apache gracefully: measured and recorded, not claimed
  as zero downtime (see docs/modes/mod_wsgi.md);
- status, stop, start and restart (mod_wsgi: the site is disabled and enabled, Apache keeps running with
  Debian's default site; CGI: nothing to do).

Not repeated here: a first deploy, a code-only change deployed under load with 0 failed requests and a
rollback, with apache2 and its default site fine after each step, for mod_wsgi and FastCGI
(test_stock_apache_modes.py) and CGI (test_stock_apache.py, which also covers mod_cgid's full restart).

Under ``CI=true`` a machine that cannot boot servers fails these tests (never a skip).
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.deploy_target import DeployTarget

from .booted_modes import Site, boot_module, sites, under_load
from .fabcli import EXAMPLE
from .helpers import copy_app
from .stock import APACHE_TABLE, get

# The load for mod_wsgi (as in test_zero_downtime.py): bounded in count and time.
THREADS = 8
RATE = 400.0             # requests per second, at most
MAX_SECONDS = 120.0
MIN_DURING_FAB = 200     # fewer requests while fab ran: the test could not have seen downtime
# A requirements deploy under that load took 19-25 s on the server beside other runs (45 s seen by
# test_zero_downtime.py): fab's timeout keeps warm-up + fab + tail inside MAX_SECONDS.
FAB_TIMEOUT = 100.0
APACHE_PIDFILE = "/run/apache2/apache2.pid"
MAIN_ERROR_LOG = "/var/log/apache2/error.log"
DEFAULT_PAGE = "Apache2 Debian Default Page"
# A port per test: a site left on the server (CGI has nothing to stop) keeps its port.
PORTS = {"mod_wsgi": 8081, "cgi": 8082, "fastcgi": 8083, "broken mod_wsgi": 8084, "broken cgi": 8085,
         "graceful": 8086, "fcgid runners": 8087}

NOISY_ROUTE = '''

print("hello prints at import time")


@app.route("/noisy")
def noisy():
    print("noisy route prints to stdout")
    import sys
    sys.stdout.write("and writes to sys.stdout\\n")
    return "quiet body"
'''

DEP_ROUTE = '''

@app.get("/dep")
def dep():
    import six
    return "six " + six.__version__
'''


def make_source(dest: Path, version: str, extra_requirements: tuple[str, ...] = ()) -> Path:
    """The example app without Flask's own static route, with a noisy route (and /dep with six)."""
    source = copy_app(EXAMPLE, dest, version=version, extra_requirements=extra_requirements)
    app_py = source / "app.py"
    text = app_py.read_text()
    assert "app = Flask(__name__)" in text
    text = text.replace("app = Flask(__name__)", "app = Flask(__name__, static_folder=None)")
    text = text.replace('\nif __name__ == "__main__":', NOISY_ROUTE + (DEP_ROUTE if extra_requirements else "")
                        + '\n\nif __name__ == "__main__":')
    app_py.write_text(text)
    return source


@pytest.fixture(scope="module")
def server() -> Iterator[DeployTarget]:
    """``apache``, booted over Debian's apache2 layer, its default site answering."""
    with boot_module({"apache": "apache2"}) as targets:
        target = targets["apache"]
        assert_apache_and_its_default_site_fine(target)
        yield target


class ApacheSite(Site):
    """One test's app in the server's Apache (``mode``: mod_wsgi, cgi or fastcgi)."""

    mode: str
    tmp_path: Path

    @property
    def name(self) -> str:
        return Path(self.target.app_root).name

    @property
    def site_file(self) -> str:
        return f"/etc/apache2/sites-available/{self.name}.conf"

    @property
    def listen_file(self) -> str:
        return f"/etc/apache2/conf-enabled/wsgideploy-{self.name}.conf"

    def logs(self) -> str:
        """The site's error log, then Apache's main error log."""
        return self.target.run(f"cat /var/log/apache2/{self.name}.error.log {MAIN_ERROR_LOG} "
                               "2>/dev/null || true")


@pytest.fixture
def make_site(server: DeployTarget, write_inventory, tmp_path) -> Iterator[Callable[..., ApacheSite]]:
    """``make_site(mode, name, port)``: the v1 source of an app of its own in the server's Apache."""
    def write(target: DeployTarget, source: Path, port: int, app: dict[str, Any]) -> Path:
        return write_inventory("test", app=target.app_table(source, proxy="apache", listen=port, **app),
                               hosts={target.alias: target.host_table()}, vars={"workers": 2, "threads": 4},
                               extra={"apache": APACHE_TABLE})

    with sites(write) as make:
        def make_site(mode: str, name: str, port: int) -> ApacheSite:
            site = make(server, name, port, make_source(tmp_path / "hello-v1", "1.0.0"), server=mode)
            site.__class__ = ApacheSite
            site.mode, site.tmp_path = mode, tmp_path
            return site
        yield make_site


def apache_pid(target: DeployTarget) -> int:
    return int(target.read(APACHE_PIDFILE).strip())


def assert_apache_and_its_default_site_fine(target: DeployTarget) -> None:
    assert target.run("systemctl is-active apache2", check=False).strip() == "active"
    status, body = get(target.address, 80)
    assert status == 200 and DEFAULT_PAGE in body, f"Debian's default site: {status} {body[:200]}"


def assert_serves(site: ApacheSite, version: str) -> dict[str, Any]:
    status, body = site.get("/")
    assert status == 200 and f"version {version}" in body, (status, body[:500], site.logs()[-2000:])
    info = site.info()
    assert info["version"] == version
    # /info says which venv runs the app: the release's own, resolved from <root>/current/venv.
    assert info["prefix"].startswith(f"{site.target.app_root}/venvs/"), info
    assert info["release"] == site.target.live_release()
    return info


def assert_static_and_print(site: ApacheSite) -> None:
    status, css = site.get("/static/style.css")
    assert status == 200 and "wsgideploy hello static" in css, (status, css[:300])
    status, body = site.get("/noisy")
    assert (status, body) == (200, "quiet body"), (status, body[:500])
    if site.mode == "fastcgi":
        return  # where a FastCGI runner's stdout goes is the runner's business (docs/modes/fastcgi.md)
    # The prints went to Apache's error log, not into the response: the site's (mod_wsgi, mod_cgi),
    # or Apache's main one (mod_cgid, where a host loads it, logs its scripts' stderr there).
    deadline = time.monotonic() + 5
    while "noisy route prints to stdout" not in site.logs() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "noisy route prints to stdout" in site.logs(), site.logs()[-2000:]


def refused(site: ApacheSite, seconds: float = 10) -> bool:
    """Whether the site's port refuses connections within ``seconds`` (Apache no longer listens there)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            site.get("/")
        except OSError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def check_status_stop_start_restart(site: ApacheSite) -> None:
    """The server commands on a server where release 1.0.0 of the site is live."""
    target = site.target
    out = site.fab("status").stdout
    assert f"running, pid {apache_pid(target)}" in out and "app answers  yes" in out, out
    if site.mode == "cgi":
        for action, says in (("stop", "nothing to stop"), ("start", "nothing to start"),
                             ("restart", "nothing to reload")):
            assert says in site.fab(action).stdout
            assert_serves(site, "1.0.0")
        return
    pid = apache_pid(target)
    out = site.fab("stop").stdout
    assert not target.exists(f"/etc/apache2/sites-enabled/{site.name}.conf")
    assert not target.exists(site.listen_file)
    # Debian's Apache has other sites (its default one on port 80): it keeps running without this one.
    assert "stopped (site disabled; Apache keeps running)" in out, out
    assert refused(site), "Apache still listens on the stopped site's port"
    assert apache_pid(target) == pid and target.pid_alive(pid)
    assert_apache_and_its_default_site_fine(target)
    out = site.fab("status").stdout
    assert "stopped" in out and "app answers  no" in out, out
    assert "started" in site.fab("start").stdout
    assert_serves(site, "1.0.0")
    assert "already running" in site.fab("start").stdout
    assert "reloaded" in site.fab("restart").stdout
    assert_serves(site, "1.0.0")
    assert_apache_and_its_default_site_fine(target)


def fab_under_load(site: ApacheSite, label: str, args: tuple[str, ...], record_property) -> str:
    """Run ``fab <args>`` while a bounded `RequestStream` asks for /info through Apache; assert
    that no request failed and that every response started after fab returned is the live release."""
    run = under_load(site.target, site.port, lambda: site.fab(*args, timeout=FAB_TIMEOUT).stdout,
                     f"{site.mode} {label}", record_property, threads=THREADS, rate=RATE,
                     max_seconds=MAX_SECONDS, min_during=MIN_DURING_FAB, min_after=10)
    release = site.info()["release"]
    wrong = [r for r in run.after if json.loads(r.detail).get("release") != release]
    assert run.after and not wrong, (release, [r.detail for r in wrong[:5]])
    return run.output


@pytest.mark.parametrize("mode", ["mod_wsgi", "cgi", "fastcgi"])
def test_deploy_new_requirement_and_rollback_through_apache(mode, make_site, record_property):
    """mod_wsgi, and FastCGI under mod_fcgid, deploy and roll back under load with no failed
    request. CGI has nothing to reload (a process per request, each one a Python start and
    an import of the app), so it is not measured under load: see docs/modes/cgi.md."""
    site = make_site(mode, mode.replace("_", ""), PORTS[mode])
    target = site.target
    under = mode in ("mod_wsgi", "fastcgi")
    out = site.fab("deploy").stdout
    assert "health" in out and ("apache reloaded" in out or "apache restarted" in out), out
    first = assert_serves(site, "1.0.0")
    assert_static_and_print(site)
    assert site.get("/dep")[0] == 404
    assert re.search(rf"^Listen (\S+:)?{site.port}$", target.read(site.listen_file), re.MULTILINE)
    assert target.resolve(f"/etc/apache2/sites-enabled/{site.name}.conf") == site.site_file
    pid = apache_pid(target)

    # FastCGI's venv handling is the fastcgi mode's own (test_mode_fastcgi.py): here, a new
    # version in the same venv shows that mod_fcgid serves the new release.
    new_requirement = mode != "fastcgi"
    site.point_at(make_source(site.tmp_path / "hello-v2", "2.0.0",
                              extra_requirements=("six",) if new_requirement else ()))
    label = "requirements deploy" if new_requirement else "code deploy"
    out = fab_under_load(site, label, ("deploy",), record_property) if under else site.fab("deploy").stdout
    # The same site file: Apache is not restarted, the app server reloads itself.
    assert "site unchanged, apache left alone" in out, out
    assert apache_pid(target) == pid, "Apache must not be restarted when its site did not change"
    second = assert_serves(site, "2.0.0")
    assert second["release"] != first["release"]
    if new_requirement:
        assert second["prefix"] != first["prefix"], "a requirements change must run in a new venv"
        status, body = site.get("/dep")
        assert status == 200 and body.startswith("six "), (status, body[:300])
    else:
        assert second["prefix"] == first["prefix"]
    assert_static_and_print(site)

    if under:
        fab_under_load(site, "rollback", ("rollback",), record_property)
    else:
        site.fab("rollback")
    assert apache_pid(target) == pid
    back = assert_serves(site, "1.0.0")
    assert (back["prefix"], back["release"]) == (first["prefix"], first["release"])
    assert site.get("/dep")[0] == 404
    assert_apache_and_its_default_site_fine(target)


def runner_pids(site: ApacheSite, version: str, requests: int = 12) -> set[int]:
    """The pids of the mod_fcgid runners that answer ``requests`` requests, all of ``version``."""
    infos = [assert_serves(site, version) for _ in range(requests)]
    return {info["pid"] for info in infos}


def stale_within(target: DeployTarget, pids: set[int], seconds: float) -> dict[int, str]:
    """Those of ``pids`` whose Python is not the live release's after ``seconds``, with their command line."""
    end = time.monotonic() + seconds
    while True:
        live = target.live_release()
        # one remote command for every pid: "<pid> <its command line>" for those still running
        lines = target.run("for p in " + " ".join(str(int(p)) for p in sorted(pids)) + "; do "
                           "a=$(tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null) && echo \"$p $a\"; done; true")
        argvs = {int(pid): argv for pid, _, argv in (line.partition(" ") for line in lines.splitlines()) if argv}
        stale = {pid: argv for pid, argv in argvs.items()
                 if f"/releases/{live}/venv/bin/python " not in argv + " "}
        if not stale or time.monotonic() > end:
            return stale
        time.sleep(0.1)


def test_mod_fcgid_runners_of_a_release_that_is_no_longer_live_run_the_live_one_within_a_second(make_site):
    """mod_fcgid keys its processes on the inode of the file a request resolved to, but starts one by the
    path through ``current``: a start asked for just before a switch ran the new release in the old
    file's class, and after a rollback to that file it answered with the newer release (seen under load,
    about one run in nine). A runner now serves only while ``current`` names its release: one of a
    release a deploy or a rollback leaves executes the live runner in its place (the same pid, the same
    socket), where it used to run the old code until FcgidIdleTimeout (300 s)."""
    site = make_site("fastcgi", "fcgidrunners", PORTS["fcgid runners"])
    site.fab("deploy")
    first = runner_pids(site, "1.0.0")
    site.point_at(make_source(site.tmp_path / "hello-v2", "2.0.0"))
    site.fab("deploy")
    assert not stale_within(site.target, first, 3.0), "the runners of the release the deploy left run it still"
    second = runner_pids(site, "2.0.0")
    site.fab("rollback")
    assert not stale_within(site.target, first | second, 3.0), "runners of 2.0.0 after the rollback"
    runner_pids(site, "1.0.0", requests=30)
    assert "executes /srv/fcgidrunners/current/.wsgideploy/app.fcgi" in site.logs()


@pytest.mark.parametrize("mode", ["mod_wsgi", "cgi"])
def test_a_broken_site_template_fails_configtest_then_status_stop_start(mode, make_site):
    """A site Apache rejects never goes live; then the server commands (on the same app, to
    build one venv less)."""
    site = make_site(mode, f"broken{mode.replace('_', '')}", PORTS[f"broken {mode}"])
    target = site.target
    site.fab("deploy")
    first = assert_serves(site, "1.0.0")
    installed = target.read(site.site_file)
    listen = target.read(site.listen_file)
    pid = apache_pid(target)

    overrides = site.tmp_path / "templates"
    (overrides / "apache").mkdir(parents=True)
    good = (Path(__file__).resolve().parents[2] / "templates/apache/site.conf.j2").read_text()
    (overrides / "apache/site.conf.j2").write_text(
        good.replace("</VirtualHost>", "    NoSuchDirective on\n</VirtualHost>"))
    (site.source / "app.py").write_text((site.source / "app.py").read_text().replace('"1.0.0"', '"1.0.1"'))
    inventory = site.inventories / "test.toml"
    good_inventory = inventory.read_text()
    inventory.write_text(good_inventory.replace('wsgi = "app:app"', f'wsgi = "app:app"\ntemplates = "{overrides}"'))

    result = site.fab("deploy", expect=1)
    output = result.stdout + result.stderr
    assert "NoSuchDirective" in output and "configtest rejected the new site" in output, output
    assert target.read(site.site_file) == installed
    assert target.read(site.listen_file) == listen
    assert not [n for n in target.listdir("/etc/apache2/sites-available") if n.endswith(".wsgideploy-previous")]
    assert apache_pid(target) == pid and target.pid_alive(pid)
    assert assert_serves(site, "1.0.0")["release"] == first["release"]
    releases = [n for n in target.listdir("releases") if not n.startswith(".")]
    assert releases == [first["release"]], "the release that failed its checks is removed"
    assert_apache_and_its_default_site_fine(target)

    inventory.write_text(good_inventory)
    check_status_stop_start_restart(site)


def test_mod_wsgi_a_site_change_is_a_graceful_restart_measured_not_zero_downtime(make_site, record_property):
    """A deploy that changes the site (here: more threads) needs a graceful restart of Apache, which
    restarts mod_wsgi's daemon processes too: requests they hold, or that arrive while their
    sockets are renewed, may fail with 500/503 (see docs/modes/mod_wsgi.md). So this measures and
    records, and asserts what graceful does keep: the Apache parent and its listening socket (no
    refused connection), and only the new config serving once fab returned."""
    site = make_site("mod_wsgi", "graceful", PORTS["graceful"])
    target = site.target
    site.fab("deploy")
    pid = apache_pid(target)
    inventory = site.inventories / "test.toml"
    inventory.write_text(inventory.read_text().replace("threads = 4", "threads = 5"))
    run = under_load(target, site.port, lambda: site.fab("deploy", timeout=FAB_TIMEOUT).stdout,
                     "site change (graceful)", record_property, threads=THREADS, rate=RATE,
                     max_seconds=MAX_SECONDS, min_during=1, min_after=1, fail_none=False)
    assert "site tested, apache reloaded" in run.output, run.output
    assert "threads=5" in target.read(site.site_file)
    assert apache_pid(target) == pid, "a graceful restart keeps the Apache parent"
    failures = run.stream.failures
    assert all(f.status in (500, 503) for f in failures), "graceful keeps the socket:\n" + run.stream.report()
    assert not [r for r in run.after if not r.ok], run.stream.report()
    assert_apache_and_its_default_site_fine(target)

