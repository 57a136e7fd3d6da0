"""Template variables cannot add a directive to a config: the bundled ones are typed and ranged, any
other is a plain value; a bad one is refused with its file and key before any connection (exit 2)."""
from __future__ import annotations

from pathlib import Path

import pytest

from wsgideploy.inventory import InventoryError, load_stage
from wsgideploy.render import DEFAULT_VARS
from wsgideploy.template_vars import BUNDLED, vars_problem

STAGE = """\
[app]
name = "hello"
wsgi = "app:app"
root = "/srv/hello"

[hosts.web1]
hostname = "127.0.0.1"
"""
# The audit's value: it passed `nginx -t` and served `Index of /etc/`.
AUDIT = "1m; } server { listen 8081; location / { root /etc; autoindex on; } } server { listen 8082; location / {"

REFUSED = [
    ("client_max_body_size", AUDIT, "an nginx size"),
    ("client_max_body_size", "10m\n", "an nginx size"),
    ("workers", "4; import os", "must be an integer"),
    ("workers", 0, "between 1 and 1024"),
    ("threads", True, "must be an integer"),
    ("timeout", "30\nraw-option = 1", "must be a number"),
    ("graceful_timeout", -1, "greater than 0"),
    ("log_rotate_days", "14\n    postrotate", "must be an integer"),
    ("front_log_dir", "/var/log/nginx; include /etc/shadow", "must use only letters"),
    ("front_log_dir", "var/log", "absolute path"),
    ("app_user", "www-data group=root", "a user name"),
    ("uwsgi_listen", "@(exec://touch /tmp/x)", "must be an integer"),
    ("my_header", "x\"; add_header Evil 1", "must use only letters"),
    ("my_option", "$(id)", "must use only letters"),
    ("my_option", "@(exec://id)", "must use only letters"),
    ("my_list", ["a", "b"], "must be a bool, a number or a string"),
]


@pytest.mark.parametrize(("name", "value", "problem"), REFUSED, ids=[f"{n}={v!r}"[:60] for n, v, _ in REFUSED])
def test_a_value_that_could_add_a_directive_is_refused(name: str, value: object, problem: str) -> None:
    found = vars_problem({name: value})
    assert found is not None and found[0] == name and problem in found[1], found


def test_the_defaults_and_plain_custom_values_pass() -> None:
    assert vars_problem(DEFAULT_VARS) is None
    assert vars_problem({"workers": 4, "timeout": 2.5, "client_max_body_size": "512k", "front_log_dir": "/srv/logs",
                         "my_flag": True, "my_size": "1g", "my_path": "/opt/x-y/z.conf", "my_ratio": 0.5}) is None


def test_every_variable_the_bundled_templates_read_is_declared() -> None:
    import re

    from wsgideploy.render import TEMPLATES_DIR
    used = {m for path in TEMPLATES_DIR.rglob("*.j2") for m in re.findall(r"vars\.([a-z_]+)", path.read_text())}
    assert used and used <= set(BUNDLED), used - set(BUNDLED)


@pytest.mark.parametrize("where", ["stage", "host"])
def test_the_inventory_names_the_file_and_the_key(tmp_path: Path, where: str) -> None:
    path = tmp_path / "production.toml"
    table = f'client_max_body_size = "{AUDIT}"\n'
    path.write_text(STAGE + ("\n[vars]\n" + table if where == "stage" else "\n[hosts.web1.vars]\n" + table))
    with pytest.raises(InventoryError) as caught:
        load_stage(path)
    key = "vars.client_max_body_size" if where == "stage" else "hosts.web1.vars.client_max_body_size"
    assert str(caught.value).startswith(f"{path}: {key}: must be an nginx size")


def test_docs_inventory_lists_every_bundled_variable() -> None:
    text = (Path(__file__).parents[2] / "docs" / "inventory.md").read_text()
    section = text[text.index("## `[vars]`"):text.index("## `[processes]`")]
    assert all(f"`{name}`" in section for name in BUNDLED), [n for n in BUNDLED if f"`{n}`" not in section]
