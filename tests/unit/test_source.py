"""The local source: the release archive and its hash, the venv plan, static and shared paths."""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from wsgideploy.source import (SourceError, find_static_dir, plan_install, prepare_release,
                               shared_kinds)
from wsgideploy.source_files import build_archive, release_files

APP_FILES: dict[str, str | bytes] = {
    "app.py": "from flask import Flask\napp = Flask(__name__)\n",
    "requirements.txt": "flask==3.0.0\n",
    "static/style.css": "body {}\n",
    "templates/index.html": "<h1>hi</h1>\n",
    "hello/__init__.py": "",
    "hello/views.py": "VIEWS = 1\n",
    "hello/id_utils.py": "",           # not an SSH key: only id_rsa*, id_ed25519*, ... are
    "hello/fabfile.py": "",            # only the top-level fabfile.py is the deploy's
    # never uploaded
    ".git/config": "[core]\n",
    ".git/objects/ab/cdef": b"\x00\x01",
    "__pycache__/app.cpython-311.pyc": b"\x00",
    "hello/__pycache__/views.cpython-311.pyc": b"\x00",
    "hello/views.pyc": b"\x00",
    ".env": "SECRET_KEY=hunter2\n",
    "venv/bin/python": "#!/bin/sh\n",
    ".venv/lib/site.py": "",
    "node_modules/left-pad/index.js": "",
    ".pytest_cache/v/cache": "",
    "hello.egg-info/PKG-INFO": "",
    # secrets and the deploy's own configuration: never uploaded either
    ".env.production": "SECRET_KEY=prod\n",
    ".env.example": "SECRET_KEY=\n",
    "deploy.pem": "-----BEGIN PRIVATE KEY-----\n",
    "certs/server.key": "-----BEGIN PRIVATE KEY-----\n",
    "id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
    "keys/id_ed25519.pub": "ssh-ed25519 AAAA\n",
    ".netrc": "machine x login y password z\n",
    ".pypirc": "[pypi]\npassword = z\n",
    ".aws/credentials": "[default]\n",
    ".ssh/config": "Host *\n",
    "fabfile.py": "from wsgideploy.fab import *\n",
    "fabric.yaml": "tasks: {}\n",
    "inventories/production.toml": "[app]\n",
    ".wsgideploy/logs/deploy.log": "",
    # shared (they live in <root>/shared on the host)
    "instance/app.db": b"sqlite",
    "config/local.ini": "[x]\n",
    # app excludes
    "docs/index.md": "# docs\n",
    "tests/test_app.py": "def test(): pass\n",
}

UPLOADED = ["app.py", "hello/__init__.py", "hello/fabfile.py", "hello/id_utils.py", "hello/views.py",
            "requirements.txt", "static/style.css", "templates/index.html"]


@pytest.fixture
def source_app(make_app, write_tree, tmp_path: Path):
    write_tree(tmp_path / "src", APP_FILES)
    return make_app(shared=("instance", "config/local.ini"), exclude=("docs", "tests/*.py"))


def archive_members(archive: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def test_release_files_skip_vcs_caches_secrets_venvs_deploy_config_shared_and_app_excludes(source_app) -> None:
    assert [p.relative_to(source_app.source).as_posix() for p in release_files(source_app)] == UPLOADED


def test_archive_holds_exactly_the_release_files(source_app) -> None:
    archive, _ = build_archive(source_app)
    assert sorted(archive_members(archive)) == UPLOADED


def test_archive_keeps_file_contents_and_drops_local_ownership(source_app) -> None:
    archive, _ = build_archive(source_app)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert tar.extractfile("app.py").read() == APP_FILES["app.py"].encode()
        for member in tar.getmembers():
            assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")


def test_archive_keeps_symlinks_as_links(source_app) -> None:
    (source_app.source / "latest.css").symlink_to("static/style.css")
    (source_app.source / "assets").symlink_to("static", target_is_directory=True)
    members = archive_members(build_archive(source_app)[0])
    assert (members["latest.css"].issym(), members["latest.css"].linkname) == (True, "static/style.css")
    assert (members["assets"].issym(), members["assets"].linkname) == (True, "static")
    assert "assets/style.css" not in members  # the linked folder is not copied as well


def test_source_hash_is_stable_across_two_builds(source_app) -> None:
    assert build_archive(source_app)[1] == build_archive(source_app)[1]


def test_source_hash_ignores_mtimes(source_app) -> None:
    before = build_archive(source_app)[1]
    for path in source_app.source.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000), follow_symlinks=False)
    assert build_archive(source_app)[1] == before


