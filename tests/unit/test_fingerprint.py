"""``fingerprint.release_fingerprint``: the same inputs give the same hash; any setting changes it.
``fingerprint.is_no_op``: when a deploy leaves a host alone."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from wsgideploy.fingerprint import directory_hash, is_no_op, release_fingerprint
from wsgideploy.inventory import App, Hook, Hooks, Host, Nginx, Ssh, Stage


def stage_and_host(**app: object) -> tuple[Stage, Host]:
    host = Host(alias="web1", stage="production", hostname="web1.example.com", vars={"workers": 2})
    stage = Stage(name="production", path=Path("production.toml"),
                  app=App(name="hello", source=Path("/src"), wsgi="app:app", root="/srv/hello", **app),  # type: ignore[arg-type]
                  nginx=Nginx(), ssh=Ssh(), vars={"threads": 1}, hosts=(host,))
    return stage, host


def test_the_same_deploy_has_the_same_fingerprint() -> None:
    stage, host = stage_and_host()
    assert release_fingerprint(stage, host, "abc", b"A=1\n") == release_fingerprint(stage, host, "abc", b"A=1\n")
    assert len(release_fingerprint(stage, host, "abc", None)) == 64


def test_the_hosts_of_a_run_share_the_template_hashes_with_the_same_result(tmp_path: Path) -> None:
    """Issue 16 (the controller's CPU per host): a run reads each template directory once, not once per host."""
    own = tmp_path / "templates"
    own.mkdir()
    (own / "site.j2").write_text("one")
    stage, host = stage_and_host(templates=own)
    hashed: dict[Path | None, str] = {}
    first = release_fingerprint(stage, host, "abc", None, hashed)
    assert own in hashed and len(hashed) == 2  # the bundled templates and the app's own
    (own / "site.j2").write_text("two")  # read again only without the run's hashes
    assert release_fingerprint(stage, host, "abc", None, hashed) == first
    assert release_fingerprint(stage, host, "abc", None) != first


def test_source_settings_env_hooks_and_roles_each_change_it() -> None:
    stage, host = stage_and_host()
    base = release_fingerprint(stage, host, "abc", b"A=1\n")
    changed = [
        release_fingerprint(stage, host, "abd", b"A=1\n"),
        release_fingerprint(stage, host, "abc", b"A=2\n"),
        release_fingerprint(stage, host, "abc", None),
        release_fingerprint(stage_and_host(listen=8080)[0], host, "abc", b"A=1\n"),
        release_fingerprint(replace(stage, vars={"threads": 2}), host, "abc", b"A=1\n"),
        release_fingerprint(stage, replace(host, vars={"workers": 3}), "abc", b"A=1\n"),
        release_fingerprint(replace(stage, nginx=Nginx(sudo=False)), host, "abc", b"A=1\n"),
        release_fingerprint(replace(stage, hooks=Hooks(before_switch=(Hook("true"),))), host, "abc", b"A=1\n"),
        release_fingerprint(stage, replace(host, roles=("migrate",)), "abc", b"A=1\n"),
    ]
    assert base not in changed and len(set(changed)) == len(changed)


def test_the_secret_values_are_not_in_it() -> None:
    stage, host = stage_and_host()
    assert "s3cret" not in release_fingerprint(stage, host, "abc", b"TOKEN=s3cret\n")


def test_directory_hash_follows_names_and_contents(tmp_path: Path) -> None:
    (tmp_path / "a.j2").write_text("x")
    first = directory_hash(tmp_path)
    (tmp_path / "a.j2").write_text("y")
    second = directory_hash(tmp_path)
    (tmp_path / "a.j2").rename(tmp_path / "b.j2")
    assert len({first, second, directory_hash(tmp_path)}) == 3
    assert directory_hash(None) == "" and directory_hash(tmp_path / "missing") == ""


LIVE_FINGERPRINT = "f1" * 32


def test_a_deploy_with_the_live_release_fingerprint_is_a_no_op() -> None:
    assert is_no_op(LIVE_FINGERPRINT, LIVE_FINGERPRINT, live_bad=False)


def test_a_live_release_marked_bad_is_never_a_no_op_even_with_the_same_fingerprint() -> None:
    # A first release that failed its health check stays live, marked bad, with its fingerprint.
    assert not is_no_op(LIVE_FINGERPRINT, LIVE_FINGERPRINT, live_bad=True)


def test_another_or_a_missing_fingerprint_is_not_a_no_op() -> None:
    assert not is_no_op(LIVE_FINGERPRINT, "0f" * 32, live_bad=False)
    assert not is_no_op(LIVE_FINGERPRINT, "", live_bad=False)
    assert not is_no_op("", "", live_bad=False)
