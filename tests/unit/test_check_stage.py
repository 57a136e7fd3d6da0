"""Which check a build runs: the new release's instance started by the check (`AppServer.stage`, under systemd) when
nothing changes the release after it, else the mode's plain check; and a discarded release stops that instance.

Scripts by content, built by the same step builders a deploy runs (`wsgideploy.steps`); the booted proof is
tests/integration/test_round_trips.py (one load per deploy, the check's pid is the live one)."""
from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from wsgideploy import hostrun, steps
from wsgideploy.inventory import load_stage
from wsgideploy.output import Reporter
from wsgideploy.source import LocalRelease
from wsgideploy.transport import HostConnection

PROJECT = Path(__file__).resolve().parents[2]
RELEASE = "20261204T100000Z"
EXAMPLE = PROJECT / "examples" / "hello"
DJANGO = PROJECT / "tests" / "apps" / "django_site"  # collectstatic writes into the release after the check
APP = """
[app]
name = "hello"
source = "{source}"
wsgi = "{wsgi}"
root = "/srv/hello"
server_name = "hello.example.com"
"""
HOST = '\n[hosts.web1]\nhostname = "192.0.2.10"\nuser = "deploy"\n'


def host_run(tmp_path: Path, app_keys: str = "", tables: str = "", source: Path = EXAMPLE,
             wsgi: str = "app:app") -> hostrun.HostRun:
    """A first deploy's `HostRun` of ``source``, with ``app_keys`` added to ``[app]`` and ``tables`` after it."""
    (tmp_path / "production.toml").write_text(APP.format(source=source, wsgi=wsgi) + app_keys + tables + HOST)
    stage = load_stage(tmp_path / "production.toml")
    return hostrun.HostRun(stage, stage.hosts[0], cast(HostConnection, None), cast(Reporter, None),
                           facts={"python_version": "3.11.2", "user": "deploy", "group": "deploy", "current": "",
                                  "app_user": "hello", "app_group": "hello"})


def check_body(run: hostrun.HostRun) -> str:
    rel = LocalRelease(release_id=RELEASE, archive=b"", source_hash="0" * 64, file_count=4, static_dir="static",
                       shared={})
    [check] = [step for step in steps.build_steps(run, rel) if step.name == "check"]
    return check.body


def last_call(body: str) -> list[str]:
    """The functions the script's last lines call (a `Script` ends by calling its run function)."""
    return [line.strip() for line in body.splitlines() if line.strip() in (
        "systemd_stage", "gunicorn_check", "uwsgi_check")]


def test_under_systemd_the_check_starts_the_new_instance_and_falls_back_to_the_plain_check(tmp_path: Path) -> None:
    body = check_body(host_run(tmp_path))
    assert last_call(body) == ["systemd_stage", "gunicorn_check"], last_call(body)
    assert "if [ -d /run/systemd/system ]; then" in body
    assert "check_run=gunicorn_check" in body and f"release=/srv/hello/releases/{RELEASE}" in body


@pytest.mark.parametrize("project", ["before_switch hook", "django"])
def test_a_hook_or_django_after_the_check_keeps_the_plain_check(tmp_path: Path, project: str) -> None:
    run = (host_run(tmp_path, tables='[hooks]\nbefore_switch = ["true"]\n') if project != "django" else
           host_run(tmp_path, 'framework = "django"\n', source=DJANGO, wsgi="mysite.wsgi:application"))
    body = check_body(run)
    assert last_call(body) == ["gunicorn_check"], last_call(body)
    assert "systemd_stage" not in body


def test_supervisor_none_keeps_the_plain_check_and_discarding_stops_nothing(tmp_path: Path) -> None:
    run = host_run(tmp_path, 'supervisor = "none"\n')
    assert last_call(check_body(run)) == ["gunicorn_check"]
    assert run.server.unstage(run.server_context, RELEASE) == ""


def test_discarding_a_release_stops_the_instance_its_check_started(tmp_path: Path) -> None:
    run = host_run(tmp_path)
    body = run.server.unstage(run.server_context, RELEASE)
    assert body.rstrip().endswith("fi") and "systemd_unstage" in body
    assert f"release=/srv/hello/releases/{RELEASE}" in body
