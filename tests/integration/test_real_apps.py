"""Real-world app shapes (tests/apps/) deployed to a booted Debian 12 server behind Debian's nginx.

Each shape is one that a new user brings and that used to trip the deploy: a src/ layout package whose
requirements.txt pins the dependencies (its own package was never installed: "No module named
'task_app'"), and a Django project with STATIC_ROOT, whitenoise and a migration, deployed through the keys
docs/apps.md gives (its default ProxyFix needed werkzeug; collectstatic, check --deploy and STATIC_ROOT are
found from manage.py). (A pyproject-only package that reuses its venv: test_deploy_gunicorn_nginx.py.) Every check
is an HTTP request through nginx, or a look at the release on the server.
"""
from __future__ import annotations

import os
import re
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import booted, server_lab  # noqa: F401  (fixtures)
from tests.servers.lab import ServerLab

from .booted_deploy import inventory
from .fabcli import APPS, fab
from .helpers import copy_app
from .stock import get

PACKAGE_NOTE = "the app's package installed into the release"


@pytest.fixture(scope="module")
def web(server_lab: ServerLab) -> DeployTarget:  # noqa: F811
    return booted(server_lab, ["apps"], front="nginx")[0]


def venv_line(output: str) -> str:
    [line] = [ln for ln in output.splitlines() if re.search(r"\] venv +ok", ln)]
    return line


def set_version(source: Path, version: str, code: str) -> None:
    """A release of the src package: its metadata version (pyproject.toml) and its code."""
    pyproject = source / "pyproject.toml"
    pyproject.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject.read_text()))
    module = source / "src" / "task_app" / "__init__.py"
    module.write_text(re.sub(r'(?m)^CODE = ".*"$', f'CODE = "{code}"', module.read_text()))


def test_a_src_package_with_pinned_requirements_runs_its_own_code_and_metadata_in_each_release(
        web, write_inventory, tmp_path):
    port = 8090
    host = web.with_app("tasks")
    source = copy_app(APPS / "src_tasks", tmp_path / "tasks")
    # a hook imports the package: hooks see it as the app does
    hooks = {"before_switch": ["python -c 'import task_app, importlib.metadata as m; print(m.version(\"task-app\"))'"]}
    inventories = inventory(write_inventory, host, source, stage="tasks", wsgi="task_app:create_app()", listen=port,
                            extra={"hooks": hooks})
    first = fab(inventories, "-H", host.alias, "deploy").stdout
    assert "built" in venv_line(first) and PACKAGE_NOTE in venv_line(first)
    assert get(host.address, port) == (200, "task app 1.0.0 code one")

    set_version(source, "1.1.0", "two")
    second = fab(inventories, "-H", host.alias, "deploy").stdout
    assert "reused" in venv_line(second) and PACKAGE_NOTE in venv_line(second), "a code change reuses the venv"
    assert get(host.address, port) == (200, "task app 1.1.0 code two")

    fab(inventories, "-H", host.alias, "rollback")
    assert get(host.address, port) == (200, "task app 1.0.0 code one"), "the rollback runs its own package"
    venvs = host.listdir("venvs")
    assert len(venvs) == 1, venvs
    site = host.run(f"ls {host.path('current/.wsgideploy/site')}").split()
    assert "task_app" in site and "task_app-1.0.0.dist-info" in site, site



def static_headers(address: str, port: int, path: str, host: str) -> tuple[int, str, str]:
    """(status, Cache-Control, body) of ``path``: nginx's static location says ``max-age=3600`` (its
    ``expires 1h``); whitenoise, had the app served the file, says ``max-age=60``."""
    request = urllib.request.Request(f"http://{address}:{port}{path}", headers={"Host": host})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=20) as response:
            return response.status, response.headers.get("Cache-Control", ""), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Cache-Control", ""), ""


