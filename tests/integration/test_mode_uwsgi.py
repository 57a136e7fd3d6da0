"""uWSGI behind Debian's stock nginx (``server = "uwsgi"``), on a booted Debian 12 server (tests/servers):
systemd, Debian's nginx as installed with its default site on port 80, a ``deploy`` user; real ssh, real
``fab``, real HTTP from this machine to the server. The server boots once for the module; each test
deploys an app of its own (its own name, root ``/srv/<name>`` and port). uWSGI has no binary wheel and the
stock server no compiler: the lab binds the cached wheelhouse (`tests.servers.wheelhouse`) and the server's
pip takes uWSGI from it.

- a requirements change (a new venv, uWSGI again from the wheelhouse, not rebuilt), rollback, status, stop
  and start, nginx serving /static itself, the unix socket, pidfile, FIFO and per-worker ready markers;
- zero downtime under a bounded `RequestStream`: a requirements deploy and a rollback, each a chain
  reload of the same master, and a deploy that changes the [uwsgi] options (a full graceful reload): 0
  failed requests;
- an import error never goes live (the check before the switch), and a release whose workers cannot
  load after the switch is not reported as a success: it is rolled back;
- ``url_prefix = "/yourapplication"`` with an app factory: SCRIPT_NAME and url_for.

Not repeated here: a first deploy, a code-only change deployed under load with 0 failed requests and a
rollback, with nginx and its default site fine after each step, and uWSGI taken from the wheelhouse on the
first deploy: test_stock_nginx_modes.py::test_uwsgi_deploys_changes_under_load_and_rolls_back_behind_the_stock_nginx.

Under ``CI=true`` a machine that cannot boot servers fails these tests (never a skip).
"""
from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers.deploy_target import DeployTarget
from tests.servers.wheelhouse import MOUNT

from . import booted_modes
from .booted_modes import (
    LoadRun,
    assert_served_after,
    boot_module,
    children,
    live,
    pidfile,
    point_at,
    request,
    stop_app,
    under_load,
    wait_for_text,
)
from .fabcli import EXAMPLE
from .helpers import copy_app
from .load import RequestStream

# The load of test_zero_downtime.py: 8 threads, at most 500 requests a second, bounded.
# A uWSGI chain reload of 2 workers can make a whole `fab rollback` last about a second, so
# at least 200 requests (one every 2 ms at most) must start while fab runs. A requirements deploy
# under that load took 48 s on the server beside other runs: fab's timeout keeps warm-up + fab +
# tail inside MAX_SECONDS, so the stream never ends before the test stops it.
THREADS, RATE, MAX_SECONDS = 8, 500.0, 120.0
MIN_DURING_FAB, MIN_AFTER_FAB = 200, 30
FAB_TIMEOUT = 100.0


@pytest.fixture(scope="module")
def server() -> Iterator[DeployTarget]:
    """``uwsgi``, booted over Debian's nginx layer, its pip taking uWSGI from the wheelhouse."""
    with boot_module({"uwsgi": "nginx"}, wheelhouse=True) as targets:
        yield targets["uwsgi"]


class Site(booted_modes.Site):
    """One test's app on the server, and its uWSGI master and workers."""

    def master(self) -> int:
        return pidfile(self.target, "uwsgi.pid")

    def workers(self) -> set[int]:
        return children(self.target, self.master())


@pytest.fixture
def make_site(server: DeployTarget, write_inventory, tmp_path) -> Iterator[Callable[..., Site]]:
    """``make_site(name, port, source=None, **app)``: an app of its own on the server (the example app,
    1.0.0, unless ``source``); its uWSGI is stopped after the test."""
    made: list[Site] = []

    def make(name: str, port: int, source: Path | None = None, **app) -> Site:
        target = server.with_app(name)
        source = source or copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
        # uWSGI's own control through its pidfile and FIFO; under systemd: test_supervised_modes.py
        app.setdefault("supervisor", "none")
        table = target.app_table(source, name=name, server="uwsgi", proxy="nginx", listen=port, **app)
        inventories = write_inventory("test", app=table, hosts={target.alias: target.host_table()},
                                      nginx=target.front_table(), vars={"workers": 2})
        made.append(Site(target, port, inventories, source))
        return made[-1]

    yield make
    for site in made:
        stop_app(site.inventories, site.target)


