"""``wsgideploy init``: writes a stage file that loads, a two-line fabfile and ``.wsgideploy/.gitignore``;
never overwrites a file; no WSGI app, a bad option or an invalid result is exit 2 with nothing written."""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from invoke import Context
from invoke.exceptions import Exit

from wsgideploy.cli.init import init
from wsgideploy.errors import ExitCode
from wsgideploy.init_files import FABFILE
from wsgideploy.inventory import load_inventories, load_stage

Tree = Callable[[Path, dict[str, str | bytes]], Path]
APPS = Path(__file__).resolve().parents[1] / "apps"
FACTORY = "from flask import Flask\n\n\ndef create_app():\n    return Flask(__name__)\n"
MODULE_APP = "from flask import Flask\n\napp = Flask(__name__)\n"


def git_init(path: Path) -> Path:
    """A real git repository at ``path`` (the root init looks for)."""
    subprocess.run(["git", "init", "-q", str(path)], check=True, timeout=30)
    return path


def files_under(root: Path) -> list[str]:
    """Every file below ``root`` outside .git, relative and sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and ".git" not in p.relative_to(root).parts[:1])


def run_init(**options: str) -> None:
    init(Context(), **options)


@pytest.fixture
def factory_repo(tmp_path: Path, write_tree: Tree) -> Path:
    """A git repository holding a Flask factory package with a static folder."""
    root = git_init(tmp_path / "shop")
    return write_tree(root, {"shop/__init__.py": FACTORY, "shop/static/logo.txt": "logo", "requirements.txt": "flask\n",
                             ".python-version": "3.11.7\n"})


def test_init_writes_a_stage_file_that_loads_with_what_it_detected(
        factory_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(factory_repo)
    run_init()
    stage = load_stage(factory_repo / "deploy" / "production.toml")
    app = stage.app
    assert (app.name, app.wsgi, app.source, app.root, app.static_dir, app.python, app.server, app.proxy) == (
        "shop", "shop:create_app()", factory_repo.resolve(), "/srv/shop", "shop/static", "python3.11",
        "gunicorn", "nginx")
    assert [(h.alias, h.hostname, h.user, h.identity) for h in stage.hosts] == [
        ("web1", "web1.example.com", "deploy", None)]


def test_init_writes_the_two_line_fabfile_and_ignores_its_run_logs(
        factory_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(factory_repo)
    run_init()
    assert (factory_repo / "fabfile.py").read_text() == (
        '"""Deploy tasks for `fab` (written by `wsgideploy init`); `wsgideploy --list` shows the same."""\n'
        "from wsgideploy.fab import ns  # noqa: F401\n") == FABFILE
    assert (factory_repo / ".wsgideploy" / ".gitignore").read_text() == "*\n"
    (factory_repo / ".wsgideploy" / "run.log").write_text("a local run log\n")
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=factory_repo,
                            capture_output=True, text=True, check=True, timeout=30).stdout
    assert ".wsgideploy" not in status


def test_init_from_a_subdirectory_writes_at_the_repository_root(
        factory_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(factory_repo / "shop" / "static")
    run_init()
    assert files_under(factory_repo) == [".python-version", ".wsgideploy/.gitignore", "deploy/production.toml",
                                         "fabfile.py", "requirements.txt", "shop/__init__.py", "shop/static/logo.txt"]


def test_without_a_git_repository_init_works_in_the_current_directory(
        tmp_path: Path, write_tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path, {"app.py": MODULE_APP})
    monkeypatch.chdir(tmp_path)
    run_init()
    assert load_stage(tmp_path / "deploy" / "production.toml").app.wsgi == "app:app"


def test_init_prints_what_it_found_what_it_wrote_and_the_next_commands(
        factory_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(factory_repo)
    run_init()
    assert capsys.readouterr().out == f"""\
Detected in {factory_repo.resolve()}:
  app       shop
  wsgi      shop:create_app()  (flask, in shop/__init__.py)
  installs  requirements.txt (pip install -r)
  static    shop/static
  python    python3.11 (from .python-version)
Wrote:
  deploy/production.toml
  fabfile.py
  .wsgideploy/.gitignore
Next:
  1. edit deploy/production.toml: hostname and user of [hosts.web1]
  2. git add deploy fabfile.py && git commit -m "wsgideploy config"
  3. wsgideploy -H web1 deploy
  4. wsgideploy -H web1 status
