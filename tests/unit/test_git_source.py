"""Deploy a commit, not a working tree: real git repositories made in tmp_path."""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from tests.gitrepo import commit_all, git
from wsgideploy.git_source import Change, GitError, check_expected_sha, describe_changes
from wsgideploy.source import DevServerError, SourceError, prepare_release
from wsgideploy.source_files import SourceOptions, build_archive, read_source

APP = {
    "app.py": 'from flask import Flask\napp = Flask(__name__)\nVERSION = "1"\n',
    "requirements.txt": "flask\n",
    "static/style.css": "body {}\n",
    ".gitignore": "local.cfg\n",
}


@pytest.fixture
def repo(tmp_path: Path, write_tree) -> Path:
    """A git repository whose top is the app, with one commit."""
    root = write_tree(tmp_path / "repo", APP)
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "v1")
    return root


@pytest.fixture
def app_in(make_app):
    return lambda source, **fields: make_app(source=source, **fields)


def paths(app, options: SourceOptions = SourceOptions(), inventory: Path | None = None) -> tuple[str, ...]:
    return read_source(app, options, inventory).paths


def test_a_clean_tree_ships_its_commit_head(repo: Path, app_in) -> None:
    content = read_source(app_in(repo))
    assert content.commit == git(repo, "rev-parse", "HEAD")
    assert (content.revision, content.dirty, content.from_git) == (content.commit, False, True)
    assert content.paths == (".gitignore", "app.py", "requirements.txt", "static/style.css")


def test_ignored_and_untracked_files_that_never_ship_leave_the_tree_clean_and_stay_out(repo: Path, write_tree,
                                                                                      app_in) -> None:
    write_tree(repo, {"local.cfg": "ignored\n", "venv/bin/python": "", "__pycache__/app.cpython-311.pyc": "",
                      ".env": "SECRET_KEY=x\n"})
    assert paths(app_in(repo)) == (".gitignore", "app.py", "requirements.txt", "static/style.css")


def test_a_new_stage_file_and_fabfile_not_yet_committed_leave_the_tree_clean(repo: Path, write_tree,
                                                                            app_in) -> None:
    # What `wsgideploy init` writes, before the user commits it: git shows `?? deploy/`, a folder.
    write_tree(repo, {"deploy/production.toml": "[app]\n", "fabfile.py": "", ".wsgideploy/.gitignore": "*\n"})
    content = read_source(app_in(repo), SourceOptions(), repo / "deploy" / "production.toml")
    assert (content.dirty, content.commit) == (False, git(repo, "rev-parse", "HEAD"))


def test_committed_secrets_and_deploy_config_never_ship(repo: Path, write_tree, app_in) -> None:
    write_tree(repo, {".env.production": "SECRET_KEY=prod\n", "certs/site.pem": "key\n", "site.key": "key\n",
                      "id_ed25519": "key\n", ".aws/credentials": "x\n", "deploy/production.toml": "[app]\n",
                      "deploy/staging.toml": "[app]\n", "deploy/Dockerfile": "FROM x\n", "fabfile.py": "",
                      "id_utils.py": "ID = 1\n"})
    commit_all(repo)
    shipped = paths(app_in(repo), inventory=repo / "deploy" / "production.toml")
    assert shipped == (".gitignore", "app.py", "deploy/Dockerfile", "id_utils.py", "requirements.txt",
                       "static/style.css")


def test_app_excludes_and_shared_paths_apply_to_the_commit_too(repo: Path, write_tree, app_in) -> None:
    write_tree(repo, {"docs/index.md": "# docs\n", "instance/seed.db": "db"})
    commit_all(repo)
    assert paths(app_in(repo, exclude=("docs",), shared=("instance",))) == (
        ".gitignore", "app.py", "requirements.txt", "static/style.css")


def test_untracked_files_do_not_ship_with_ref(repo: Path, write_tree, app_in) -> None:
    write_tree(repo, {"notes.txt": "untracked\n"})
    assert "notes.txt" not in paths(app_in(repo), SourceOptions(ref="HEAD"))


def test_a_dirty_tree_is_refused_naming_the_changed_files(repo: Path, write_tree, app_in) -> None:
    write_tree(repo, {"staged.py": ""})
    git(repo, "add", "staged.py")
    (repo / "app.py").write_text("changed\n")
    write_tree(repo, {"new.py": ""})
    with pytest.raises(SourceError) as caught:
        read_source(app_in(repo))
    message = str(caught.value)
    assert " M app.py" in message and "A  staged.py" in message and "?? new.py" in message
    assert "commit them, or deploy the working tree as it is with --allow-dirty" in message
    assert git(repo, "rev-parse", "HEAD")[:12] in message


def test_a_long_list_of_changes_is_cut_after_twenty(repo: Path, write_tree, app_in) -> None:
    write_tree(repo, {f"new{i:02}.py": "" for i in range(25)})
    with pytest.raises(SourceError) as caught:
        read_source(app_in(repo))
    assert "?? new19.py" in str(caught.value) and "new20.py" not in str(caught.value)
    assert "  and 5 more" in str(caught.value)