def step_seconds(output: str, step: str) -> float | None:
    match = re.search(rf"\b{step}\s+ok\s+([0-9.]+)s", output)
    return float(match.group(1)) if match else None


def pip_log(target: DeployTarget, prefix: str) -> str:
    return target.read(f".deploy/pip-{Path(prefix).name}.log")


# --- upgrade, rollback, control --------------------------------------------------------------------


def test_a_new_venv_rollback_and_control_with_uwsgi(make_site, tmp_path, record_property):
    site = make_site("uwctl", 8081)
    target = site.target

    out = site.fab("deploy").stdout
    assert "uwsgi started" in out, out
    status, body = site.get("/")
    assert status == 200 and "version 1.0.0" in body
    first = site.info()
    assert (first["release"], first["prefix"]) == live(target)
    # uWSGI in the release's own venv; the socket nginx talks to is the unix one.
    assert target.exists(f"{first['prefix']}/bin/uwsgi")
    assert first["python"].startswith(f"{target.app_root}/current/venv"), first
    for name in ("uwsgi.pid", "uwsgi.fifo", "uwsgi.sock"):
        assert target.exists(f"shared/run/{name}"), name
    master = site.master()
    workers = site.workers()
    assert len(workers) == 2 and all(target.exists(f"shared/run/uwsgi.ready.{w}") for w in workers)

    status, css = site.get("/static/style.css")
    assert status == 200 and "wsgideploy hello static" in css
    # uWSGI writes the line after the response has gone out
    access = wait_for_text(target, "shared/log/uwsgi.access.log", "GET /info")
    assert "GET /info" in access, "uWSGI logs the requests it serves"
    assert "/static/style.css" not in access, "nginx must serve static files itself"

    # v2: a new requirement (a new venv with uWSGI again: from the wheelhouse, not rebuilt).
    v2 = copy_app(EXAMPLE, tmp_path / "hello-v2", version="2.0.0", extra_requirements=["six"])
    with open(v2 / "app.py", "a") as fh:
        fh.write("\n\n@app.get('/dep')\ndef dep():\n    import six\n    return 'six ' + six.__version__\n")
    point_at(site.inventories, site.source, v2)
    out2 = site.fab("deploy").stdout
    assert "chain-reloaded" in out2, out2
    assert "version 2.0.0" in site.get("/")[1]
    status, body = site.get("/dep")
    assert status == 200 and body.startswith("six "), "the new dependency must be importable"
    second = site.info()
    assert second["prefix"] != first["prefix"] and second["release"] != first["release"]
    assert (second["release"], second["prefix"]) == live(target)
    assert site.master() == master, "a deploy is a chain reload: the master stays"
    assert site.workers().isdisjoint(workers), "every worker was replaced"
    log2 = pip_log(target, second["prefix"])
    assert f"{MOUNT}/uwsgi-" in log2, log2[-2000:]
    assert not re.search(r"Building wheel for uwsgi", log2, re.IGNORECASE), (
        "the second venv rebuilt uWSGI instead of taking its wheel:\n" + log2[-2000:])
    summary = (f"uwsgi venv builds: first {step_seconds(out, 'venv')}s, second {step_seconds(out2, 'venv')}s "
               f"(uWSGI from the wheelhouse)")
    print(f"\n{summary}", file=sys.stderr)
    record_property("uwsgi_venv_builds", summary)

    site.fab("rollback")
    assert "version 1.0.0" in site.get("/")[1]
    back = site.info()
    assert (back["release"], back["prefix"]) == (first["release"], first["prefix"])
    assert site.get("/dep")[0] == 404

    out = site.fab("status").stdout
    assert f"uwsgi running, pid {master}" in out and "app answers  yes" in out, out

    # Graceful stop through the FIFO: master and workers gone, vacuum removed the files.
    kids = site.workers()
    out = site.fab("stop").stdout
    assert "uwsgi stopped" in out, out
    assert not target.pid_alive(master) and not any(target.pid_alive(k) for k in kids)
    for name in ("uwsgi.pid", "uwsgi.fifo", "uwsgi.sock"):
        assert not target.exists(f"shared/run/{name}"), name
    assert site.get("/")[0] == 502
    assert "uwsgi not running" in site.fab("stop").stdout

    site.fab("start")
    assert site.info()["version"] == "1.0.0"
    assert site.master() != master