def test_a_django_project_migrates_collects_its_static_files_and_is_served_by_nginx(web, write_inventory, tmp_path):
    port, name = 8092, "mysite.test"
    host = web.with_app("mysite")
    source = copy_app(APPS / "django_site", tmp_path / "mysite")
    # the keys docs/apps.md gives for Django: framework, static_dir and static_url come from manage.py and
    # the settings (STATIC_ROOT, STATIC_URL); the migration is a hook
    hooks = {"before_switch": [{"run": "python manage.py migrate --noinput", "once": True}]}
    settings = {"DJANGO_ALLOWED_HOSTS": name, "DJANGO_DATABASE": "/srv/mysite/shared/data/db.sqlite3"}
    inventories = inventory(write_inventory, host, source, stage="mysite", wsgi="mysite.wsgi:application",
                            listen=port, server_name=name, shared=["data"], env=["DJANGO_SECRET_KEY"],
                            environment=settings, health={"path": "/healthz"}, extra={"hooks": hooks})
    secret = {"DJANGO_SECRET_KEY": "django-insecure-for-the-test-only"}
    planned = fab(inventories, "-H", host.alias, "plan", env=secret).stdout
    assert "static       staticfiles at /static" in planned, planned
    deployed = fab(inventories, "-H", host.alias, "deploy", env=secret).stdout
    assert "static: staticfiles at /static" in deployed, deployed
    [django] = [line for line in deployed.splitlines() if re.search(r"\] django +ok", line)]
    assert re.search(r"collectstatic: \d+ static files copied to 'staticfiles'\.; check --deploy: \d+ warning", django)
    assert "(security.W" in deployed, "check --deploy's warnings are shown"
    assert get(host.address, port, host=name) == (200, "django notes v1: 0 notes"), "migrated, and no werkzeug"
    for path, text in (("/static/notes/site.css", "/* django notes static */"), ("/static/admin/css/base.css", "")):
        status, cache, body = static_headers(host.address, port, path, name)
        assert (status, "max-age=3600" in cache, text in body) == (200, True, True), (path, status, cache)
    assert get(host.address, port, "/scheme", host=name) == (200, "http")

    # A release whose ALLOWED_HOSTS refuses the health check's Host: the check ends on the third 400
    # (not after its 30 s) and names ALLOWED_HOSTS; the deploy rolls back and the live release serves on.
    live = host.live_release()
    settings_py = source / "mysite" / "settings.py"
    settings_py.write_text(settings_py.read_text().replace(
        'ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "").split()', 'ALLOWED_HOSTS = ["elsewhere.test"]'))
    started = time.monotonic()
    refused = fab(inventories, "-H", host.alias, "deploy", env=secret, expect=5)  # rolled back
    assert time.monotonic() - started < 60
    said = refused.stdout + refused.stderr
    assert "HTTP 400 (expected 200) 3 times in a row" in said and f"Host: {name}" in said and "ALLOWED_HOSTS" in said
    assert host.live_release() == live
    assert get(host.address, port, host=name) == (200, "django notes v1: 0 notes")


def test_a_flask_app_whose_static_folder_is_in_another_package_is_told_which_static_dir_to_set(
        web, write_inventory, tmp_path):
    port, name = 8093, "theme.test"
    host = web.with_app("theme")
    source = copy_app(APPS / "flask_theme", tmp_path / "theme")
    inventories = inventory(write_inventory, host, source, stage="theme", listen=port, server_name=name)
    said = fab(inventories, "-H", host.alias, "deploy").stdout
    assert ('static: none (set app.static_dir). WARNING: the app\'s static_folder is theme/static: '
            'set [app] static_dir = "theme/static"') in said, said
    assert static_headers(host.address, port, "/static/theme.css", name)[0::2] == (200, "/* theme static */\n")

    inventories = inventory(write_inventory, host, source, stage="theme", listen=port, server_name=name,
                            static_dir="theme/static")
    said = fab(inventories, "-H", host.alias, "deploy").stdout
    assert "static: theme/static at /static" in said and "WARNING" not in said, said
    status, cache, body = static_headers(host.address, port, "/static/theme.css", name)
    assert (status, "max-age=3600" in cache, body) == (200, True, "/* theme static */\n"), "nginx serves them now"