def test_allow_dirty_ships_the_working_tree_and_says_so(repo: Path, write_tree, app_in) -> None:
    (repo / "app.py").write_text("changed\n")
    write_tree(repo, {"new.py": "", "local.cfg": "ignored, but on disk\n"})
    content = read_source(app_in(repo), SourceOptions(allow_dirty=True))
    head = git(repo, "rev-parse", "HEAD")
    assert (content.commit, content.dirty, content.revision) == (head, True, head + "+dirty")
    assert content.paths == (".gitignore", "app.py", "local.cfg", "new.py", "requirements.txt", "static/style.css")
    assert dict((e.path, e.data) for e in content.entries)["app.py"] == b"changed\n"


def test_allow_dirty_on_a_clean_tree_still_ships_the_commit(repo: Path, app_in) -> None:
    content = read_source(app_in(repo), SourceOptions(allow_dirty=True))
    assert (content.dirty, content.from_git, content.revision) == (False, True, git(repo, "rev-parse", "HEAD"))


def test_ref_of_an_older_commit_ships_that_commit_whatever_the_working_tree(repo: Path, app_in) -> None:
    first = git(repo, "rev-parse", "HEAD")
    (repo / "app.py").write_text(APP["app.py"].replace('"1"', '"2"'))
    commit_all(repo, "v2")
    (repo / "app.py").write_text("dirty\n")
    content = read_source(app_in(repo), SourceOptions(ref="HEAD~1"))
    assert content.commit == first
    assert dict((e.path, e.data) for e in content.entries)["app.py"] == APP["app.py"].encode()
    assert read_source(app_in(repo), SourceOptions(ref=first[:8])).commit == first


@pytest.mark.parametrize("ref", ["no-such-branch", "--output=x", "HEAD~5"])
def test_a_ref_that_is_no_commit_is_refused_naming_it(repo: Path, app_in, ref: str) -> None:
    with pytest.raises(SourceError, match=f"--ref {ref}: no such commit"):
        read_source(app_in(repo), SourceOptions(ref=ref))


def test_ref_and_allow_dirty_together_are_refused(repo: Path, app_in) -> None:
    with pytest.raises(SourceError, match="--ref and --allow-dirty do not go together"):
        read_source(app_in(repo), SourceOptions(ref="HEAD", allow_dirty=True))


def test_expect_sha_accepts_the_full_sha_or_a_prefix_of_seven(repo: Path, app_in) -> None:
    head = git(repo, "rev-parse", "HEAD")
    for expected in (head, head[:7], head[:12].upper()):
        assert read_source(app_in(repo), SourceOptions(expect_sha=expected)).commit == head


def test_expect_sha_refuses_another_commit_naming_both(repo: Path, app_in) -> None:
    head = git(repo, "rev-parse", "HEAD")
    with pytest.raises(SourceError) as caught:
        read_source(app_in(repo), SourceOptions(expect_sha="0123456789abcdef"))
    assert f"the commit to deploy is {head}, not 0123456789abcdef" in str(caught.value)


@pytest.mark.parametrize("expected", ["abc123", "not-a-sha", "0" * 41])
def test_expect_sha_must_be_seven_to_forty_hex_digits(expected: str) -> None:
    with pytest.raises(GitError, match="is not a commit sha"):
        check_expected_sha("0" * 40, expected)


def test_expect_sha_refuses_a_dirty_tree_shipped_with_allow_dirty(repo: Path, app_in) -> None:
    head = git(repo, "rev-parse", "HEAD")
    (repo / "app.py").write_text("changed\n")
    with pytest.raises(SourceError, match="has changes"):
        read_source(app_in(repo), SourceOptions(allow_dirty=True, expect_sha=head))


def test_a_source_in_a_subdirectory_ships_only_its_subtree(tmp_path: Path, write_tree, app_in) -> None:
    top = write_tree(tmp_path / "mono", {"README.md": "top\n", "services/api/x.py": "",
                                         **{f"apps/hello/{k}": v for k, v in APP.items()}})
    git(top, "init", "-q")
    head = commit_all(top)
    (top / "services" / "api" / "x.py").write_text("changed elsewhere: not this app's business\n")
    content = read_source(app_in(top / "apps" / "hello"))
    assert content.commit == head
    assert content.paths == (".gitignore", "app.py", "requirements.txt", "static/style.css")


def test_a_dirty_subdirectory_names_its_paths_from_the_top(tmp_path: Path, write_tree, app_in) -> None:
    top = write_tree(tmp_path / "mono", {f"apps/hello/{k}": v for k, v in APP.items()})
    git(top, "init", "-q")
    commit_all(top)
    (top / "apps" / "hello" / "app.py").write_text("changed\n")
    with pytest.raises(SourceError, match=r" M apps/hello/app\.py"):
        read_source(app_in(top / "apps" / "hello"))