@pytest.mark.parametrize("change", [
    pytest.param(lambda src: (src / "hello" / "views.py").write_text("VIEWS = 2\n"), id="content"),
    pytest.param(lambda src: (src / "new.py").write_text(""), id="new-file"),
    pytest.param(lambda src: (src / "templates" / "index.html").unlink(), id="removed-file"),
    pytest.param(lambda src: (src / "app.py").rename(src / "main.py"), id="renamed-file"),
    pytest.param(lambda src: (src / "app.py").chmod(0o755), id="mode"),
])
def test_source_hash_changes_when_the_release_changes(source_app, change) -> None:
    before = build_archive(source_app)[1]
    change(source_app.source)
    assert build_archive(source_app)[1] != before


@pytest.mark.parametrize("change", [
    pytest.param(lambda src: (src / ".env").write_text("SECRET_KEY=other\n"), id="dotenv"),
    pytest.param(lambda src: (src / "instance" / "app.db").write_bytes(b"more"), id="shared-dir"),
    pytest.param(lambda src: (src / "__pycache__" / "x.pyc").write_bytes(b"1"), id="pycache"),
    pytest.param(lambda src: (src / "docs" / "more.md").write_text("x"), id="app-exclude"),
])
def test_source_hash_ignores_files_that_are_not_uploaded(source_app, change) -> None:
    before = build_archive(source_app)[1]
    change(source_app.source)
    assert build_archive(source_app)[1] == before


def test_exclude_pattern_with_a_slash_matches_paths_not_names(make_app, write_tree, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"app.py": "", "tests/test_a.py": "", "tests/data.json": "",
                                  "pkg/tests/test_b.py": ""})
    app = make_app(exclude=("tests/*.py",))
    assert [p.relative_to(app.source).as_posix() for p in release_files(app)] == [
        "app.py", "pkg/tests/test_b.py", "tests/data.json"]


def test_prepare_release_gathers_archive_count_static_and_shared(source_app) -> None:
    rel = prepare_release(source_app, "20261121T101500Z")
    assert (rel.release_id, rel.file_count, rel.static_dir) == ("20261121T101500Z", len(UPLOADED), "static")
    assert rel.shared == {"instance": "dir", "config/local.ini": "file"}
    assert rel.source_hash == build_archive(source_app)[1]
    assert sorted(archive_members(rel.archive)) == UPLOADED


# --- the venv plan ---------------------------------------------------------------

RELEASE_DIR = "/srv/hello/releases/20261121T101500Z"


# What fills the venv, per kind of app: test_install_plan.py.


def test_plan_install_without_requirements_or_pyproject_is_a_source_error(make_app, write_tree,
                                                                          tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"app.py": ""})
    app = make_app()
    with pytest.raises(SourceError, match="neither requirements.txt nor pyproject.toml") as caught:
        plan_install(app, RELEASE_DIR, "3.11.7", "hash-a")
    assert str(app.source) in str(caught.value)


def test_requirements_venv_key_depends_on_requirements_and_python_only(make_app, write_tree,
                                                                       tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, {"requirements.txt": "flask==3.0.0\n", "app.py": "v = 1\n"})
    app = make_app()
    key = plan_install(app, RELEASE_DIR, "3.11.7", "hash-a").key
    (src / "app.py").write_text("v = 2\n")
    assert plan_install(app, "/srv/hello/releases/other", "3.11.7", "hash-b").key == key
    assert plan_install(app, RELEASE_DIR, "3.12.1", "hash-a").key != key
    (src / "requirements.txt").write_text("flask==3.0.1\n")
    assert plan_install(app, RELEASE_DIR, "3.11.7", "hash-a").key != key


def test_requirements_venv_key_changes_when_an_included_requirements_file_changes(make_app, write_tree,
                                                                                 tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, {"requirements.txt": "-r requirements/base.txt\n", "requirements/base.txt": "flask==3.0.0\n"})
    app = make_app()
    key = plan_install(app, RELEASE_DIR, "3.11.7", "hash-a").key
    (src / "requirements" / "base.txt").write_text("flask==3.0.1\n")
    assert plan_install(app, RELEASE_DIR, "3.11.7", "hash-a").key != key


