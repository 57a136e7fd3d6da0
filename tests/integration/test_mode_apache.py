"""The app inside Apache: mod_wsgi (daemon mode), CGI, and FastCGI under mod_fcgid, over real
SSH with the real ``fab``.

Each test host gets its own Apache (`tests.hosts.apache.ApachePrefix`: its own ServerRoot,
config, pidfile and logs, modules from Debian's /usr/lib/apache2/modules), run as the deploy
user ``wsgitest`` without sudo on the host's own loopback port. Every check is a real HTTP
request through that Apache:

- the example app's body and ``/info`` (its version, release and venv prefix);
- ``/static/style.css`` served by Apache's ``Alias``: the test copy of the app has Flask's own
  static route turned off, so only Apache can answer it;
- ``/noisy``: a route that print()s, and the app also prints at import time (which CGI does at
  every request): the responses must stay intact, the prints land in Apache's error log;
- a new version with a new requirement (``six``, a new venv), then a rollback; for mod_wsgi and
  FastCGI both run under a bounded `RequestStream` and no request may fail (the site does not
  change, so Apache is not restarted: mod_wsgi's daemon processes restart through the touched
  ``.wsgi`` file, mod_fcgid starts processes of the new ``app.fcgi``);
- a broken site template (an ``[app] templates`` override) fails ``apachectl -t``, the deploy
  exits 1, the old site files are back and keep serving, Apache was not restarted;
- a deploy that changes the site restarts Apache gracefully: measured and recorded, not claimed
  as zero downtime (see docs/modes/mod_wsgi.md);
- status, stop, start and restart (mod_wsgi: the site is disabled and enabled; CGI: nothing to do).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from wsgideploy.inventory import APP_KEYS

from tests.hosts.apache import ApachePrefix
from tests.hosts.processes import pid_alive

from .fabcli import EXAMPLE, app_info, fab, hello_app_table
from .helpers import TestHost, copy_app, http_get
from .load import RequestStream

# The load for mod_wsgi (as in test_zero_downtime.py): bounded in count and time.
THREADS = 8
RATE = 400.0             # requests per second, at most
MAX_SECONDS = 75.0
MIN_DURING_FAB = 200     # fewer requests while fab ran: the test could not have seen downtime
TAIL_SECONDS = 1.5
FAB_TIMEOUT = 60.0

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


class ApacheSite:
    """One test host with its own Apache prefix, the inventory, and the source being deployed."""

    def __init__(self, host: TestHost, apache: ApachePrefix, server: str, tmp_path: Path,
                 write_inventory: Any) -> None:
        self.host, self.apache, self.server, self.tmp_path = host, apache, server, tmp_path
        self.write_inventory = write_inventory
        self.source = make_source(tmp_path / "hello-v1", "1.0.0")
        self.inventories = self.write(self.source)

    def write(self, source: Path, templates: Path | None = None) -> Path:
        app = hello_app_table(self.host, source, server=self.server, proxy="apache")
        if templates is not None:
            app["templates"] = str(templates)
        if "logrotate" in APP_KEYS:  # keep the test off the machine's /etc
            app["logrotate"] = False
        return self.write_inventory("test", app=app, hosts={"web1": self.host.host_table()},
                                    vars={"workers": 2, "threads": 4},
                                    extra={"apache": self.apache.table()})

    def fab(self, *args: str, expect: int | None = 0, timeout: float = 600):
        return fab(self.inventories, "-H", "web1", *args, expect=expect, timeout=timeout)

    def get(self, path: str = "/") -> tuple[int, str]:
        return http_get(self.host.http_port, path)

    def info(self) -> dict[str, Any]:
        return app_info(self.host.http_port)

    def logs(self) -> str:
        """The site's error log, then Apache's main error log."""
        main = self.apache.error_log
        return self.error_log + (main.read_text(errors="replace") if main.exists() else "")

    @property
    def error_log(self) -> str:
        path = self.host.app_root / "shared/log/apache.error.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def apache_site(make_host, write_inventory, tmp_path, request) -> Iterator[ApacheSite]:
    """A host, its Apache prefix and the v1 source, for ``request.param`` (mod_wsgi or cgi)."""
    host = make_host("web1")
    apache = ApachePrefix(host.base / "apache", owner=host.user)
    apache.prepare()
    try:
        yield ApacheSite(host, apache, request.param, tmp_path, write_inventory)
    finally:
        apache.stop()  # before the host's teardown, which fails on any process left under it


def assert_serves(site: ApacheSite, version: str) -> dict[str, Any]:
    status, body = site.get("/")
    assert status == 200 and f"version {version}" in body, (status, body[:500], site.error_log[-2000:])
    info = site.info()
    assert info["version"] == version
    # /info says which venv runs the app: the release's own, resolved from <root>/current/venv.
    assert info["prefix"].startswith(str(site.host.app_root / "venvs") + "/"), info
    assert info["release"] == (site.host.app_root / "current").resolve().name
    return info


def assert_static_and_print(site: ApacheSite) -> None:
    status, css = site.get("/static/style.css")
    assert status == 200 and "wsgideploy hello static" in css, (status, css[:300])
    status, body = site.get("/noisy")
    assert (status, body) == (200, "quiet body"), (status, body[:500])
    if site.server == "fastcgi":
        return  # where a FastCGI runner's stdout goes is the runner's business (docs/modes/fastcgi.md)
    # The prints went to Apache's error log, not into the response: the site's (mod_wsgi), or
    # Apache's main one (mod_cgid logs its scripts' stderr there).
    deadline = time.monotonic() + 5
    while "noisy route prints to stdout" not in site.logs() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "noisy route prints to stdout" in site.logs(), site.logs()[-2000:]


def check_status_stop_start_restart(site: ApacheSite) -> None:
    """The server commands on a host where release 1.0.0 is live."""
    out = site.fab("status").stdout
    assert f"running, pid {site.apache.pid}" in out and "app answers  yes" in out, out
    if site.server == "cgi":
        for action, says in (("stop", "nothing to stop"), ("start", "nothing to start"),
                             ("restart", "nothing to reload")):
            assert says in site.fab(action).stdout
            assert_serves(site, "1.0.0")
        return
    out = site.fab("stop").stdout
    assert not (site.apache.sites_enabled / "hello.conf").exists()
    assert not (site.apache.listen_dir / "wsgideploy-hello.conf").exists()
    # This Apache listened for this site only: without it Apache would exit at the reload,
    # so stop ends it gracefully (an Apache with other sites keeps running).
    assert "Apache, left with no other Listen, stopped too" in out, out
    deadline = time.monotonic() + 10
    while site.apache.pid is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert site.apache.pid is None
    with pytest.raises(OSError):
        site.get("/")
    out = site.fab("status").stdout
    assert "stopped" in out and "app answers  no" in out, out
    assert "started" in site.fab("start").stdout
    assert_serves(site, "1.0.0")
    assert "already running" in site.fab("start").stdout
    assert "reloaded" in site.fab("restart").stdout
    assert_serves(site, "1.0.0")


def fab_under_load(site: ApacheSite, label: str, args: tuple[str, ...], record_property) -> str:
    """Run ``fab <args>`` while a bounded `RequestStream` asks for /info through Apache; assert
    that no request failed and that every response started after fab returned is the live release."""
    stream = RequestStream(site.host.http_port, "/info", threads=THREADS, rate=RATE,
                           max_requests=int(RATE * MAX_SECONDS), max_seconds=MAX_SECONDS)
    with stream:
        time.sleep(0.5)
        fab_started = time.monotonic()
        out = site.fab(*args, timeout=FAB_TIMEOUT).stdout
        fab_returned = time.monotonic()
        time.sleep(TAIL_SECONDS)
    during = stream.started_between(fab_started, fab_returned)
    slowest = max((r.finished - r.started for r in stream.results), default=0.0)
    summary = (f"{site.server} {label}: {stream.count} requests, {len(during)} while fab ran "
               f"({fab_returned - fab_started:.1f}s), {len(stream.failures)} failed, slowest {slowest:.3f}s")
    print(summary)
    record_property(label, summary)
    assert len(during) >= MIN_DURING_FAB, f"too few requests to have seen downtime: {summary}"
    assert stream.failures == [], summary + "\n" + stream.report()
    live = site.info()
    after = stream.started_after(fab_returned)
    wrong = [r for r in after if json.loads(r.detail).get("release") != live["release"]]
    assert after and not wrong, (summary, live, [r.detail for r in wrong[:5]])
    return out


@pytest.mark.parametrize("apache_site", ["mod_wsgi", "cgi", "fastcgi"], indirect=True)
def test_deploy_new_requirement_and_rollback_through_apache(apache_site: ApacheSite, record_property):
    """mod_wsgi, and FastCGI under mod_fcgid, deploy and roll back under load with no failed
    request. CGI has nothing to reload (a process per request, each one a Python start and
    an import of the app), so it is not measured under load: see docs/modes/cgi.md."""
    site = apache_site
    under_load = site.server in ("mod_wsgi", "fastcgi")
    out = site.fab("deploy").stdout
    assert "health" in out and "apache started" in out, out
    first = assert_serves(site, "1.0.0")
    assert_static_and_print(site)
    assert site.get("/dep")[0] == 404
    listen_file = site.apache.listen_dir / "wsgideploy-hello.conf"
    assert f"Listen 127.0.0.1:{site.host.http_port}" in listen_file.read_text()
    assert (site.apache.sites_enabled / "hello.conf").resolve() == site.apache.sites_available / "hello.conf"
    apache_pid = site.apache.pid

    # FastCGI's venv handling is the fastcgi mode's own (test_mode_fastcgi.py): here, a new
    # version in the same venv shows that mod_fcgid serves the new release.
    new_requirement = site.server != "fastcgi"
    v2 = make_source(site.tmp_path / "hello-v2", "2.0.0", extra_requirements=("six",) if new_requirement else ())
    site.inventories = site.write(v2)
    label = "requirements deploy" if new_requirement else "code deploy"
    out = fab_under_load(site, label, ("deploy",), record_property) if under_load else site.fab("deploy").stdout
    # The same site file: Apache is not restarted, the app server reloads itself.
    assert "apache unchanged, not restarted" in out, out
    assert site.apache.pid == apache_pid, "Apache must not be restarted when its site did not change"
    second = assert_serves(site, "2.0.0")
    assert second["release"] != first["release"]
    if new_requirement:
        assert second["prefix"] != first["prefix"], "a requirements change must run in a new venv"
        status, body = site.get("/dep")
        assert status == 200 and body.startswith("six "), (status, body[:300])
    else:
        assert second["prefix"] == first["prefix"]
    assert_static_and_print(site)

    if under_load:
        fab_under_load(site, "rollback", ("rollback",), record_property)
    else:
        site.fab("rollback")
    assert site.apache.pid == apache_pid
    back = assert_serves(site, "1.0.0")
    assert (back["prefix"], back["release"]) == (first["prefix"], first["release"])
    assert site.get("/dep")[0] == 404


@pytest.mark.parametrize("apache_site", ["mod_wsgi", "cgi"], indirect=True)
def test_a_broken_site_template_fails_configtest_then_status_stop_start(apache_site: ApacheSite):
    """A site Apache rejects never goes live; then the server commands (on the same host, to
    build one venv less)."""
    site = apache_site
    site.fab("deploy")
    first = assert_serves(site, "1.0.0")
    installed = (site.apache.sites_available / "hello.conf").read_text()
    listen = (site.apache.listen_dir / "wsgideploy-hello.conf").read_text()
    apache_pid = site.apache.pid

    overrides = site.tmp_path / "templates"
    (overrides / "apache").mkdir(parents=True)
    good = (Path(__file__).resolve().parents[2] / "templates/apache/site.conf.j2").read_text()
    (overrides / "apache/site.conf.j2").write_text(
        good.replace("</VirtualHost>", "    NoSuchDirective on\n</VirtualHost>"))
    (site.source / "app.py").write_text((site.source / "app.py").read_text().replace('"1.0.0"', '"1.0.1"'))
    site.inventories = site.write(site.source, templates=overrides)

    result = site.fab("deploy", expect=1)
    output = result.stdout + result.stderr
    assert "NoSuchDirective" in output and "configtest rejected the new site" in output, output
    assert (site.apache.sites_available / "hello.conf").read_text() == installed
    assert (site.apache.listen_dir / "wsgideploy-hello.conf").read_text() == listen
    assert not list(site.apache.sites_available.glob("*.wsgideploy-previous"))
    assert site.apache.pid == apache_pid and pid_alive(apache_pid)
    assert assert_serves(site, "1.0.0")["release"] == first["release"]
    releases = sorted(p.name for p in (site.host.app_root / "releases").iterdir())
    assert releases == [first["release"]], "the release that failed its checks is removed"

    site.inventories = site.write(site.source)
    check_status_stop_start_restart(site)


@pytest.mark.parametrize("apache_site", ["mod_wsgi"], indirect=True)
def test_mod_wsgi_a_site_change_is_a_graceful_restart_measured_not_zero_downtime(apache_site: ApacheSite,
                                                                                 record_property):
    """A deploy that changes the site (here: more threads) needs ``apache2 -k graceful``, which
    restarts mod_wsgi's daemon processes too: requests they hold, or that arrive while their
    sockets are renewed, fail with 500/503 (0-2 per restart here; see docs/modes/mod_wsgi.md).
    So this measures and records, and asserts what graceful does keep: the Apache parent and its
    listening socket (no refused connection), and only the new config serving once fab returned."""
    site = apache_site
    site.fab("deploy")
    apache_pid = site.apache.pid
    inventory = site.inventories / "test.toml"
    inventory.write_text(inventory.read_text().replace("threads = 4", "threads = 5"))
    stream = RequestStream(site.host.http_port, "/info", threads=THREADS, rate=RATE,
                           max_requests=int(RATE * MAX_SECONDS), max_seconds=MAX_SECONDS)
    with stream:
        time.sleep(0.5)
        fab_started = time.monotonic()
        out = site.fab("deploy", timeout=FAB_TIMEOUT).stdout
        fab_returned = time.monotonic()
        time.sleep(TAIL_SECONDS)
    assert "site tested, apache reloaded" in out, out
    assert "threads=5" in (site.apache.sites_available / "hello.conf").read_text()
    assert site.apache.pid == apache_pid, "a graceful restart keeps the Apache parent"
    failures = stream.failures
    summary = (f"site change (graceful): {stream.count} requests, "
               f"{len(stream.started_between(fab_started, fab_returned))} while fab ran, {len(failures)} failed")
    print(summary)
    record_property("graceful", summary)
    assert all(f.status in (500, 503) for f in failures), "graceful keeps the socket:\n" + stream.report()
    assert not [r for r in stream.started_after(fab_returned) if not r.ok], stream.report()
    assert len(stream.started_after(fab_returned)) > 0