"""


def test_stage_and_host_options_name_the_file_and_the_hostname(
        factory_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(factory_repo)
    run_init(stage="staging", host="192.0.2.5")
    stage = load_stage(factory_repo / "deploy" / "staging.toml")
    assert (stage.name, [(h.alias, h.hostname) for h in stage.hosts]) == ("staging", [("web1", "192.0.2.5")])


def test_a_second_stage_gets_a_host_alias_no_other_stage_uses(
        factory_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(factory_repo)
    run_init()
    (factory_repo / "fabfile.py").unlink()  # the second run would refuse to overwrite it
    run_init(stage="staging")
    stages = load_inventories(factory_repo / "deploy")  # aliases are unique across stages
    assert {name: [h.alias for h in s.hosts] for name, s in stages.items()} == {
        "production": ["web1"], "staging": ["web2"]}


@pytest.mark.parametrize("existing", ["deploy/production.toml", "fabfile.py"])
def test_init_refuses_to_overwrite_and_writes_nothing(
        factory_repo: Path, monkeypatch: pytest.MonkeyPatch, existing: str) -> None:
    (factory_repo / existing).parent.mkdir(exist_ok=True)
    (factory_repo / existing).write_text("# mine\n")
    before = files_under(factory_repo)
    monkeypatch.chdir(factory_repo)
    with pytest.raises(Exit) as caught:
        run_init()
    assert caught.value.code == ExitCode.USAGE
    assert caught.value.message == (f"wsgideploy: {existing} already exists in {factory_repo.resolve()}; "
                                     "init never overwrites a file (nothing was written)")
    assert files_under(factory_repo) == before
    assert (factory_repo / existing).read_text() == "# mine\n"


def test_an_existing_gitignore_of_the_run_logs_is_kept(factory_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (factory_repo / ".wsgideploy").mkdir()
    (factory_repo / ".wsgideploy" / ".gitignore").write_text("*\n!keep\n")
    monkeypatch.chdir(factory_repo)
    run_init()
    assert (factory_repo / ".wsgideploy" / ".gitignore").read_text() == "*\n!keep\n"


def test_no_wsgi_app_is_exit_2_naming_what_was_searched(
        tmp_path: Path, write_tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_tree(git_init(tmp_path / "empty"), {"app.py": "print('not an app')\n", "README.md": "hi\n"})
    monkeypatch.chdir(root)
    with pytest.raises(Exit) as caught:
        run_init()
    assert caught.value.code == ExitCode.USAGE
    assert caught.value.message.startswith(f"wsgideploy: no WSGI app found in {root.resolve()}: looked at app.py. ")
    assert files_under(root) == ["README.md", "app.py"]


def test_an_invalid_hostname_is_exit_2_and_removes_what_was_written(
        factory_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = files_under(factory_repo)
    monkeypatch.chdir(factory_repo)
    with pytest.raises(Exit) as caught:
        run_init(host="not a host!")
    assert caught.value.code == ExitCode.USAGE
    assert "hosts.web1.hostname: is not a valid hostname or IP address: 'not a host!'" in caught.value.message
    assert files_under(factory_repo) == before
    assert not (factory_repo / "deploy").exists() and not (factory_repo / ".wsgideploy").exists()


def test_a_stage_name_that_is_not_a_file_name_is_exit_2(factory_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(factory_repo)
    with pytest.raises(Exit) as caught:
        run_init(stage="../prod")
    assert caught.value.code == ExitCode.USAGE
    assert not (factory_repo / "deploy").exists()


def test_a_module_app_gets_module_colon_app(tmp_path: Path, write_tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_tree(git_init(tmp_path / "hello"),
                      {"app.py": MODULE_APP, "static/site.css": "", "requirements.txt": ""})
    monkeypatch.chdir(root)
    run_init()
    app = load_stage(root / "deploy" / "production.toml").app
    assert (app.name, app.wsgi, app.static_dir, app.python) == ("hello", "app:app", "static", "python3")


def test_a_src_layout_package_with_pyproject_loads(tmp_path: Path, write_tree: Tree,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_tree(git_init(tmp_path / "repo"), {
        "pyproject.toml": '[project]\nname = "notes"\nversion = "1"\nrequires-python = ">=3.12"\n',
        "src/notes/__init__.py": FACTORY, "src/notes/static/notes.css": ""})
    monkeypatch.chdir(root)
    run_init()
    app = load_stage(root / "deploy" / "production.toml").app
    assert (app.name, app.wsgi, app.static_dir, app.python) == ("notes", "notes:create_app()", "src/notes/static",
                                                                "python3.12")


def test_a_django_project_loads_with_its_wsgi_application(tmp_path: Path, write_tree: Tree,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_tree(git_init(tmp_path / "site"), {
        "manage.py": 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")\n',
        "proj/__init__.py": "", "proj/settings.py": "", "requirements.txt": "django\n",
        "proj/wsgi.py": "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n"})
    monkeypatch.chdir(root)
    run_init()
    app = load_stage(root / "deploy" / "production.toml").app
    assert (app.name, app.wsgi, app.static_dir) == ("site", "proj.wsgi:application", None)


def test_the_app_with_its_own_tasks_py_is_detected_as_its_flask_module(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The third-party-shaped app of the end-to-end test: its Invoke tasks.py is no WSGI candidate.
    root = git_init(tmp_path / "flask_with_tasks")
    shutil.copytree(APPS / "flask_with_tasks", root, dirs_exist_ok=True)
    monkeypatch.chdir(root)
    run_init()
    app = load_stage(root / "deploy" / "production.toml").app
    assert (app.name, app.wsgi, app.static_dir) == ("flask_with_tasks", "app:app", "static")
