"""Fleets in the inventory: per-host ``[hosts.<alias>.app]``, ``[rollout]``, ``once`` hooks,
``installer`` and ``pip_cache``; and `rollout.batches`.

Each inventory is written to ``<tmp>/inventories/production.toml`` beside a ``src/``
and an ``other-src/`` directory.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from wsgideploy.inventory import App, Health, Hook, Host, InventoryError, ProxyFixCounts, Rollout, load_stage
from wsgideploy.rollout import batch_length, batches

APP = '[app]\nname = "hello"\nsource = "src"\nwsgi = "app:app"\nroot = "/srv/hello"\n'
WEB1 = '[hosts.web1]\nhostname = "web1.example.com"\n'
WEB2 = '[hosts.web2]\nhostname = "web2.example.com"\n'


def host_app(alias: str = "web1", **values: str) -> str:
    """``[hosts.<alias>]`` with an ``app`` sub-table holding ``values`` (TOML literals)."""
    return (f'[hosts.{alias}]\nhostname = "{alias}.example.com"\n[hosts.{alias}.app]\n'
            + "".join(f"{k} = {v}\n" for k, v in values.items()))


@pytest.fixture
def inventory_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "inventories"
    (directory / "src").mkdir(parents=True)
    (directory / "other-src").mkdir()
    return directory


def load(inventory_dir: Path, text: str):
    path = inventory_dir / "production.toml"
    path.write_text(text)
    return load_stage(path)


ERROR_CASES = [
    # (id, TOML text, key path, message fragment)
    ("host app key misspelt", APP + host_app(rooot='"/srv/web1"'), "hosts.web1.app.rooot",
     "unknown key (did you mean 'root'?)"),
    ("host app not a table", APP + WEB1 + "app = 3\n", "hosts.web1.app", "must be a table, not int"),
    ("host app listen 0", APP + host_app(listen="0"), "hosts.web1.app.listen", "must be between 1 and 65535, not 0"),
    ("host app root relative", APP + host_app(root='"srv/web1"'), "hosts.web1.app.root",
     "must be an absolute path on the host"),
    ("host app health key misspelt", APP + host_app(health="{ stauts = 204 }"), "hosts.web1.app.health.stauts",
     "unknown key (did you mean 'status'?)"),
    ("host app source missing", APP + host_app(source='"missing"'), "hosts.web1.app.source",
     "is not a local directory"),
    ("host app proxy that gunicorn cannot run behind", APP + host_app(proxy='"apache"'), "hosts.web1.app.proxy",
     "gunicorn cannot run behind 'apache'"),
    ("host app server whose inherited proxy_fix is refused",
     APP + "proxy_fix = { x_for = 2 }\n" + host_app(server='"uwsgi"'), "hosts.web1.app.proxy_fix",
     "ProxyFix would trust forged X-Forwarded-* headers there (proxy_fix is inherited from [app])"),
    ("host app installer conda", APP + host_app(installer='"conda"'), "hosts.web1.app.installer",
     "must be one of 'pip', 'uv', not 'conda'"),
    ("second host's app", APP + WEB1 + host_app("web2", listen='"80"'), "hosts.web2.app.listen",
     "must be an integer, not str"),
    ("installer conda", APP + 'installer = "conda"\n', "app.installer", "must be one of 'pip', 'uv', not 'conda'"),
    ("installer misspelt", APP + 'installer = "vu"\n', "app.installer", "must be one of 'pip', 'uv'"),
    ("pip_cache a string", APP + 'pip_cache = "yes"\n', "app.pip_cache", "must be true or false, not str"),
    ("pip_cach suggests pip_cache", APP + "pip_cach = true\n", "app.pip_cach",
     "unknown key (did you mean 'pip_cache'?)"),
    ("rollout not a table", 'rollout = 2\n' + APP, "rollout", "must be a table"),
    ("rollout key misspelt", APP + "[rollout]\nbatchsize = 2\n", "rollout.batchsize",
     "unknown key (did you mean 'batch_size'?)"),
    ("batch_size 0%", APP + '[rollout]\nbatch_size = "0%"\n', "rollout.batch_size",
     "must be a positive number of hosts or a percentage from '1%' to '100%', not '0%'"),
    ("batch_size 150%", APP + '[rollout]\nbatch_size = "150%"\n', "rollout.batch_size", "not '150%'"),
    ("batch_size 0", APP + "[rollout]\nbatch_size = 0\n", "rollout.batch_size",
     "must be a positive number of hosts or a percentage like '25%', not 0"),
    ("batch_size -1", APP + "[rollout]\nbatch_size = -1\n", "rollout.batch_size", "not -1"),
    ("batch_size abc", APP + '[rollout]\nbatch_size = "abc"\n', "rollout.batch_size", "not 'abc'"),
    ("batch_size 25 without %", APP + '[rollout]\nbatch_size = "25"\n', "rollout.batch_size", "not '25'"),
    ("batch_size 2.5%", APP + '[rollout]\nbatch_size = "2.5%"\n', "rollout.batch_size", "not '2.5%'"),
    ("batch_size a float", APP + "[rollout]\nbatch_size = 2.5\n", "rollout.batch_size", "not float"),
    ("batch_size a bool", APP + "[rollout]\nbatch_size = true\n", "rollout.batch_size", "not bool"),
    ("parallel 0", APP + "[rollout]\nparallel = 0\n", "rollout.parallel", "must be between 1 and 100, not 0"),
    ("parallel 101", APP + "[rollout]\nparallel = 101\n", "rollout.parallel", "must be between 1 and 100, not 101"),
    ("parallel a string", APP + '[rollout]\nparallel = "4"\n', "rollout.parallel", "must be an integer, not str"),
]


@pytest.mark.parametrize("text, key, fragment", [pytest.param(*case[1:], id=case[0]) for case in ERROR_CASES])
def test_invalid_fleet_key_error_names_file_key_and_problem(inventory_dir: Path, text: str, key: str,
                                                            fragment: str) -> None:
    path = inventory_dir / "production.toml"
    path.write_text(text)
    with pytest.raises(InventoryError) as caught:
        load_stage(path)
    assert (caught.value.path, caught.value.key) == (str(path), key)
    assert str(caught.value).startswith(f"{path}: {key}: ")
    assert fragment in str(caught.value)


def test_misspelt_host_app_key_reads_as_the_issue_says(inventory_dir: Path) -> None:
    path = inventory_dir / "production.toml"
    path.write_text(APP + host_app(rooot='"/srv/web1"'))
    with pytest.raises(InventoryError) as caught:
        load_stage(path)
    assert str(caught.value) == f"{path}: hosts.web1.app.rooot: unknown key (did you mean 'root'?)"


# --- per-host [app] -----------------------------------------------------------------

def test_host_app_overrides_the_stage_app_key_by_key(inventory_dir: Path) -> None:
    stage = load(inventory_dir, APP + 'server_name = "example.com"\n' + WEB1
                 + host_app("web2", root='"/srv/hello-b"', listen="8080", name='"hello-b"'))
    web1, web2 = stage.hosts
    assert stage.for_host(web2).app == App(
        name="hello-b", source=inventory_dir / "src", wsgi="app:app", root="/srv/hello-b", listen=8080,
        server_name="example.com", proxy_fix=ProxyFixCounts(), framework="none")
    assert stage.for_host(web1) is stage
    assert stage.app.root == "/srv/hello" and stage.app.listen == 80


def test_for_host_replaces_only_the_app(inventory_dir: Path) -> None:
    stage = load(inventory_dir, APP + "[vars]\nworkers = 3\n" + host_app(listen="8080"))
    web1 = stage.hosts[0]
    seen = stage.for_host(web1)
    assert seen is not stage and seen.app.listen == 8080
    assert (seen.name, seen.path, seen.hosts, seen.vars, seen.nginx, seen.hooks, seen.rollout) == (
        stage.name, stage.path, stage.hosts, stage.vars, stage.nginx, stage.hooks, stage.rollout)
    assert seen.for_host(web1) == seen


def test_host_app_that_changes_nothing_gives_the_same_stage(inventory_dir: Path) -> None:
    stage = load(inventory_dir, APP + host_app(root='"/srv/hello"'))
    assert stage.for_host(stage.hosts[0]) is stage


def test_host_app_merges_health_and_proxy_fix_tables_key_by_key(inventory_dir: Path) -> None:
    stage = load(inventory_dir, APP + 'health = { path = "/health", timeout = 10 }\nproxy_fix = { x_for = 2 }\n'
                 + host_app(health="{ status = 204 }", proxy_fix="{ x_host = 1 }"))
    app = stage.for_host(stage.hosts[0]).app
    assert app.health == Health(path="/health", status=204, timeout=10.0)
    assert app.proxy_fix == ProxyFixCounts(x_for=2, x_proto=1, x_host=1, declared=True)
    assert stage.app.health == Health(path="/health", status=200, timeout=10.0)


def test_host_app_can_turn_proxy_fix_off(inventory_dir: Path) -> None:
    stage = load(inventory_dir, APP + "proxy_fix = { x_for = 2 }\n" + host_app(proxy_fix="false"))
    assert stage.for_host(stage.hosts[0]).app.proxy_fix is None


def test_host_app_source_is_relative_to_the_inventory_file(inventory_dir: Path) -> None:
    stage = load(inventory_dir, APP + host_app(source='"other-src"'))
    assert stage.for_host(stage.hosts[0]).app.source == inventory_dir.resolve() / "other-src"


def test_host_app_defaults_follow_its_url_prefix(inventory_dir: Path) -> None:
    stage = load(inventory_dir, APP + host_app(url_prefix='"/b"'))
    app = stage.for_host(stage.hosts[0]).app
    assert (app.url_prefix, app.static_url, app.health.path) == ("/b", "/b/static", "/b/")
    assert app.proxy_fix == ProxyFixCounts(x_prefix=1)


def test_host_apps_hold_only_hosts_with_overrides(inventory_dir: Path) -> None:
    stage = load(inventory_dir, APP + WEB1 + host_app("web2", listen="8081"))
    assert list(stage.host_apps) == ["web2"]
    assert stage.host_apps["web2"].listen == 8081


def test_host_vars_still_override_stage_vars_beside_a_host_app(inventory_dir: Path) -> None:
    stage = load(inventory_dir, APP + "[vars]\nworkers = 3\n" + host_app(listen="8080")
                 + "[hosts.web1.vars]\nworkers = 5\n")
    web1 = stage.hosts[0]
    assert stage.for_host(web1).host_vars(web1) == {"workers": 5}


# --- [rollout], installer, pip_cache --------------------------------------------------

def test_without_rollout_every_host_goes_at_once_ten_at_a_time(inventory_dir: Path) -> None:
    stage = load(inventory_dir, APP)
    assert stage.rollout == Rollout() == Rollout(batch_size=None, parallel=10)
    assert (stage.app.installer, stage.app.pip_cache) == ("pip", False)


@pytest.mark.parametrize("value, expected", [("2", 2), ('"25%"', "25%"), ('"1%"', "1%"), ('"100%"', "100%"),
                                             ("500", 500)])
def test_rollout_batch_size_is_a_count_or_a_percentage(inventory_dir: Path, value: str,
                                                       expected: int | str) -> None:
    stage = load(inventory_dir, APP + f"[rollout]\nbatch_size = {value}\nparallel = 4\n")
    assert stage.rollout == Rollout(batch_size=expected, parallel=4)


def test_installer_and_pip_cache_are_read(inventory_dir: Path) -> None:
    stage = load(inventory_dir, APP + 'installer = "uv"\npip_cache = true\n' + host_app(installer='"pip"'))
    assert (stage.app.installer, stage.app.pip_cache) == ("uv", True)
    assert (stage.for_host(stage.hosts[0]).app.installer, stage.for_host(stage.hosts[0]).app.pip_cache) == (
        "pip", True)


# --- once hooks ------------------------------------------------------------------------

def host(alias: str, *roles: str, stage: str = "production") -> Host:
    return Host(alias=alias, stage=stage, hostname=f"{alias}.example.com", roles=roles)


WEB_A, MIGRATE_B, MIGRATE_C = host("a", "web"), host("b", "web", "migrate"), host("c", "migrate")


def test_once_hook_runs_on_the_first_selected_host_with_its_roles() -> None:
    hook = Hook(run="flask db upgrade", roles=("migrate",), once=True)
    selected = [WEB_A, MIGRATE_B, MIGRATE_C]
    assert [h.alias for h in selected if hook.applies_to(h, selected)] == ["b"]


def test_once_hook_follows_the_order_of_the_selection() -> None:
    hook = Hook(run="flask db upgrade", roles=("migrate",), once=True)
    selected = [MIGRATE_C, WEB_A, MIGRATE_B]
    assert [h.alias for h in selected if hook.applies_to(h, selected)] == ["c"]


def test_once_hook_without_roles_runs_on_the_first_selected_host() -> None:
    hook = Hook(run="./warm-cache", once=True)
    selected = [MIGRATE_C, WEB_A]
    assert [h.alias for h in selected if hook.applies_to(h, selected)] == ["c"]


def test_once_hook_counts_only_hosts_of_the_hosts_own_stage() -> None:
    hook = Hook(run="flask db upgrade", roles=("migrate",), once=True)
    staging = host("s1", "migrate", stage="staging")
    selected = [staging, WEB_A, MIGRATE_B]
    assert [h.alias for h in selected if hook.applies_to(h, selected)] == ["s1", "b"]


def test_once_hook_without_a_selection_takes_the_host_as_alone() -> None:
    hook = Hook(run="flask db upgrade", roles=("migrate",), once=True)
    assert hook.applies_to(MIGRATE_B) is True
    assert hook.applies_to(WEB_A) is False


def test_hook_without_once_runs_on_every_host_with_its_roles() -> None:
    hook = Hook(run="./check", roles=("migrate",))
    selected = [WEB_A, MIGRATE_B, MIGRATE_C]
    assert [h.alias for h in selected if hook.applies_to(h, selected)] == ["b", "c"]


def test_once_is_read_from_the_inventory(inventory_dir: Path) -> None:
    stage = load(inventory_dir, APP + '[hooks]\nbefore_switch = ["true", '
                                      '{ run = "flask db upgrade", roles = ["migrate"], once = true }]\n')
    assert stage.hooks.before_switch == (Hook(run="true"),
                                         Hook(run="flask db upgrade", roles=("migrate",), once=True))


# --- rollout.batches --------------------------------------------------------------------

HOSTS = [f"web{i}" for i in range(1, 11)]


@pytest.mark.parametrize("batch_size, sizes", [
    (None, [10]),
    (1, [1] * 10),
    (3, [3, 3, 3, 1]),
    (10, [10]),
    (50, [10]),
    ("25%", [3, 3, 3, 1]),  # 2.5 hosts round up to 3
    ("50%", [5, 5]),
    ("1%", [1] * 10),
    ("100%", [10]),
])
def test_batches_cut_the_hosts_in_order(batch_size: int | str | None, sizes: list[int]) -> None:
    result = batches(HOSTS, batch_size)
    assert [len(b) for b in result] == sizes
    assert [h for b in result for h in b] == HOSTS


def test_a_percentage_of_few_hosts_is_at_least_one_host() -> None:
    assert batches(["web1", "web2"], "10%") == [["web1"], ["web2"]]
    assert batch_length(0, "10%") == 1


def test_no_hosts_make_no_batches() -> None:
    assert batches([], None) == [] and batches([], "25%") == [] and batches([], 2) == []


@pytest.mark.parametrize("batch_size", [0, -1, "0%", "150%", "abc", True, 2.5])
def test_batches_refuse_a_bad_batch_size(batch_size: object) -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive number of hosts"):
        batches(HOSTS, batch_size)  # type: ignore[arg-type]


def test_a_host_may_override_its_front_server_table_key_by_key(inventory_dir: Path) -> None:
    stage = load(inventory_dir, APP + '[nginx]\nbinary = "/usr/sbin/nginx"\nsudo = false\n' + WEB1
                 + '[hosts.web2]\nhostname = "web2.example.com"\n[hosts.web2.nginx]\nconf = "/opt/nginx/nginx.conf"\n')
    web1, web2 = stage.hosts
    assert stage.for_host(web1) is stage
    nginx = stage.for_host(web2).nginx
    assert (nginx.conf, nginx.binary, nginx.sudo) == ("/opt/nginx/nginx.conf", "/usr/sbin/nginx", False)
    assert stage.nginx.conf is None


def test_a_host_front_server_table_is_validated_with_its_key_path(inventory_dir: Path) -> None:
    with pytest.raises(InventoryError) as caught:
        load(inventory_dir, APP + '[hosts.web1]\nhostname = "web1"\n[hosts.web1.nginx]\nsites_enabeld = "/x"\n')
    assert "hosts.web1.nginx.sites_enabeld" in str(caught.value) and "sites_enabled" in str(caught.value)
