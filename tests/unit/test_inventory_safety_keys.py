"""The inventory keys of the safe deploys: ``[hooks]``, ``app.env_file``, ``app.env``
and ``app.templates``, their errors as a table, then the good path.

Each inventory is written to ``<tmp>/inventories/production.toml`` beside a ``src/``
directory (the valid ``source``), a ``prod.env`` file and a ``tpl/`` directory.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from wsgideploy.inventory import Hook, Hooks, Host, InventoryError, load_stage

APP = '[app]\nname = "hello"\nsource = "src"\nwsgi = "app:app"\nroot = "/srv/hello"\n'


def app(**values: str) -> str:
    """The ``[app]`` table with the required keys plus ``values`` (TOML literals)."""
    return APP + "".join(f"{k} = {v}\n" for k, v in values.items())


def hooks(before_switch: str) -> str:
    return APP + f"[hooks]\nbefore_switch = {before_switch}\n"


ERROR_CASES = [
    # (id, TOML text, key path, message fragment)
    ("hooks not a table", 'hooks = "flask db upgrade"\n' + APP, "hooks", "must be a table"),
    ("unknown hooks key suggests before_switch", APP + '[hooks]\nbefore_swtich = ["true"]\n',
     "hooks.before_swtich", "unknown key (did you mean 'before_switch'?)"),
    ("unknown hooks key without a close match", APP + '[hooks]\nafter_deploy = ["true"]\n',
     "hooks.after_deploy", "unknown key"),
    ("before_switch a string", hooks('"flask db upgrade"'), "hooks.before_switch",
     "must be a list of commands (strings or { run = \"...\", roles = [...] } tables)"),
    ("before_switch a table", hooks('{ run = "true" }'), "hooks.before_switch", "must be a list of commands"),
    ("empty command", hooks('[""]'), "hooks.before_switch",
     "[0]: must be a command string or a table with 'run' (and 'roles', 'once')"),
    ("blank command", hooks('["   "]'), "hooks.before_switch", "[0]: must be a command string"),
    ("a number as command", hooks("[3]"), "hooks.before_switch", "[0]: must be a command string"),
    ("the index of the bad item", hooks('["true", "true", ""]'), "hooks.before_switch", "[2]: must be"),
    ("table without run", hooks('[{ roles = ["migrate"] }]'), "hooks.before_switch",
     "[0].run: is required and must be a command string"),
    ("table with empty run", hooks('[{ run = "" }]'), "hooks.before_switch", "[0].run: is required"),
    ("table with blank run", hooks('[{ run = "  " }]'), "hooks.before_switch", "[0].run: is required"),
    ("table with a number as run", hooks("[{ run = 5 }]"), "hooks.before_switch", "[0].run: is required"),
    ("role suggests roles", hooks('[{ run = "true", role = ["migrate"] }]'), "hooks.before_switch",
     "[0].role: unknown key (did you mean 'roles'?)"),
    ("rn suggests run", hooks('["true", { rn = "true" }]'), "hooks.before_switch",
     "[1].rn: unknown key (did you mean 'run'?)"),
    ("roles a string", hooks('[{ run = "true", roles = "migrate" }]'), "hooks.before_switch",
     "[0].roles: must be a list of role names"),
    ("roles with a number", hooks('[{ run = "true", roles = [1] }]'), "hooks.before_switch",
     "[0].roles: must be a list of role names"),
    ("roles with an empty name", hooks('[{ run = "true", roles = [""] }]'), "hooks.before_switch",
     "[0].roles: must be a list of role names"),
    ("once a string", hooks('[{ run = "true", once = "yes" }]'), "hooks.before_switch",
     "[0].once: must be true or false, not str"),
    ("once a number", hooks('["true", { run = "true", once = 1 }]'), "hooks.before_switch",
     "[1].once: must be true or false, not int"),
    ("onse suggests once", hooks('[{ run = "true", onse = true }]'), "hooks.before_switch",
     "[0].onse: unknown key (did you mean 'once'?)"),
    ("env not a list", app(env='"SECRET_KEY"'), "app.env",
     "must be a list of environment variable names (letters, digits, '_')"),
    ("env name starting with a digit", app(env='["1SECRET"]'), "app.env", "must be a list of environment"),
    ("env name with a dash", app(env='["SECRET-KEY"]'), "app.env", "must be a list of environment"),
    ("env name with a space", app(env='["SECRET KEY"]'), "app.env", "must be a list of environment"),
    ("env name with a dollar", app(env='["$SECRET"]'), "app.env", "must be a list of environment"),
    ("env name with an equals sign", app(env='["A=B"]'), "app.env", "must be a list of environment"),
    ("env name empty", app(env='[""]'), "app.env", "must be a list of environment"),
    ("env name a number", app(env="[1]"), "app.env", "must be a list of environment"),
    ("env_file missing", app(env_file='"missing.env"'), "app.env_file", "is not a local file: "),
    ("env_file a directory", app(env_file='"tpl"'), "app.env_file", "is not a local file: "),
    ("env_file empty", app(env_file='""'), "app.env_file", "must be a non-empty string"),
    ("env_file not a string", app(env_file="1"), "app.env_file", "must be a non-empty string"),
    ("env_fiel suggests env_file", app(env_fiel='"prod.env"'), "app.env_fiel",
     "unknown key (did you mean 'env_file'?)"),
    ("templates missing", app(templates='"no-such-dir"'), "app.templates", "is not a local directory: "),
    ("templates a file", app(templates='"prod.env"'), "app.templates", "is not a local directory: "),
    ("templates empty", app(templates='""'), "app.templates", "must be a non-empty string"),
    ("template suggests templates", app(template='"tpl"'), "app.template",
     "unknown key (did you mean 'templates'?)"),
]


@pytest.fixture
def inventory_dir(tmp_path: Path) -> Path:
    """``<tmp>/inventories`` with ``src/``, ``prod.env`` and ``tpl/`` in it."""
    directory = tmp_path / "inventories"
    (directory / "src").mkdir(parents=True)
    (directory / "tpl").mkdir()
    (directory / "prod.env").write_text("SECRET_KEY=from-file\n")
    return directory


@pytest.mark.parametrize("text, key, fragment", [pytest.param(*case[1:], id=case[0]) for case in ERROR_CASES])
def test_invalid_safety_key_error_names_file_key_and_problem(inventory_dir: Path, text: str, key: str,
                                                             fragment: str) -> None:
    path = inventory_dir / "production.toml"
    path.write_text(text)
    with pytest.raises(InventoryError) as caught:
        load_stage(path)
    assert (caught.value.path, caught.value.key) == (str(path), key)
    assert str(caught.value).startswith(f"{path}: {key}: ")
    assert fragment in str(caught.value)


def test_env_name_with_a_trailing_newline_is_rejected(inventory_dir: Path) -> None:
    path = inventory_dir / "production.toml"
    path.write_text(app(env='["SECRET\\n"]'))
    with pytest.raises(InventoryError, match="app.env: must be a list of environment variable names"):
        load_stage(path)


def test_unknown_hooks_key_without_a_close_match_gets_no_suggestion(inventory_dir: Path) -> None:
    path = inventory_dir / "production.toml"
    path.write_text(APP + '[hooks]\nafter_deploy = ["true"]\n')
    with pytest.raises(InventoryError, match=r"hooks\.after_deploy: unknown key$"):
        load_stage(path)


@pytest.mark.parametrize("missing, key", [
    pytest.param('env_file = "secrets/missing.env"', "app.env_file", id="env_file"),
    pytest.param('templates = "no/such/dir"', "app.templates", id="templates"),
])
def test_missing_local_path_error_names_the_resolved_path(inventory_dir: Path, missing: str, key: str) -> None:
    path = inventory_dir / "production.toml"
    path.write_text(APP + missing + "\n")
    with pytest.raises(InventoryError) as caught:
        load_stage(path)
    relative = missing.split('"')[1]
    assert caught.value.key == key
    assert caught.value.problem.endswith(str(inventory_dir.resolve() / relative))


# --- the good path ------------------------------------------------------------

def load(inventory_dir: Path, text: str):
    path = inventory_dir / "production.toml"
    path.write_text(text)
    return load_stage(path)


def test_without_safety_keys_every_default_applies(inventory_dir: Path) -> None:
    stage = load(inventory_dir, APP)
    assert (stage.app.env_file, stage.app.env, stage.app.templates) == (None, (), None)
    assert stage.hooks == Hooks() == Hooks(before_switch=())


HOOK_CASES = [
    # (id, TOML list, expected hooks)
    ("a plain command", '["flask db upgrade"]', (Hook(run="flask db upgrade"),)),
    ("an empty list", "[]", ()),
    ("a table with roles", '[{ run = "flask db upgrade", roles = ["migrate"] }]',
     (Hook(run="flask db upgrade", roles=("migrate",)),)),
    ("a table without roles", '[{ run = "true" }]', (Hook(run="true", roles=()),)),
    ("a table with empty roles", '[{ run = "true", roles = [] }]', (Hook(run="true", roles=()),)),
    ("mixed, in order", '["one", { run = "two", roles = ["a", "b"] }, "three"]',
     (Hook(run="one"), Hook(run="two", roles=("a", "b")), Hook(run="three"))),
    ("a once table", '[{ run = "flask db upgrade", roles = ["migrate"], once = true }]',
     (Hook(run="flask db upgrade", roles=("migrate",), once=True),)),
    ("once false", '[{ run = "true", once = false }]', (Hook(run="true", once=False),)),
    ("shell text kept as written", """['echo "$HOME" && ./manage.py check || exit 3']""",
     (Hook(run='echo "$HOME" && ./manage.py check || exit 3'),)),
]


@pytest.mark.parametrize("toml_list, expected", [pytest.param(*case[1:], id=case[0]) for case in HOOK_CASES])
def test_before_switch_accepts_commands_and_run_tables(inventory_dir: Path, toml_list: str,
                                                       expected: tuple[Hook, ...]) -> None:
    stage = load(inventory_dir, hooks(toml_list))
    assert stage.hooks.before_switch == expected
    assert all(isinstance(h.roles, tuple) for h in stage.hooks.before_switch)


def host(roles: tuple[str, ...]) -> Host:
    return Host(alias="web1", stage="production", hostname="web1.example.com", roles=roles)


APPLIES_CASES = [
    # (hook roles, host roles, applies)
    ((), (), True),
    ((), ("web",), True),
    (("migrate",), ("web", "migrate"), True),
    (("migrate", "cron"), ("cron",), True),
    (("migrate",), ("web",), False),
    (("migrate",), (), False),
    (("migrate",), ("migrat",), False),
]


@pytest.mark.parametrize("hook_roles, host_roles, applies", APPLIES_CASES)
def test_hook_applies_to_every_host_without_roles_else_to_hosts_with_one_of_them(
        hook_roles: tuple[str, ...], host_roles: tuple[str, ...], applies: bool) -> None:
    assert Hook(run="true", roles=hook_roles).applies_to(host(host_roles)) is applies


def test_hook_roles_select_hosts_by_the_inventorys_host_roles(inventory_dir: Path) -> None:
    stage = load(inventory_dir, hooks('["everywhere", { run = "migrate", roles = ["migrate"] }]')
                 + '[hosts.web1]\nhostname = "web1.example.com"\nroles = ["web", "migrate"]\n'
                 + '[hosts.web2]\nhostname = "web2.example.com"\nroles = ["web"]\n')
    web1, web2 = stage.hosts
    assert [h.run for h in stage.hooks.before_switch if h.applies_to(web1)] == ["everywhere", "migrate"]
    assert [h.run for h in stage.hooks.before_switch if h.applies_to(web2)] == ["everywhere"]


@pytest.mark.parametrize("names", [["SECRET_KEY"], ["_PRIVATE", "a1", "DATABASE_URL"], []])
def test_valid_env_names_are_kept_in_order(inventory_dir: Path, names: list[str]) -> None:
    toml_list = "[" + ", ".join(f'"{n}"' for n in names) + "]"
    assert load(inventory_dir, app(env=toml_list)).app.env == tuple(names)


def test_relative_env_file_and_templates_resolve_against_the_inventory_dir_not_the_cwd(
        inventory_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (inventory_dir / "secrets").mkdir()
    (inventory_dir / "secrets" / "prod.env").write_text("A=1\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secrets").mkdir()
    (elsewhere / "secrets" / "prod.env").write_text("WRONG=1\n")
    monkeypatch.chdir(elsewhere)
    stage = load(inventory_dir, app(env_file='"secrets/prod.env"', templates='"tpl"'))
    assert stage.app.env_file == inventory_dir.resolve() / "secrets" / "prod.env"
    assert stage.app.templates == inventory_dir.resolve() / "tpl"
    assert stage.app.env_file.is_absolute() and stage.app.templates.is_absolute()


def test_parent_relative_paths_resolve_from_the_inventory_dir(inventory_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "shared-templates").mkdir()
    stage = load(inventory_dir, app(templates='"../shared-templates"'))
    assert stage.app.templates == tmp_path.resolve() / "shared-templates"


def test_absolute_and_home_paths_are_taken_as_given(inventory_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "tpl").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    env_file = tmp_path / "abs.env"
    env_file.write_text("A=1\n")
    stage = load(inventory_dir, app(env_file=f'"{env_file}"', templates='"~/tpl"'))
    assert stage.app.env_file == env_file
    assert stage.app.templates == home / "tpl"