def test_the_same_commit_gives_the_same_source_hash(repo: Path, app_in) -> None:
    app = app_in(repo)
    first = prepare_release(app, "20261121T101500Z", read_source(app))
    os.utime(repo / "app.py", (1_000_000_000, 1_000_000_000))
    second = prepare_release(app, "20261121T101600Z", read_source(app))
    assert first.source_hash == second.source_hash


def test_a_commit_hashes_like_the_same_files_on_disk(repo: Path, app_in) -> None:
    for path in repo.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            path.chmod(0o644)
    app = app_in(repo)
    assert prepare_release(app, "20261121T101500Z", read_source(app)).source_hash == build_archive(app)[1]


def test_prepare_release_records_the_commit_and_the_files(repo: Path, app_in) -> None:
    app = app_in(repo)
    rel = prepare_release(app, "20261121T101500Z", read_source(app))
    head = git(repo, "rev-parse", "HEAD")
    assert (rel.commit, rel.revision, rel.static_dir) == (head, head, "static")
    assert rel.files == (".gitignore", "app.py", "requirements.txt", "static/style.css")
    assert rel.file_count == 4
    with tarfile.open(fileobj=io.BytesIO(rel.archive), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == list(rel.files)
        assert {m.mode for m in tar.getmembers()} == {0o644}


def test_executable_bits_and_symlinks_survive_the_commit(repo: Path, app_in) -> None:
    (repo / "run.sh").write_text("#!/bin/sh\n")
    (repo / "run.sh").chmod(0o755)
    (repo / "latest.css").symlink_to("static/style.css")
    commit_all(repo)
    entries = {e.path: e for e in read_source(app_in(repo)).entries}
    assert entries["run.sh"].mode == 0o755
    assert (entries["latest.css"].link, entries["latest.css"].mode) == ("static/style.css", 0o777)


def test_the_dev_server_check_reads_the_commit_that_ships(repo: Path, app_in) -> None:
    (repo / "app.py").write_text(APP["app.py"] + "app.run()\n")
    commit_all(repo, "oops")
    (repo / "app.py").write_text(APP["app.py"])
    commit_all(repo, "fixed")
    app = app_in(repo)
    prepare_release(app, "20261121T101500Z", read_source(app))  # HEAD is fine
    with pytest.raises(DevServerError, match="unguarded app.run()"):
        prepare_release(app, "20261121T101500Z", read_source(app, SourceOptions(ref="HEAD~1")))


def test_a_ref_with_other_requirements_than_the_working_tree_is_refused(repo: Path, app_in) -> None:
    (repo / "requirements.txt").write_text("flask\nsix\n")
    commit_all(repo, "six")
    app = app_in(repo)
    with pytest.raises(SourceError, match="differs between the commit"):
        prepare_release(app, "20261121T101500Z", read_source(app, SourceOptions(ref="HEAD~1")))


def test_a_repository_without_a_commit_is_refused_unless_allow_dirty(tmp_path: Path, write_tree, app_in) -> None:
    source = write_tree(tmp_path / "fresh", APP)
    git(source, "init", "-q")
    with pytest.raises(SourceError, match="has no commit yet: commit, or deploy the working tree"):
        read_source(app_in(source))
    content = read_source(app_in(source), SourceOptions(allow_dirty=True))
    assert (content.commit, content.revision, content.dirty) == (None, None, True)


@pytest.mark.parametrize("options, flags", [(SourceOptions(ref="main"), "--ref"),
                                            (SourceOptions(expect_sha="abcdef0"), "--expect-sha")])
def test_ref_and_expect_sha_need_a_git_source(make_app, write_tree, tmp_path: Path, options, flags: str) -> None:
    write_tree(tmp_path / "src", APP)
    with pytest.raises(SourceError, match=f"is not in a git repository: {flags} need one"):
        read_source(make_app(), options)


def test_outside_git_the_working_tree_ships_without_a_commit(make_app, write_tree, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {**APP, ".env.local": "SECRET=1\n", "server.pem": "key\n"})
    content = read_source(make_app())
    assert (content.commit, content.revision, content.from_git) == (None, None, False)
    assert content.paths == (".gitignore", "app.py", "requirements.txt", "static/style.css")


def test_describe_changes_lists_git_status_lines() -> None:
    found = [Change(" M", "a.py", "a.py"), Change("??", "new/", "new")]
    assert describe_changes(found) == "   M a.py\n  ?? new/"
    assert describe_changes(found, limit=1) == "   M a.py\n  and 1 more"


def test_a_source_in_an_ignored_folder_of_a_repository_is_refused_naming_it(tmp_path: Path, write_tree,
                                                                             app_in) -> None:
    top = write_tree(tmp_path / "mono", {".gitignore": "build/\n", "README.md": "top\n",
                                         **{f"build/hello/{k}": v for k, v in APP.items()}})
    git(top, "init", "-q")
    commit_all(top)
    with pytest.raises(SourceError, match="build/hello is not in commit .* ignored, or not committed yet"):
        read_source(app_in(top / "build" / "hello"))
