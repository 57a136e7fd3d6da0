"""``targets.select_targets``: -H aliases, a stage task, or FABRIC_DEPLOY_STAGE."""
from __future__ import annotations

from pathlib import Path

import pytest
from invoke import Config, Context

from wsgideploy.inventory import InventoryError, UnknownHostError
from wsgideploy.targets import (INVENTORIES_ENV, STAGE_ENV, NoInventoriesError, NoTargetsError, find_inventories,
                                inventories_dir, select_targets, stage_names)

APP = '[app]\nname = "hello"\nsource = "src"\nwsgi = "app:app"\nroot = "/srv/hello"\n'
STAGES = {
    "production": APP + '[hosts.web1]\nhostname = "web1.example.com"\n[hosts.web2]\nhostname = "web2.example.com"\n',
    "staging": APP + '[hosts.stage1]\nhostname = "stage1.example.com"\n',
    "empty": APP,
    "fleet": APP + ('[hosts.f1]\nhostname = "f1.example.com"\nroles = ["web"]\n'
                    '[hosts.f2]\nhostname = "f2.example.com"\nroles = ["worker"]\n'
                    '[hosts.f3]\nhostname = "f3.example.com"\nroles = ["web", "migrate"]\n'
                    '[hosts.f3.app]\nroot = "/srv/hello-f3"\nlisten = 8080\n'),
}


@pytest.fixture
def inventories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "inventories"
    (directory / "src").mkdir(parents=True)
    for name, text in STAGES.items():
        (directory / f"{name}.toml").write_text(text)
    monkeypatch.setenv(INVENTORIES_ENV, str(directory))
    monkeypatch.delenv(STAGE_ENV, raising=False)
    return directory


def context(**config) -> Context:
    return Context(config=Config(overrides=config))


def selected(targets) -> list[tuple[str, str]]:
    return [(stage.name, host.alias) for stage, host in targets]


def test_hosts_option_selects_those_aliases_in_order(inventories: Path) -> None:
    targets = select_targets(context(wsgideploy_hosts=["stage1", "web2"]))
    assert selected(targets) == [("staging", "stage1"), ("production", "web2")]


def test_stage_task_selects_every_host_of_the_stage(inventories: Path) -> None:
    assert selected(select_targets(context(wsgideploy_stage="production"))) == [
        ("production", "web1"), ("production", "web2")]


def test_stage_environment_variable_selects_the_stage(inventories: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STAGE_ENV, "staging")
    assert selected(select_targets(context())) == [("staging", "stage1")]


def test_stage_task_wins_over_the_environment_variable(inventories: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STAGE_ENV, "staging")
    assert selected(select_targets(context(wsgideploy_stage="production"))) == [
        ("production", "web1"), ("production", "web2")]


def test_hosts_option_wins_over_stage_task_and_environment(inventories: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STAGE_ENV, "staging")
    targets = select_targets(context(wsgideploy_hosts=["web1"], wsgideploy_stage="production"))
    assert selected(targets) == [("production", "web1")]


def test_unknown_stage_lists_the_known_ones(inventories: Path) -> None:
    with pytest.raises(UnknownHostError) as caught:
        select_targets(context(wsgideploy_stage="prod"))
    assert str(caught.value) == "unknown stage 'prod'; known stages: empty, fleet, production, staging"


def test_unknown_alias_names_the_known_hosts(inventories: Path) -> None:
    with pytest.raises(UnknownHostError, match=r"unknown host 'web11' \(did you mean 'web1'\?\); known hosts: "
                                               r"f1, f2, f3, stage1, web1, web2"):
        select_targets(context(wsgideploy_hosts=["web11"]))


def test_no_selection_is_an_error_that_lists_the_stages(inventories: Path) -> None:
    with pytest.raises(NoTargetsError) as caught:
        select_targets(context())
    message = str(caught.value)
    assert message.startswith("no hosts selected: use -H <alias>")
    assert f"{STAGE_ENV}=<stage>" in message
    assert message.endswith("stages: empty, fleet, production, staging")


def test_empty_hosts_list_counts_as_no_selection(inventories: Path) -> None:
    with pytest.raises(NoTargetsError):
        select_targets(context(wsgideploy_hosts=[]))


def test_stage_without_hosts_is_no_targets(inventories: Path) -> None:
    with pytest.raises(NoTargetsError) as caught:
        select_targets(context(wsgideploy_stage="empty"))
    assert str(caught.value) == f"stage 'empty' ({inventories / 'empty.toml'}) has no hosts"


