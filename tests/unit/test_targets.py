"""``targets.select_targets``: -H aliases, a stage task, or FABRIC_DEPLOY_STAGE."""
from __future__ import annotations

from pathlib import Path

import pytest
from invoke import Config, Context

from tasks.inventory import InventoryError, UnknownHostError
from tasks.targets import INVENTORIES_ENV, STAGE_ENV, NoTargetsError, inventories_dir, select_targets, stage_names

APP = '[app]\nname = "hello"\nsource = "src"\nwsgi = "app:app"\nroot = "/srv/hello"\n'
STAGES = {
    "production": APP + '[hosts.web1]\nhostname = "web1.example.com"\n[hosts.web2]\nhostname = "web2.example.com"\n',
    "staging": APP + '[hosts.stage1]\nhostname = "stage1.example.com"\n',
    "empty": APP,
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
    assert str(caught.value) == "unknown stage 'prod'; known stages: empty, production, staging"


def test_unknown_alias_names_the_known_hosts(inventories: Path) -> None:
    with pytest.raises(UnknownHostError, match=r"unknown host 'web11' \(did you mean 'web1'\?\); known hosts: "
                                               r"stage1, web1, web2"):
        select_targets(context(wsgideploy_hosts=["web11"]))


def test_no_selection_is_an_error_that_lists_the_stages(inventories: Path) -> None:
    with pytest.raises(NoTargetsError) as caught:
        select_targets(context())
    message = str(caught.value)
    assert message.startswith("no hosts selected: use -H <alias>")
    assert f"{STAGE_ENV}=<stage>" in message
    assert message.endswith("stages: empty, production, staging")


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
    assert inventories_dir() == Path(__file__).resolve().parents[2] / "inventories"


def test_stage_names_come_from_file_names_without_parsing(inventories: Path) -> None:
    (inventories / "qa.toml").write_text("[not valid toml")
    (inventories / "README.md").write_text("")
    assert stage_names() == ["empty", "production", "qa", "staging"]
