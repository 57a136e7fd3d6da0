"""uWSGI behind nginx (``server = "uwsgi"``): real deploys over SSH, real HTTP through nginx.

- deploy, a requirements change (a new venv), rollback, status, stop and start, nginx
  serving /static itself, the uWSGI wheel built once and then taken from pip's cache;
- zero downtime under a bounded `RequestStream`: a code-only deploy, a requirements
  deploy and a rollback, each a chain reload of the same master, and a deploy that
  changes the [uwsgi] options (a full graceful reload): 0 failed requests;
- an import error never goes live (the check before the switch), and a release whose
  workers cannot load after the switch is not reported as a success: it is rolled back;
- ``url_prefix = "/yourapplication"`` with an app factory: SCRIPT_NAME and url_for.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import sys
import time
from pathlib import Path

from tests.hosts.processes import pid_alive

from .fabcli import EXAMPLE, app_info, fab, hello_app_table
from .helpers import TestHost, copy_app, http_get
from .load import RequestStream, Result

# The load of test_zero_downtime.py: 8 threads, at most 500 requests a second, bounded.
# A uWSGI chain reload of 2 workers can make a whole `fab rollback` last under a second, so
# at least 200 requests (one every 2 ms at most) must start while fab runs.
THREADS, RATE, MAX_SECONDS = 8, 500.0, 75.0
MIN_DURING_FAB, MIN_AFTER_FAB, TAIL_SECONDS = 200, 30, 1.5
FAB_TIMEOUT = 60.0


def uwsgi_app_table(host: TestHost, source: Path, **overrides) -> dict:
    return hello_app_table(host, source, server="uwsgi", proxy="nginx", **overrides)


def deploy_setup(make_host, write_inventory, tmp_path, **app_overrides):
    host = make_host("web1")
    source = copy_app(EXAMPLE, tmp_path / "hello", version="1.0.0")
    inventories = write_inventory("test", app=uwsgi_app_table(host, source, **app_overrides),
                                  hosts={"web1": host.host_table()}, nginx=host.nginx_table(),
                                  vars={"workers": 2})
    return host, inventories, source


def point_inventory_at(inventories: Path, old: Path, new: Path) -> None:
    inventory = inventories / "test.toml"
    text = inventory.read_text()
    assert str(old) in text
    inventory.write_text(text.replace(str(old), str(new)))


def master_pid(host: TestHost) -> int:
    return int((host.run_dir / "uwsgi.pid").read_text().strip())


def workers_of(pid: int) -> set[int]:
    """The live children of ``pid`` (uWSGI's workers), from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] not in "ZX":
            found.add(int(stat.parent.name))
    return found


def live(host: TestHost) -> tuple[str, str]:
    """(release id, resolved venv) of the live release, from the host's filesystem."""
    current = Path(host.app_root) / "current"
    return current.resolve().name, os.path.realpath(current / "venv")


def step_seconds(output: str, step: str) -> float | None:
    match = re.search(rf"\b{step}\s+ok\s+([0-9.]+)s", output)
    return float(match.group(1)) if match else None


def pip_log(host: TestHost, prefix: str) -> str:
    key = Path(prefix).name
    return (Path(host.app_root) / ".deploy" / f"pip-{key}.log").read_text()


# --- deploy, upgrade, rollback, control ---------------------------------------------------


def test_deploy_upgrade_rollback_and_control_with_uwsgi(make_host, write_inventory, tmp_path,
                                                        record_property):
    host, inventories, v1 = deploy_setup(make_host, write_inventory, tmp_path)

    out = fab(inventories, "-H", "web1", "deploy").stdout
    assert "uwsgi started" in out, out
    status, body = http_get(host.http_port, "/")
    assert status == 200 and "version 1.0.0" in body
    first = app_info(host.http_port)
    assert first["release"] == live(host)[0] and first["prefix"] == live(host)[1]
    # uWSGI from PyPI, in the release's own venv; the socket nginx talks to is the unix one.
    assert Path(first["prefix"], "bin", "uwsgi").is_file()
    assert first["python"].startswith(str(Path(host.app_root) / "current" / "venv")), first
    for name in ("uwsgi.pid", "uwsgi.fifo", "uwsgi.sock"):
        assert (host.run_dir / name).exists(), name
    master = master_pid(host)
    workers = workers_of(master)
    assert len(workers) == 2 and all((host.run_dir / f"uwsgi.ready.{w}").exists() for w in workers)

    status, css = http_get(host.http_port, "/static/style.css")
    assert status == 200 and "wsgideploy hello static" in css
    access = Path(host.app_root) / "shared/log/uwsgi.access.log"
    deadline = time.monotonic() + 5  # uWSGI writes the line after the response has gone out
    while "GET /info" not in access.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "GET /info" in access.read_text(), "uWSGI logs the requests it serves"
    assert "/static/style.css" not in access.read_text(), "nginx must serve static files itself"

    # v2: a new requirement (a new venv with uWSGI again: its wheel comes from pip's cache).
    v2 = copy_app(EXAMPLE, tmp_path / "hello-v2", version="2.0.0", extra_requirements=["six"])
    with open(v2 / "app.py", "a") as fh:
        fh.write("\n\n@app.get('/dep')\ndef dep():\n    import six\n    return 'six ' + six.__version__\n")
    point_inventory_at(inventories, v1, v2)
    out2 = fab(inventories, "-H", "web1", "deploy").stdout
    assert "chain-reloaded" in out2, out2
    assert "version 2.0.0" in http_get(host.http_port, "/")[1]
    status, body = http_get(host.http_port, "/dep")
    assert status == 200 and body.startswith("six "), "the new dependency must be importable"
    second = app_info(host.http_port)
    assert second["prefix"] != first["prefix"] and second["release"] != first["release"]
    assert (second["release"], second["prefix"]) == live(host)
    assert master_pid(host) == master, "a deploy is a chain reload: the master stays"
    assert workers_of(master).isdisjoint(workers), "every worker was replaced"
    log2 = pip_log(host, second["prefix"])
    assert re.search(r"Using cached uwsgi-\S+\.whl", log2, re.IGNORECASE), log2[-2000:]
    assert not re.search(r"Building wheel for uwsgi", log2, re.IGNORECASE), (
        "the second venv rebuilt uWSGI instead of taking the wheel from pip's cache:\n" + log2[-2000:])
    summary = (f"uwsgi venv builds: first {step_seconds(out, 'venv')}s "
               f"(uWSGI {'compiled' if 'Building wheel for uwsgi' in pip_log(host, first['prefix']) else 'from the wheel cache'}), "
               f"second {step_seconds(out2, 'venv')}s (wheel cache)")
    print(f"\n{summary}", file=sys.stderr)
    record_property("uwsgi_venv_builds", summary)

    fab(inventories, "-H", "web1", "rollback")
    assert "version 1.0.0" in http_get(host.http_port, "/")[1]
    back = app_info(host.http_port)
    assert (back["release"], back["prefix"]) == (first["release"], first["prefix"])
    assert http_get(host.http_port, "/dep")[0] == 404

    out = fab(inventories, "-H", "web1", "status").stdout
    assert f"uwsgi running, pid {master}" in out and "app answers  yes" in out, out

    # Graceful stop through the FIFO: master and workers gone, vacuum removed the files.
    kids = workers_of(master)
    out = fab(inventories, "-H", "web1", "stop").stdout
    assert "uwsgi stopped" in out, out
    assert not pid_alive(master) and not any(pid_alive(k) for k in kids)
    for name in ("uwsgi.pid", "uwsgi.fifo", "uwsgi.sock"):
        assert not (host.run_dir / name).exists(), name
    assert http_get(host.http_port, "/")[0] == 502
    assert "uwsgi not running" in fab(inventories, "-H", "web1", "stop").stdout

    fab(inventories, "-H", "web1", "start")
    assert app_info(host.http_port)["version"] == "1.0.0"
    assert master_pid(host) != master


# --- zero downtime ------------------------------------------------------------------------


def run_under_load(host: TestHost, inventories: Path, args: tuple[str, ...], scenario: str,
                   record_property) -> tuple[RequestStream, float, str]:
    """Run ``fab -H web1 <args>`` under a bounded request stream; assert it was real and
    that no request failed. Returns the stream, when fab returned and fab's output."""
    stream = RequestStream(host.http_port, "/info", threads=THREADS, rate=RATE,
                           max_requests=int(RATE * MAX_SECONDS), max_seconds=MAX_SECONDS)
    with stream:
        warm_until = time.monotonic() + 10
        while stream.count < 20 and stream.running and time.monotonic() < warm_until:
            time.sleep(0.02)
        assert stream.count >= 20, f"the request stream did not get going:\n{stream.report(stream.results)}"
        started = time.monotonic()
        output = fab(inventories, "-H", "web1", *args, timeout=FAB_TIMEOUT).stdout
        returned = time.monotonic()
        time.sleep(TAIL_SECONDS)
        ended_by_itself = stream.ended_by
    during, after = stream.started_between(started, returned), stream.started_after(returned)
    failures = stream.failures
    summary = (f"zero-downtime uwsgi {scenario}: {stream.count} requests, {len(failures)} failures "
               f"({len(during)} during fab {' '.join(args)} [{returned - started:.1f}s], {len(after)} after)")
    print(f"\n{summary}", file=sys.stderr)
    record_property(f"zero_downtime_{scenario.replace(' ', '_')}", summary)
    assert ended_by_itself is None, f"the stream ended by itself ({ended_by_itself}): {summary}"
    assert len(during) >= MIN_DURING_FAB, f"too few requests while fab ran to see downtime: {summary}"
    assert len(after) >= MIN_AFTER_FAB, summary
    assert not failures, (f"{len(failures)} requests failed ({summary}):\n" + stream.report(failures))
    return stream, returned, output


def assert_served_after(stream: RequestStream, moment: float, version: str, release: str, prefix: str) -> None:
    wrong: list[Result] = []
    for result in stream.started_after(moment):
        try:
            data = json.loads(result.detail)
        except ValueError:
            data = {}
        if (data.get("version"), data.get("release"), data.get("prefix")) != (version, release, prefix):
            wrong.append(result)
    assert not wrong, (f"{len(wrong)} responses after fab returned were not version {version}, "
                       f"release {release}, venv {prefix}:\n" + stream.report(wrong))


def test_code_deploy_requirements_deploy_and_rollback_under_load_fail_no_request(
        make_host, write_inventory, tmp_path, record_property):
    host, inventories, v1 = deploy_setup(make_host, write_inventory, tmp_path)
    fab(inventories, "-H", "web1", "deploy")
    first = app_info(host.http_port)
    master = master_pid(host)

    # 1. code only: same venv, new code
    app_py = v1 / "app.py"
    app_py.write_text(app_py.read_text().replace('VERSION = "1.0.0"', 'VERSION = "1.1.0"'))
    stream, returned, out = run_under_load(host, inventories, ("deploy",), "code-only deploy", record_property)
    assert "uwsgi chain-reloaded" in out, out
    release, prefix = live(host)
    assert release != first["release"] and prefix == first["prefix"]
    assert_served_after(stream, returned, "1.1.0", release, prefix)

    # 2. a new requirement: a new venv, picked up by the chain reload of the same master
    v2 = copy_app(EXAMPLE, tmp_path / "hello-v2", version="2.0.0", extra_requirements=["six"])
    point_inventory_at(inventories, v1, v2)
    stream, returned, out = run_under_load(host, inventories, ("deploy",), "requirements deploy", record_property)
    assert "uwsgi chain-reloaded" in out, out
    release2, prefix2 = live(host)
    assert prefix2 != prefix and any(Path(prefix2).glob("lib/python*/site-packages/six.py"))
    assert_served_after(stream, returned, "2.0.0", release2, prefix2)

    # 3. rollback to the code-only release, in its old venv
    stream, returned, out = run_under_load(host, inventories, ("rollback",), "rollback", record_property)
    assert "uwsgi chain-reloaded" in out, out
    assert live(host) == (release, prefix)
    assert_served_after(stream, returned, "1.1.0", release, prefix)
    assert master_pid(host) == master, "every switch was a chain reload of the same master"

    # 4. new [uwsgi] options (3 workers instead of 2): a full graceful reload of the master
    app_py = v2 / "app.py"
    app_py.write_text(app_py.read_text().replace('VERSION = "2.0.0"', 'VERSION = "2.1.0"'))
    inventory = inventories / "test.toml"
    assert "workers = 2" in inventory.read_text()
    inventory.write_text(inventory.read_text().replace("workers = 2", "workers = 3"))
    stream, returned, out = run_under_load(host, inventories, ("deploy",), "uwsgi.ini change", record_property)
    assert "uwsgi reloaded (uwsgi.ini or uWSGI changed)" in out, out
    release4, prefix4 = live(host)
    assert prefix4 == prefix2
    assert_served_after(stream, returned, "2.1.0", release4, prefix4)
    assert master_pid(host) == master and len(workers_of(master)) == 3


# --- broken releases ----------------------------------------------------------------------


def test_an_import_error_never_goes_live_and_a_release_failing_in_the_workers_is_rolled_back(
        make_host, write_inventory, tmp_path):
    host, inventories, v1 = deploy_setup(make_host, write_inventory, tmp_path)
    fab(inventories, "-H", "web1", "deploy")
    first = app_info(host.http_port)
    master = master_pid(host)
    workers = workers_of(master)

    # An import error: the [check] run of uWSGI in the new release fails before the switch.
    broken = copy_app(EXAMPLE, tmp_path / "broken", version="9.9.9")
    with open(broken / "app.py", "a") as fh:
        fh.write("\nimport module_that_does_not_exist  # noqa\n")
    point_inventory_at(inventories, v1, broken)
    with RequestStream(host.http_port, "/info", threads=4, rate=200, max_requests=20000,
                       max_seconds=60) as stream:
        time.sleep(0.3)
        result = fab(inventories, "-H", "web1", "deploy", expect=1)
        time.sleep(0.5)
    assert "module_that_does_not_exist" in result.stdout + result.stderr
    assert "the app does not load in release" in result.stdout + result.stderr
    assert stream.count > 50 and not stream.failures, stream.report()
    assert {json.loads(r.detail)["version"] for r in stream.results} == {"1.0.0"}
    assert live(host)[0] == first["release"]
    assert master_pid(host) == master and workers_of(master) == workers, "uWSGI was not touched"

    # A release that loads in the check but not in the real workers (here: only without
    # FLASK_RUN_FROM_CLI, which the check sets). The chain reload sees the failed worker,
    # the step fails and the deploy rolls back (exit 5): it never reports success.
    late = copy_app(EXAMPLE, tmp_path / "late", version="8.8.8")
    app_py = late / "app.py"
    app_py.write_text(app_py.read_text().replace(
        "app = Flask(__name__)",
        "if not os.environ.get('FLASK_RUN_FROM_CLI'):\n"
        "    raise RuntimeError('this release cannot load in a uWSGI worker')\n\napp = Flask(__name__)"))
    point_inventory_at(inventories, broken, late)
    result = fab(inventories, "-H", "web1", "deploy", expect=5)
    output = result.stdout + result.stderr
    assert "could not load the app" in output and "rolled back to" in output, output
    assert "this release cannot load in a uWSGI worker" in output, output
    back = app_info(host.http_port)
    assert (back["version"], back["release"]) == ("1.0.0", first["release"])
    assert master_pid(host) == master
    new_workers = workers_of(master)
    assert len(new_workers) == 2 and all((host.run_dir / f"uwsgi.ready.{w}").exists() for w in new_workers)
    bad = [p for p in (Path(host.app_root) / "releases").iterdir() if (p / ".wsgideploy-bad").exists()]
    assert len(bad) == 1 and bad[0].name != first["release"]


# --- url_prefix ---------------------------------------------------------------------------


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


def head_no_redirect(port: int, path: str) -> tuple[int, str]:
    """GET without following redirects: (status, Location)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": "localhost"})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Location", "")
    finally:
        conn.close()


def test_url_prefix_mounts_the_app_under_script_name(make_host, write_inventory, tmp_path):
    host = make_host("web1")
    source = tmp_path / "prefixed"
    (source / "prefixed" / "static").mkdir(parents=True)
    (source / "prefixed" / "__init__.py").write_text(PREFIX_APP)
    (source / "prefixed" / "static" / "site.css").write_text("/* prefixed static */\n")
    (source / "requirements.txt").write_text("flask>=3,<4\n")
    app = uwsgi_app_table(host, source, name="prefixed", wsgi="prefixed:create_app()",
                          url_prefix="/yourapplication", static_url="/yourapplication/static",
                          health={"path": "/yourapplication/info"})
    inventories = write_inventory("test", app=app, hosts={"web1": host.host_table()},
                                  nginx=host.nginx_table(), vars={"workers": 2})
    fab(inventories, "-H", "web1", "deploy")

    status, body = http_get(host.http_port, "/yourapplication/")
    assert status == 200 and body == "prefix app at /yourapplication", body
    # Without the slash the app itself answers: Flask redirects to the prefixed root.
    status, location = head_no_redirect(host.http_port, "/yourapplication")
    assert status in (301, 302, 308) and location.endswith("/yourapplication/"), (status, location)
    status, body = http_get(host.http_port, "/yourapplication/info")
    assert status == 200, body
    data = json.loads(body)
    assert data["script_root"] == "/yourapplication" and data["path"] == "/info"
    assert data["info_url"] == "/yourapplication/info"
    assert data["static_url"] == "/yourapplication/static/site.css"
    assert data["external"] == "http://localhost/yourapplication/info", data
    status, css = http_get(host.http_port, data["static_url"])
    assert status == 200 and "prefixed static" in css
    access = (Path(host.app_root) / "shared/log/uwsgi.access.log").read_text()
    assert "site.css" not in access, "nginx serves the static files under the prefix itself"
    # Outside the prefix nothing reaches the app.
    status, _ = http_get(host.http_port, "/info")
    assert status == 404