def test_an_invalid_inventory_fails_the_selection_even_for_other_stages(inventories: Path) -> None:
    (inventories / "broken.toml").write_text(APP + "lisen = 80\n")
    with pytest.raises(InventoryError) as caught:
        select_targets(context(wsgideploy_hosts=["web1"]))
    assert (caught.value.path, caught.value.key) == (str(inventories / "broken.toml"), "app.lisen")


def test_inventories_dir_follows_the_environment(inventories: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert inventories_dir() == inventories
    monkeypatch.delenv(INVENTORIES_ENV)
    monkeypatch.chdir(Path(__file__).resolve().parents[2] / "docs")
    assert inventories_dir() == Path(__file__).resolve().parents[2] / "inventories"


def test_inventories_are_found_from_a_subdirectory_up_to_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "production.toml").write_text("")
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    assert find_inventories(tmp_path / "src" / "pkg") == tmp_path / "deploy"


def test_deploy_folder_wins_over_inventories_folder_in_the_same_directory(tmp_path: Path) -> None:
    for folder in ("inventories", "deploy"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "production.toml").write_text("")
    assert find_inventories(tmp_path) == tmp_path / "deploy"


def test_the_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "production.toml").write_text("")
    (tmp_path / "app" / ".git").mkdir(parents=True)
    assert find_inventories(tmp_path / "app") is None


def test_no_inventory_is_an_error_that_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    monkeypatch.delenv(INVENTORIES_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NoInventoriesError) as caught:
        inventories_dir()
    assert "wsgideploy init" in str(caught.value) and str(tmp_path) in str(caught.value)
    assert stage_names() == []


def test_stage_names_come_from_file_names_without_parsing(inventories: Path) -> None:
    (inventories / "qa.toml").write_text("[not valid toml")
    (inventories / "README.md").write_text("")
    assert stage_names() == ["empty", "fleet", "production", "qa", "staging"]


# --- roles and per-host apps ------------------------------------------------------

def test_roles_keep_the_hosts_with_one_of_them_in_order(inventories: Path) -> None:
    targets = select_targets(context(wsgideploy_stage="fleet"), roles=["migrate", "worker"])
    assert selected(targets) == [("fleet", "f2"), ("fleet", "f3")]


def test_roles_limit_hosts_given_with_the_hosts_option(inventories: Path) -> None:
    targets = select_targets(context(wsgideploy_hosts=["f3", "f2", "f1"]), roles=["web"])
    assert selected(targets) == [("fleet", "f3"), ("fleet", "f1")]


@pytest.mark.parametrize("configured", [["web"], "web", " web ,", ["web", ""]])
def test_roles_come_from_the_config_when_not_given(inventories: Path, configured) -> None:
    targets = select_targets(context(wsgideploy_stage="fleet", wsgideploy_roles=configured))
    assert selected(targets) == [("fleet", "f1"), ("fleet", "f3")]


def test_roles_given_win_over_the_config(inventories: Path) -> None:
    targets = select_targets(context(wsgideploy_stage="fleet", wsgideploy_roles=["web"]), roles=["worker"])
    assert selected(targets) == [("fleet", "f2")]


def test_no_host_with_the_role_names_it_and_the_roles_there_are(inventories: Path) -> None:
    with pytest.raises(NoTargetsError) as caught:
        select_targets(context(wsgideploy_stage="fleet"), roles=["wokrer"])
    assert str(caught.value) == ("no selected host has the role 'wokrer' (did you mean 'worker'?); "
                                 "roles of the selected hosts: migrate, web, worker")


def test_no_host_with_any_of_the_roles_names_them_all(inventories: Path) -> None:
    with pytest.raises(NoTargetsError) as caught:
        select_targets(context(wsgideploy_hosts=["web1", "f2"]), roles=["db", "cache"])
    assert str(caught.value) == ("no selected host has any of the roles 'db', 'cache'; "
                                 "roles of the selected hosts: worker")


def test_roles_on_hosts_without_roles_say_none(inventories: Path) -> None:
    with pytest.raises(NoTargetsError, match=r"has the role 'web'; roles of the selected hosts: none$"):
        select_targets(context(wsgideploy_stage="production"), roles=["web"])


def test_each_target_sees_its_own_app(inventories: Path) -> None:
    targets = select_targets(context(wsgideploy_stage="fleet"))
    assert [(host.alias, stage.app.root, stage.app.listen) for stage, host in targets] == [
        ("f1", "/srv/hello", 80), ("f2", "/srv/hello", 80), ("f3", "/srv/hello-f3", 8080)]
    (f1_stage, _), (f2_stage, _), _ = targets
    assert f1_stage is f2_stage, "hosts without overrides share the stage"