def test_a_package_whose_dependencies_are_dynamic_has_a_venv_key_that_follows_the_whole_source(
        make_app, write_tree, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"pyproject.toml": '[project]\nname = "a"\ndynamic = ["dependencies"]\n'})
    app = make_app()
    key = plan_install(app, RELEASE_DIR, "3.11.7", "hash-a").key
    assert plan_install(app, RELEASE_DIR, "3.11.7", "hash-a").key == key
    assert plan_install(app, RELEASE_DIR, "3.11.7", "hash-b").key != key
    assert plan_install(app, RELEASE_DIR, "3.12.1", "hash-a").key != key


def test_requirements_and_package_keys_differ_for_the_same_inputs(make_app, write_tree, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"pyproject.toml": '[project]\nname = "a"\ndynamic = ["dependencies"]\n'})
    app = make_app()
    package_key = plan_install(app, RELEASE_DIR, "3.11.7", "").key
    (app.source / "requirements.txt").write_text("")
    assert plan_install(app, RELEASE_DIR, "3.11.7", "").key != package_key


# --- static and shared ------------------------------------------------------------

STATIC_CASES = [
    # (files, wsgi, static_dir setting, expected)
    ({"app.py": "", "static/a.css": ""}, "app:app", None, "static"),
    ({"hello/__init__.py": "", "hello/static/a.css": ""}, "hello:create_app()", None, "hello/static"),
    ({"hello/wsgi.py": "", "hello/static/a.css": ""}, "hello.wsgi:app", None, "hello/static"),
    ({"hello/web/wsgi.py": "", "hello/web/static/a.css": ""}, "hello.web.wsgi:app", None, "hello/web/static"),
    ({"src/hello/__init__.py": "", "src/hello/static/a.css": ""}, "hello:create_app()", None, "src/hello/static"),
    ({"src/hello/wsgi.py": "", "src/hello/static/a.css": ""}, "hello.wsgi:app", None, "src/hello/static"),
    ({"app.py": "", "static/a.css": "", "assets/a.css": ""}, "app:app", "assets", "assets"),
    ({"app.py": ""}, "app:app", "/public/", "public"),
    ({"app.py": ""}, "app:app", None, None),
    ({"app.py": "", "static": "a file, not a folder"}, "app:app", None, None),
    # the Flask(...) call decides: in a package the top-level module imports, or with a static_folder literal
    ({"wsgi.py": "from app import create_app\napp = create_app()\n",
      "app/__init__.py": "from flask import Flask\ndef create_app():\n    return Flask(__name__)\n",
      "app/static/a.css": ""}, "wsgi:app", None, "app/static"),
    ({"app.py": "from flask import Flask\napp = Flask(__name__, static_folder='web/assets')\n", "static/a.css": "",
      "web/assets/a.css": ""}, "app:app", None, "web/assets"),
    ({"src/shop/__init__.py": "from flask import Flask\napp = Flask(__name__, static_folder='../../assets')\n",
      "assets/a.css": ""}, "shop:app", None, "assets"),
]


@pytest.mark.parametrize("files, wsgi, static_dir, expected", STATIC_CASES)
def test_find_static_dir(make_app, write_tree, tmp_path: Path, files, wsgi: str, static_dir, expected) -> None:
    write_tree(tmp_path / "src", files)
    assert find_static_dir(make_app(wsgi=wsgi, static_dir=static_dir)) == expected


def test_find_static_dir_never_returns_a_path_with_an_empty_segment(make_app, write_tree, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"app.py": "", "src/static/a.css": ""})
    found = find_static_dir(make_app(wsgi="app:app"))
    assert found is None or "//" not in found


SHARED_CASES = [
    # (shared setting, files in the source, expected kinds)
    (("instance",), {}, {"instance": "dir"}),
    (("logs/",), {}, {"logs": "dir"}),
    (("uploads",), {"uploads/a.png": ""}, {"uploads": "dir"}),
    ((".env",), {}, {".env": "file"}),
    ((".env.production",), {}, {".env.production": "file"}),
    (("config/settings.py",), {}, {"config/settings.py": "file"}),
    (("db.sqlite3",), {}, {"db.sqlite3": "file"}),
    (("VERSION",), {"VERSION": "1\n"}, {"VERSION": "file"}),
    (("data.d",), {"data.d/x": ""}, {"data.d": "dir"}),
    (("cache.d/",), {}, {"cache.d": "dir"}),
    (("instance", ".env"), {}, {"instance": "dir", ".env": "file"}),
]


@pytest.mark.parametrize("shared, files, expected", SHARED_CASES)
def test_shared_kinds(make_app, write_tree, tmp_path: Path, shared, files, expected) -> None:
    write_tree(tmp_path / "src", files)
    assert shared_kinds(make_app(shared=shared)) == expected
