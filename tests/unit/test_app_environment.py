"""``[app.environment]``: plain settings written into ``shared/.env`` beside the secrets, and shown by plan.

Only ``env_file`` and ``env`` values are secret. A plain setting is typed (a string, a whole number or a
boolean), its name is an environment variable's, and a name set in two places is an error that names both:
nothing overrides anything silently.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_env_and_records import loader
from tests.unit.test_inventory_fleet import APP, WEB1, host_app, inventory_dir, load  # noqa: F401
from wsgideploy.inventory import InventoryError
from wsgideploy.source import SourceError, env_file_content

ENVIRONMENT = ('[app.environment]\nDATABASE_URL = "sqlite:////srv/hello/shared/db.sqlite"\nWORKERS = 3\n'
               "DEBUG = false\nGREETING = \"it's \\\"quoted\\\"\\nand two lines\"\n")


def test_the_table_is_read_typed_as_the_strings_the_app_gets(inventory_dir: Path) -> None:  # noqa: F811
    stage = load(inventory_dir, APP + ENVIRONMENT + WEB1)
    assert stage.app.environment == {"DATABASE_URL": "sqlite:////srv/hello/shared/db.sqlite", "WORKERS": "3",
                                     "DEBUG": "false", "GREETING": "it's \"quoted\"\nand two lines"}


@pytest.mark.parametrize("line, problem", [
    ('"DATABASE-URL" = "x"', "DATABASE-URL: is not an environment variable name (letters, digits, '_')"),
    ("RATE = 1.5", "RATE: must be a string, a whole number or a boolean, not float"),
    ('HOSTS = ["a", "b"]', "HOSTS: must be a string, a whole number or a boolean, not list"),
    ('NUL = "a\\u0000b"', "NUL: a value cannot hold a NUL character"),
])
def test_a_bad_entry_is_named_with_its_key(inventory_dir: Path, line: str, problem: str) -> None:  # noqa: F811
    with pytest.raises(InventoryError) as raised:
        load(inventory_dir, APP + "[app.environment]\n" + line + "\n" + WEB1)
    assert (raised.value.key, raised.value.problem) == ("app.environment", problem)


def test_a_name_also_in_env_is_refused(inventory_dir: Path) -> None:  # noqa: F811
    with pytest.raises(InventoryError) as raised:
        load(inventory_dir, APP + 'env = ["SECRET_KEY", "DEBUG"]\n' + ENVIRONMENT + WEB1)
    assert raised.value.key == "app.environment"
    assert raised.value.problem == ("DEBUG: is also in app.env; a variable comes from one place "
                                    "(environment: plain, env: a secret from your environment)")


def test_a_host_sets_its_own_values_key_by_key(inventory_dir: Path) -> None:  # noqa: F811
    stage = load(inventory_dir, APP + ENVIRONMENT + host_app(environment='{ WORKERS = 8, REGION = "eu" }'))
    app = stage.for_host(stage.hosts[0]).app
    assert app.environment["WORKERS"] == "8" and app.environment["REGION"] == "eu"
    assert app.environment["DATABASE_URL"] == "sqlite:////srv/hello/shared/db.sqlite"


def test_the_env_file_holds_the_settings_first_then_the_secrets(make_app, tmp_path: Path) -> None:
    env_file = tmp_path / "prod.env"
    env_file.write_text("SECRET_KEY=s3cret\n")
    app = make_app(environment={"DATABASE_URL": "sqlite:///x", "GREETING": "it's\nhere"}, env_file=env_file,
                   env=("API_TOKEN",))
    content, names = env_file_content(app, {"API_TOKEN": "t0k"})
    assert names == ["DATABASE_URL", "GREETING", "SECRET_KEY", "API_TOKEN"]
    assert loader.parse(content.decode()) == {"DATABASE_URL": "sqlite:///x", "GREETING": "it's\nhere",
                                              "SECRET_KEY": "s3cret", "API_TOKEN": "t0k"}


def test_the_settings_alone_make_an_env_file(make_app) -> None:
    content, names = env_file_content(make_app(environment={"DEBUG": "false"}), {})
    assert (content, names) == (b"DEBUG='false'\n", ["DEBUG"])


def test_a_name_in_the_env_file_and_the_settings_is_refused_without_its_value(make_app, tmp_path: Path) -> None:
    env_file = tmp_path / "prod.env"
    env_file.write_text("DATABASE_URL=postgres://user:hunter2@db/app\n")
    with pytest.raises(SourceError) as raised:
        env_file_content(make_app(environment={"DATABASE_URL": "sqlite:///x"}, env_file=env_file), {})
    assert str(raised.value) == (f"DATABASE_URL is in both [app.environment] and app.env_file ({env_file}): "
                                 "a variable comes from one place")
    assert "hunter2" not in str(raised.value)


def test_plan_shows_the_settings_with_their_values_and_the_secrets_by_name(make_app, tmp_path: Path) -> None:
    from wsgideploy.plan import HostPlan, format_plan
    from wsgideploy.source import environment_summary
    env_file = tmp_path / "prod.env"
    env_file.write_text("SECRET_KEY=s3cret\n")
    app = make_app(environment={"DEBUG": "false", "GREETING": "two\nlines"}, env_file=env_file, env=("API_TOKEN",))
    summary = environment_summary(app)
    assert summary == ("DEBUG=false", 'GREETING="two\\nlines"', "SECRET_KEY (secret)", "API_TOKEN (secret)")
    plan = HostPlan(host="web1", release_id="r", live_release="", venv_action="build", venv_key="k",
                    pip_command="pip", source_hash="abc", live_source_hash=None, lock_holder=None,
                    environment=summary)
    lines = format_plan(plan)
    assert ('environment  DEBUG=false, GREETING="two\\nlines", SECRET_KEY (secret), API_TOKEN (secret)'
            in lines)
    assert "s3cret" not in "\n".join(lines) and plan.to_dict()["environment"] == list(summary)