# --- zero downtime -----------------------------------------------------------------------------------


def run_under_load(site: Site, args: tuple[str, ...], scenario: str, record_property) -> LoadRun:
    """``fab <args>`` under the bounded stream; asserts it was real and that no request failed."""
    return under_load(site.target, site.port, lambda: site.fab(*args, timeout=FAB_TIMEOUT).stdout,
                      f"zero-downtime uwsgi {scenario}", record_property, threads=THREADS, rate=RATE,
                      max_seconds=MAX_SECONDS, min_during=MIN_DURING_FAB, min_after=MIN_AFTER_FAB)


def test_requirements_deploy_rollback_and_an_options_change_under_load_fail_no_request(
        make_site, tmp_path, record_property):
    # A code-only deploy under load: test_stock_nginx_modes.py (the uwsgi test).
    site = make_site("uwzd", 8082)
    target = site.target
    site.fab("deploy")
    first = site.info()
    master = site.master()

    # 1. a new requirement: a new venv, picked up by the chain reload of the same master
    v2 = copy_app(EXAMPLE, tmp_path / "hello-v2", version="2.0.0", extra_requirements=["six"])
    point_at(site.inventories, site.source, v2)
    run = run_under_load(site, ("deploy",), "requirements deploy", record_property)
    assert "uwsgi chain-reloaded" in run.output, run.output
    release2, prefix2 = live(target)
    assert prefix2 != first["prefix"]
    assert target.run(f"ls {prefix2}/lib/python*/site-packages/six.py", check=False).strip(), "six is in the new venv"
    assert_served_after(run, "2.0.0", release2, prefix2)

    # 2. rollback to the first release, in its old venv
    run = run_under_load(site, ("rollback",), "rollback", record_property)
    assert "uwsgi chain-reloaded" in run.output, run.output
    assert live(target) == (first["release"], first["prefix"])
    assert_served_after(run, "1.0.0", first["release"], first["prefix"])
    assert site.master() == master, "every switch was a chain reload of the same master"

    # 3. new [uwsgi] options (3 workers instead of 2): a full graceful reload of the master
    app_py = v2 / "app.py"
    app_py.write_text(app_py.read_text().replace('VERSION = "2.0.0"', 'VERSION = "2.1.0"'))
    inventory = site.inventories / "test.toml"
    assert "workers = 2" in inventory.read_text()
    inventory.write_text(inventory.read_text().replace("workers = 2", "workers = 3"))
    run = run_under_load(site, ("deploy",), "uwsgi.ini change", record_property)
    assert "uwsgi reloaded (uwsgi.ini or uWSGI changed)" in run.output, run.output
    release4, prefix4 = live(target)
    assert prefix4 == prefix2
    assert_served_after(run, "2.1.0", release4, prefix4)
    assert site.master() == master and len(site.workers()) == 3


# --- broken releases ---------------------------------------------------------------------------------


