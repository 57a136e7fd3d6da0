"""``detect``: what ``wsgideploy init`` learns from an app's repository, without importing it."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from wsgideploy.detect import DetectError, Detected, app_name, detect, detect_python, repository_root
from wsgideploy.init_files import FABFILE, next_steps, stage_file, summary

Tree = Callable[[Path, dict[str, str | bytes]], Path]

FACTORY = '''\
from flask import Flask


def create_app(test_config=None):
    app = Flask(__name__, instance_relative_config=True)
    return app
'''
MODULE_APP = 'from flask import Flask\n\napp = Flask(__name__)\n\nif __name__ == "__main__":\n    app.run()\n'
MANAGE = '''\
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
'''
DJANGO_WSGI = '''\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
application = get_wsgi_application()
'''


def test_a_flask_factory_package_is_its_factory_with_the_package_static_folder(tmp_path: Path,
                                                                                 write_tree: Tree) -> None:
    root = write_tree(tmp_path / "shop-repo", {"shop/__init__.py": FACTORY, "shop/static/logo.txt": "logo",
                                               "requirements.txt": "flask\n"})
    assert detect(root) == Detected(
        root=root, name="shop-repo", wsgi="shop:create_app()", framework="flask", wsgi_file="shop/__init__.py",
        requirements="requirements.txt", static_dir="shop/static", searched=("shop/__init__.py",))


def test_a_module_app_object_is_module_colon_app_with_static_beside_it(tmp_path: Path, write_tree: Tree) -> None:
    root = write_tree(tmp_path / "hello", {"app.py": MODULE_APP, "static/site.css": "", "requirements.txt": ""})
    detected = detect(root)
    assert (detected.wsgi, detected.wsgi_file, detected.static_dir) == ("app:app", "app.py", "static")


def test_an_application_object_is_found_by_its_name(tmp_path: Path, write_tree: Tree) -> None:
    root = write_tree(tmp_path, {"application.py": "import flask\napplication = flask.Flask(__name__)\n"})
    assert detect(root).wsgi == "application:application"


def test_a_src_layout_package_is_imported_by_its_own_name(tmp_path: Path, write_tree: Tree) -> None:
    root = write_tree(tmp_path / "repo", {
        "pyproject.toml": '[project]\nname = "Notes.App"\nrequires-python = ">=3.11"\n',
        "src/notes/__init__.py": FACTORY, "src/notes/static/notes.css": "", "tests/test_notes.py": MODULE_APP})
    assert detect(root) == Detected(
        root=root, name="notes-app", wsgi="notes:create_app()", framework="flask", wsgi_file="src/notes/__init__.py",
        requirements="pyproject.toml", static_dir="src/notes/static", python="3.11", python_source="pyproject.toml",
        searched=("src/notes/__init__.py",))


def test_a_wsgi_py_at_the_root_of_a_src_layout_wins_over_the_package(tmp_path: Path, write_tree: Tree) -> None:
    root = write_tree(tmp_path, {"wsgi.py": "from notes import create_app\napp = create_app()\n",
                                 "src/notes/__init__.py": FACTORY, "src/notes/static/notes.css": ""})
    detected = detect(root)
    assert (detected.wsgi, detected.others, detected.static_dir) == (
        "wsgi:app", ("notes:create_app() (src/notes/__init__.py)",), "src/notes/static")


def test_a_django_project_is_its_wsgi_application_and_has_no_static_dir(tmp_path: Path, write_tree: Tree) -> None:
    root = write_tree(tmp_path / "site", {"manage.py": MANAGE, "proj/__init__.py": "", "proj/settings.py": "",
                                          "proj/wsgi.py": DJANGO_WSGI, "static/base.css": "",
                                          "requirements.txt": "django\n"})
    assert detect(root) == Detected(
        root=root, name="site", wsgi="proj.wsgi:application", framework="django", wsgi_file="proj/wsgi.py",
        requirements="requirements.txt", static_dir=None,
        searched=("manage.py", "proj/wsgi.py", "proj/__init__.py"))


def test_a_pyproject_only_app_takes_its_python_from_requires_python(tmp_path: Path, write_tree: Tree) -> None:
    root = write_tree(tmp_path, {
        "pyproject.toml": '[project]\nname = "kiosk"\nrequires-python = ">=3.12,<4"\n',
        "kiosk/__init__.py": "",
        "kiosk/app.py": 'from flask import Flask\napp = Flask(__name__, static_folder="assets")\n',
        "kiosk/assets/a.js": ""})
    detected = detect(root)
    assert (detected.name, detected.wsgi, detected.requirements, detected.static_dir, detected.python) == (
        "kiosk", "kiosk.app:app", "pyproject.toml", "kiosk/assets", "3.12")


def test_wsgi_py_wins_and_the_other_candidates_are_reported(tmp_path: Path, write_tree: Tree) -> None:
    root = write_tree(tmp_path, {"wsgi.py": "from shop import create_app\napp = create_app()\n",
                                 "shop/__init__.py": FACTORY, "shop/static/logo.txt": ""})
    detected = detect(root)
    # wsgi.py does not call Flask itself: the static folder is the one of the package it imports.
    assert (detected.wsgi, detected.others, detected.static_dir) == (
        "wsgi:app", ("shop:create_app() (shop/__init__.py)",), "shop/static")


def test_a_wsgi_py_that_imports_the_app_is_a_target(tmp_path: Path, write_tree: Tree) -> None:
    root = write_tree(tmp_path, {"wsgi.py": "from shop.app import app as application\n",
                                 "shop/__init__.py": "", "shop/app.py": MODULE_APP, "shop/static/a.css": ""})
    detected = detect(root)
    assert (detected.wsgi, detected.others, detected.static_dir) == (
        "wsgi:application", ("shop.app:app (shop/app.py)",), "shop/static")


def test_an_app_object_wins_over_a_factory_in_the_same_file(tmp_path: Path, write_tree: Tree) -> None:
    root = write_tree(tmp_path, {"app.py": FACTORY + "\napp = create_app()\n"})
    assert (detect(root).wsgi, detect(root).others) == ("app:app", ("app:create_app() (app.py)",))


def test_a_factory_that_needs_arguments_is_not_a_target(tmp_path: Path, write_tree: Tree) -> None:
    root = write_tree(tmp_path, {"app.py": "def create_app(config):\n    pass\n"})
    with pytest.raises(DetectError):
        detect(root)


def test_static_folder_none_means_no_static_dir(tmp_path: Path, write_tree: Tree) -> None:
    root = write_tree(tmp_path, {"app.py": "from flask import Flask\napp = Flask(__name__, static_folder=None)\n",
                                 "static/x.css": ""})
    assert detect(root).static_dir is None


def test_no_wsgi_app_is_an_error_that_lists_what_was_searched(tmp_path: Path, write_tree: Tree) -> None:
    root = write_tree(tmp_path, {"app.py": "print('hello')\n", "main.py": "def broken(:\n", "README.md": "hi"})
    with pytest.raises(DetectError) as caught:
        detect(root)
    assert caught.value.searched == ("app.py", "main.py (does not parse)")
    assert str(caught.value).startswith(f"no WSGI app found in {root}: looked at app.py, main.py (does not parse). "
                                        "Looked for: manage.py naming <project>/wsgi.py (Django); wsgi.py, app.py")


def test_an_empty_directory_says_no_candidate_file_exists(tmp_path: Path) -> None:
    with pytest.raises(DetectError, match="looked at no candidate files"):
        detect(tmp_path)


@pytest.mark.parametrize(("name", "expected"), [
    ("shop", "shop"), ("My App.Web", "my-app-web"), ("_private", "private"), ("...", "app"),
    ("flask_shop", "flask_shop"),
])
def test_app_names_are_made_to_fit_the_inventory_name_rule(name: str, expected: str) -> None:
    assert app_name({"project": {"name": name}}, "ignored") == expected


def test_the_app_name_falls_back_to_the_directory_name() -> None:
    assert app_name({}, "Hello.World") == "hello-world"


@pytest.mark.parametrize(("version_file", "requires", "expected"), [
    ("3.11.7\n", ">=3.9", ("3.11", ".python-version")),
    ("3.12\n", None, ("3.12", ".python-version")),
    ("pypy3.10\n", ">=3.10", ("3.10", "pyproject.toml")),
    (None, ">=3.10,<4", ("3.10", "pyproject.toml")),
    (None, "~=3.11", ("3.11", "pyproject.toml")),
    (None, "<3.13", (None, None)),
    (None, None, (None, None)),
])
def test_the_python_version_comes_from_python_version_then_requires_python(
        tmp_path: Path, version_file: str | None, requires: str | None, expected: tuple) -> None:
    if version_file is not None:
        (tmp_path / ".python-version").write_text(version_file)
    pyproject = {"project": {"requires-python": requires}} if requires else {}
    assert detect_python(tmp_path, pyproject) == expected


def test_the_repository_root_is_the_directory_with_git(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert repository_root(tmp_path / "a" / "b") == tmp_path.resolve()


def test_without_git_the_repository_root_is_where_you_are(tmp_path: Path) -> None:
    assert repository_root(tmp_path) == tmp_path.resolve()


# --- the text init writes and prints --------------------------------------------

DETECTED = Detected(root=Path("/home/me/shop"), name="shop", wsgi="shop:create_app()", framework="flask",
                    wsgi_file="shop/__init__.py", others=("wsgi:app (wsgi.py)",), requirements="requirements.txt",
                    static_dir="shop/static", python="3.11", python_source=".python-version")

STAGE_FILE = '''\
# Stage "production" of shop: the app, and the hosts it is deployed to.
# Written by `wsgideploy init` from what it found in this repository; edit it freely.
# Every key, its type and its default: docs/inventory.md in wsgideploy's documentation.
# Check this file without connecting: wsgideploy inventory.check

[app]
name = "shop"                    # the nginx site's and the processes' name ([a-z0-9_-])
wsgi = "shop:create_app()"       # found in shop/__init__.py; also found: wsgi:app (wsgi.py)
# source = ".."                  # the local directory to deploy; default: the repository root (above deploy/)
server = "gunicorn"              # the app server (uwsgi, mod_wsgi, fastcgi, ...: docs/modes/)
proxy = "nginx"                  # the front server, which serves the static files itself
root = "/srv/shop"               # on the host: releases/, current, shared/, venvs/
server_name = "_"                # your domain (app.example.com); "_" answers any name
static_dir = "shop/static"       # served by nginx at /static
python = "python3.11"            # the host's Python for the venvs (from .python-version)

[hosts.web1]                     # the host's alias: wsgideploy -H web1 deploy
hostname = "web1.example.com"    # placeholder: your server's name or IP address
user = "deploy"                  # the SSH user that deploys; the app runs as its own user (`setup` makes both)
# port = 22
# identity = "~/.ssh/id_ed25519" # the SSH key; the file must exist (default: ssh-agent, ~/.ssh/id_*)
# roles = ["web"]                # labels for --roles and hooks
'''


def test_the_stage_file_is_commented_and_leaves_source_and_identity_commented_out() -> None:
    assert stage_file(DETECTED, "production") == STAGE_FILE


def test_without_a_static_folder_or_python_those_keys_stay_commented_out() -> None:
    bare = Detected(root=Path("/r"), name="hello", wsgi="app:app", framework="flask", wsgi_file="app.py")
    text = stage_file(bare, "staging", hostname="192.0.2.5", alias="web2")
    assert [line for line in text.splitlines() if "static_dir" in line or "python" in line or "hostname" in line] == [
        '# static_dir = "static"          # none found; the folder nginx serves at /static',
        '# python = "python3.11"          # the host\'s Python for the venvs; default: python3',
        'hostname = "192.0.2.5"           # the server\'s name or IP address',
    ]
    assert "[hosts.web2]" in text


def test_a_django_stage_file_says_static_root_is_used() -> None:
    django = Detected(root=Path("/r"), name="site", wsgi="proj.wsgi:application", framework="django",
                      wsgi_file="proj/wsgi.py")
    text = stage_file(django, "production")
    assert "# static_dir: not set; the deploy runs collectstatic and serves STATIC_ROOT at STATIC_URL" in text


def test_the_fabfile_is_a_docstring_and_one_import() -> None:
    assert FABFILE.splitlines() == [
        '"""Deploy tasks for `fab` (written by `wsgideploy init`); `wsgideploy --list` shows the same."""',
        "from wsgideploy.fab import ns  # noqa: F401"]
    assert FABFILE.endswith("F401\n")


def test_the_summary_names_every_fact_and_the_other_candidates() -> None:
    assert summary(DETECTED) == [
        "Detected in /home/me/shop:",
        "  app       shop",
        "  wsgi      shop:create_app()  (flask, in shop/__init__.py)",
        "            also found: wsgi:app (wsgi.py)",
        "  installs  requirements.txt (pip install -r)",
        "  static    shop/static",
        "  python    python3.11 (from .python-version)",
    ]


def test_the_next_steps_are_edit_commit_deploy_status() -> None:
    assert next_steps("production") == [
        "Next:",
        "  1. edit deploy/production.toml: hostname and user of [hosts.web1]",
        '  2. git add deploy fabfile.py && git commit -m "wsgideploy config"',
        "  3. wsgideploy -H web1 deploy",
        "  4. wsgideploy -H web1 status",
    ]