def test_an_app_that_requires_a_newer_python_stops_before_anything_is_uploaded(web, write_inventory, tmp_path):
    host = web.with_app("future")
    source = copy_app(APPS / "src_tasks", tmp_path / "future")
    pyproject = source / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "1.0.0"', 'version = "1.0.0"\nrequires-python = ">=3.99"'))
    inventories = inventory(write_inventory, host, source, stage="future", wsgi="task_app:create_app()", listen=8094)
    planned = fab(inventories, "-H", host.alias, "plan").stdout
    assert "a deploy now would fail: the app requires Python >=3.99 (pyproject.toml requires-python)" in planned
    failed = fab(inventories, "-H", host.alias, "deploy", expect=1)
    said = failed.stdout + failed.stderr
    assert re.search(r"the app requires Python >=3\.99 \(pyproject\.toml requires-python\) and the host's python3 "
                     r"is 3\.\d+\.\d+: set \[app\] python to a version that meets it", said), said
    assert "upload" not in failed.stdout and host.listdir("releases") == []


def test_python_as_a_version_is_the_hosts_own_else_uv_s_and_a_python_it_cannot_have_changes_nothing(
        web, write_inventory, tmp_path):
    """``python = "3.11"``: Debian 12's own python3.11 makes the venv. ``"3.12"``, which Debian 12 lacks: without uv,
    plan and deploy name the fix; with uv (the controller's, copied to the deploy user's ~/.local/bin), uv is asked
    to install it into the app root and cannot (the lab's proxy reaches the package registries, not uv's
    downloads): its own error is shown. Either way nothing is uploaded and the live release keeps serving."""
    port = 8095
    host = web.with_app("pyver")
    source = copy_app(APPS / "src_tasks", tmp_path / "pyver")

    def stage(python: str) -> Path:
        return inventory(write_inventory, host, source, stage="pyver", wsgi="task_app:create_app()", listen=port,
                         python=python)
    fab(stage("3.11"), "-H", host.alias, "deploy")
    assert get(host.address, port) == (200, "task app 1.0.0 code one")
    [venv] = host.listdir("venvs")
    assert host.resolve(f"venvs/{venv}/bin/python") == "/usr/bin/python3.11"
    live = host.live_release()

    planned = fab(stage("3.12"), "-H", host.alias, "plan").stdout
    assert "Python 3.12 is not on the host (no python3.12), and uv is not there to install it" in planned, planned
    failed = fab(stage("3.12"), "-H", host.alias, "deploy", expect=1)
    said = failed.stdout + failed.stderr
    assert "uv is not there to install it: install uv for deploy (pip install --user uv" in said, said
    assert host.live_release() == live and host.listdir("releases") == [live]

    uv = shutil.which("uv")
    assert uv, "uv (a test dependency: pip install -e .[test]) is not on this machine"
    host.run(f"install -d -o {host.user} -g {host.user} /home/{host.user}/.local /home/{host.user}/.local/bin")
    target = host.server.root / "home" / host.user / ".local" / "bin" / "uv"
    shutil.copy(os.path.realpath(uv), target)
    host.run(f"chown {host.user}: /home/{host.user}/.local/bin/uv && chmod 0755 /home/{host.user}/.local/bin/uv")
    planned = fab(stage("3.12"), "-H", host.alias, "plan").stdout
    assert "Python 3.12 is not on the host: a deploy installs it with uv into /srv/pyver/.python" in planned, planned
    failed = fab(stage("3.12"), "-H", host.alias, "deploy", expect=1, timeout=300)
    said = failed.stdout + failed.stderr
    assert "Python 3.12 is not on the host, and uv could not install it (above); nothing was uploaded" in said, said
    assert "cpython-3.12" in said, "uv's own error names the download it tried"
    assert host.live_release() == live and host.listdir("releases") == [live]
    assert get(host.address, port) == (200, "task app 1.0.0 code one")