def test_an_import_error_never_goes_live_and_a_release_failing_in_the_workers_is_rolled_back(
        make_site, tmp_path):
    site = make_site("uwbroken", 8083)
    target = site.target
    site.fab("deploy")
    first = site.info()
    master = site.master()
    workers = site.workers()

    # An import error: the [check] run of uWSGI in the new release fails before the switch.
    broken = copy_app(EXAMPLE, tmp_path / "broken", version="9.9.9")
    with open(broken / "app.py", "a") as fh:
        fh.write("\nimport module_that_does_not_exist  # noqa\n")
    point_at(site.inventories, site.source, broken)
    with RequestStream(site.port, "/info", address=target.address, threads=4, rate=200, max_requests=12000,
                       max_seconds=60, timeout=20) as stream:
        time.sleep(0.3)
        result = site.fab("deploy", expect=1)
        time.sleep(0.5)
    assert "module_that_does_not_exist" in result.stdout + result.stderr
    assert "the app does not load in release" in result.stdout + result.stderr
    assert stream.count > 50 and not stream.failures, stream.report()
    assert {json.loads(r.detail)["version"] for r in stream.results} == {"1.0.0"}
    assert live(target)[0] == first["release"]
    assert site.master() == master and site.workers() == workers, "uWSGI was not touched"

    # A release that loads in the check but not in the real workers (here: only without
    # FLASK_RUN_FROM_CLI, which the check sets). The chain reload sees the failed worker,
    # the step fails and the deploy rolls back (exit 5): it never reports success.
    late = copy_app(EXAMPLE, tmp_path / "late", version="8.8.8")
    app_py = late / "app.py"
    app_py.write_text(app_py.read_text().replace(
        "app = Flask(__name__)",
        "if not os.environ.get('FLASK_RUN_FROM_CLI'):\n"
        "    raise RuntimeError('this release cannot load in a uWSGI worker')\n\napp = Flask(__name__)"))
    point_at(site.inventories, broken, late)
    result = site.fab("deploy", expect=5)
    output = result.stdout + result.stderr
    assert "could not load the app" in output and "rolled back to" in output, output
    assert "this release cannot load in a uWSGI worker" in output, output
    back = site.info()
    assert (back["version"], back["release"]) == ("1.0.0", first["release"])
    assert site.master() == master
    new_workers = site.workers()
    assert len(new_workers) == 2 and all(target.exists(f"shared/run/uwsgi.ready.{w}") for w in new_workers)
    bad = [r for r in target.listdir("releases") if target.exists(f"releases/{r}/.wsgideploy-bad")]
    assert len(bad) == 1 and bad[0] != first["release"]


# --- url_prefix --------------------------------------------------------------------------------------


PREFIX_APP = '''
"""A factory app that reports how it is mounted."""
from flask import Flask, jsonify, request, url_for


def create_app():
    app = Flask(__name__)

    @app.route("/")
    def index():
        return "prefix app at " + request.script_root

    @app.route("/info")
    def info():
        return jsonify(script_root=request.script_root, path=request.path,
                       info_url=url_for("info"), static_url=url_for("static", filename="site.css"),
                       external=url_for("info", _external=True))

    return app
'''


def test_url_prefix_mounts_the_app_under_script_name(make_site, tmp_path):
    source = tmp_path / "prefixed"
    (source / "prefixed" / "static").mkdir(parents=True)
    (source / "prefixed" / "__init__.py").write_text(PREFIX_APP)
    (source / "prefixed" / "static" / "site.css").write_text("/* prefixed static */\n")
    (source / "requirements.txt").write_text("flask>=3,<4\n")
    site = make_site("prefixed", 8084, source=source, wsgi="prefixed:create_app()",
                     url_prefix="/yourapplication", static_url="/yourapplication/static",
                     health={"path": "/yourapplication/info"})
    target = site.target
    site.fab("deploy")

    status, body = site.get("/yourapplication/")
    assert status == 200 and body == "prefix app at /yourapplication", body
    # Without the slash the app itself answers: Flask redirects to the prefixed root.
    status, headers, _ = request(target, site.port, "/yourapplication")
    assert status in (301, 302, 308) and headers.get("location", "").endswith("/yourapplication/"), (
        status, headers)
    status, body = site.get("/yourapplication/info")
    assert status == 200, body
    data = json.loads(body)
    assert data["script_root"] == "/yourapplication" and data["path"] == "/info"
    assert data["info_url"] == "/yourapplication/info"
    assert data["static_url"] == "/yourapplication/static/site.css"
    assert data["external"] == "http://localhost/yourapplication/info", data
    status, css = site.get(data["static_url"])
    assert status == 200 and "prefixed static" in css
    access = wait_for_text(target, "shared/log/uwsgi.access.log", "/info")
    assert "site.css" not in access, "nginx serves the static files under the prefix itself"
    # Outside the prefix nothing reaches the app.
    status, _ = site.get("/info")
    assert status == 404
