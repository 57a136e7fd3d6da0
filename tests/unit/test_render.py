"""Rendering the release configs from ``templates/*.j2``, compared with golden files.

The goldens live in ``tests/unit/golden/``. After an intended template change,
regenerate them and review the diff before committing::

    UPDATE_GOLDEN=1 python -m pytest tests/unit/test_render.py -p no:cacheprovider

With ``UPDATE_GOLDEN=1`` the golden tests write the files instead of comparing.
"""
from __future__ import annotations

import sys
import os
import re
from pathlib import Path

import jinja2
import pytest

from wsgideploy.inventory import App
from wsgideploy.layout import Layout
from wsgideploy.render import DEFAULT_VARS, environment, render, render_release_configs, template_context

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"

RELEASE_ID = "20261121T101500Z"
ROOT = "/srv/hello"


def hello_app(**overrides) -> App:
    fields = dict(name="hello", source=Path("/nonexistent/hello"), wsgi="app:create_app()", root=ROOT,
                  server_name="hello.example.com", listen=8080)
    return App(**{**fields, **overrides})


def hello_context(static_dir: str | None = "static", **app_overrides) -> dict:
    return template_context(hello_app(**app_overrides), Layout(ROOT), RELEASE_ID, static_dir, {"workers": 4})


@pytest.fixture(scope="module")
def configs() -> dict[str, str]:
    return render_release_configs(hello_context())


def gunicorn_settings(text: str) -> dict:
    """Execute a rendered gunicorn config as gunicorn does: from its file, beside the env loader."""
    import runpy
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "gunicorn.conf.py").write_text(text)
        (Path(tmp) / "wsgideploy_env.py").write_text((TEMPLATES / "wsgideploy_env.py").read_text())
        return runpy.run_path(str(Path(tmp) / "gunicorn.conf.py"))


@pytest.mark.parametrize("name", ["gunicorn.conf.py", "nginx.conf"])
def test_rendered_config_matches_its_golden_file(configs: dict[str, str], name: str) -> None:
    golden = GOLDEN_DIR / name
    if UPDATE_GOLDEN:
        golden.write_text(configs[name])
        pytest.skip(f"UPDATE_GOLDEN=1: wrote {golden}")
    assert golden.is_file(), f"{golden} is missing: run with UPDATE_GOLDEN=1 to create it"
    assert configs[name] == golden.read_text()


def test_release_configs_are_exactly_gunicorn_and_nginx(configs: dict[str, str]) -> None:
    assert sorted(configs) == ["gunicorn.conf.py", "logrotate.conf", "nginx.conf", "wsgideploy_entry.py", "wsgideploy_env.py",
                              "wsgideploy_process.py"]


def test_gunicorn_config_compiles_as_python(configs: dict[str, str]) -> None:
    compile(configs["gunicorn.conf.py"], "gunicorn.conf.py", "exec")


def test_gunicorn_config_binds_only_the_unix_socket_under_shared_run(configs: dict[str, str]) -> None:
    settings = gunicorn_settings(configs["gunicorn.conf.py"])
    assert settings["bind"] == [f"unix:{ROOT}/shared/run/gunicorn.sock"]
    assert "0.0.0.0" not in configs["gunicorn.conf.py"]


def test_gunicorn_config_values_come_from_app_layout_and_vars(configs: dict[str, str]) -> None:
    settings = gunicorn_settings(configs["gunicorn.conf.py"])
    assert f"{ROOT}/current/.wsgideploy" in sys.path
    assert {k: settings[k] for k in ("wsgi_app", "chdir", "pidfile", "proc_name", "workers",
                                     "threads", "timeout", "graceful_timeout", "accesslog", "errorlog",
                                     "loglevel", "capture_output", "control_socket_disable", "_READY_DIR")} == {
        "wsgi_app": "wsgideploy_entry:application",
        "chdir": f"{ROOT}/current",
        "loglevel": "info",
        "pidfile": f"{ROOT}/shared/run/gunicorn.pid",
        "proc_name": "wsgideploy-hello",
        "workers": 4,
        "threads": DEFAULT_VARS["threads"],
        "timeout": DEFAULT_VARS["timeout"],
        "graceful_timeout": DEFAULT_VARS["graceful_timeout"],
        "accesslog": f"{ROOT}/shared/log/gunicorn.access.log",
        "errorlog": f"{ROOT}/shared/log/gunicorn.error.log",
        "capture_output": True,
        "control_socket_disable": True,
        "_READY_DIR": f"{ROOT}/shared/run",
    }
    assert callable(settings["post_worker_init"])


def test_gunicorn_config_never_names_the_release_directory(configs: dict[str, str]) -> None:
    # gunicorn runs from `current`; a path into releases/<id> would pin the old code on USR2.
    assert f"{ROOT}/releases" not in configs["gunicorn.conf.py"]


def test_gunicorn_post_worker_init_touches_the_ready_marker_of_its_master(tmp_path: Path) -> None:
    text = render_release_configs(template_context(hello_app(root=str(tmp_path)), Layout(str(tmp_path)),
                                                    RELEASE_ID, None, {}))["gunicorn.conf.py"]
    (tmp_path / "shared" / "run").mkdir(parents=True)

    class Worker:
        ppid = 4242

    gunicorn_settings(text)["post_worker_init"](Worker())
    assert [p.name for p in (tmp_path / "shared" / "run").iterdir()] == ["gunicorn.ready.4242"]


def test_wsgi_spec_with_quotes_stays_a_valid_python_string() -> None:
    import ast
    entry = render_release_configs(hello_context(wsgi="app:create_app(\"prod\")"))["wsgideploy_entry.py"]
    calls = [node for node in ast.walk(ast.parse(entry))
             if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "eval"]
    assert [ast.literal_eval(call.args[0]) for call in calls] == ['create_app("prod")']


def test_entry_wraps_the_app_in_proxyfix_with_the_inventory_counts() -> None:
    from wsgideploy.inventory import ProxyFixCounts
    entry = render_release_configs(hello_context(proxy_fix=ProxyFixCounts(x_for=2, x_proto=1, declared=True))
                                   )["wsgideploy_entry.py"]
    assert "ProxyFix(application, x_for=2, x_proto=1,\n                       x_host=0, x_port=0," in entry
    plain = render_release_configs(hello_context(proxy_fix=None))["wsgideploy_entry.py"]
    assert "ProxyFix" not in plain.replace("werkzeug's ProxyFix", "")


@pytest.mark.parametrize("header, value", [
    ("Host", "$http_host"),
    ("X-Real-IP", "$remote_addr"),
    ("X-Forwarded-For", "$proxy_add_x_forwarded_for"),
    ("X-Forwarded-Proto", "$scheme"),
])
def test_nginx_site_sets_proxy_header(configs: dict[str, str], header: str, value: str) -> None:
    assert f"proxy_set_header {header} {value};" in configs["nginx.conf"]


def test_nginx_site_proxies_to_the_gunicorn_socket_upstream(configs: dict[str, str]) -> None:
    nginx = configs["nginx.conf"]
    assert "upstream wsgideploy_hello {" in nginx
    assert f"server unix:{ROOT}/shared/run/gunicorn.sock fail_timeout=0;" in nginx
    assert "proxy_pass http://wsgideploy_hello;" in nginx
    assert "listen 8080;" in nginx
    assert "server_name hello.example.com;" in nginx


def test_nginx_upstream_name_replaces_dashes_in_the_app_name() -> None:
    nginx = render_release_configs(hello_context(name="my-app"))["nginx.conf"]
    assert "upstream wsgideploy_my_app {" in nginx
    assert "proxy_pass http://wsgideploy_my_app;" in nginx


def test_nginx_site_aliases_the_static_dir_under_current(configs: dict[str, str]) -> None:
    nginx = configs["nginx.conf"]
    assert "location /static/ {" in nginx
    assert f"alias {ROOT}/current/static/;" in nginx
    assert f"{ROOT}/releases" not in nginx


def test_nginx_site_uses_static_url_and_nested_static_dir() -> None:
    nginx = render_release_configs(hello_context(static_dir="hello/static", static_url="/assets"))["nginx.conf"]
    assert "location /assets/ {" in nginx
    assert f"alias {ROOT}/current/hello/static/;" in nginx


def test_nginx_site_has_no_static_location_without_static_dir() -> None:
    nginx = render_release_configs(hello_context(static_dir=None))["nginx.conf"]
    assert "alias" not in nginx
    assert re.findall(r"^\s*location (\S+)", nginx, re.M) == ["/"]


def test_nginx_site_braces_balance(configs: dict[str, str]) -> None:
    for static_dir in ("static", None):
        nginx = render_release_configs(hello_context(static_dir=static_dir))["nginx.conf"]
        depth = 0
        for char in nginx:
            depth += {"{": 1, "}": -1}.get(char, 0)
            assert depth >= 0
        assert depth == 0


def test_host_vars_override_template_defaults() -> None:
    context = template_context(hello_app(), Layout(ROOT), RELEASE_ID, None,
                               {"workers": 8, "client_max_body_size": "50m", "extra": 1})
    assert context["vars"] == {**DEFAULT_VARS, "workers": 8, "client_max_body_size": "50m", "extra": 1}
    configs = render_release_configs(context)
    assert "workers = 8\n" in configs["gunicorn.conf.py"]
    assert "client_max_body_size 50m;" in configs["nginx.conf"]


def test_undefined_template_variable_raises_instead_of_rendering_empty() -> None:
    context = hello_context()
    del context["upstream"]
    with pytest.raises(jinja2.UndefinedError, match="upstream"):
        render("nginx.site.conf.j2", context)


def test_missing_var_in_vars_raises_instead_of_rendering_empty() -> None:
    context = {**hello_context(), "vars": {"threads": 1, "timeout": 30, "graceful_timeout": 30}}
    with pytest.raises(jinja2.UndefinedError, match="workers"):
        render("gunicorn.conf.py.j2", context)


def test_environment_is_strict_about_undefined_names(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("value={{ missing }}\n")
    with pytest.raises(jinja2.UndefinedError):
        environment(tmp_path).get_template("t.j2").render()


def test_rendered_configs_end_with_a_newline(configs: dict[str, str]) -> None:
    for name, text in configs.items():
        assert text.endswith("\n") and not text.endswith("\n\n"), name


def test_the_gunicorn_check_gets_the_env_file_at_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--check-config loads the app before gunicorn applies raw_env: under the check the config puts the
    .env values into the environment itself (Django's settings read SECRET_KEY at import)."""
    root = tmp_path / "srv" / "hello"
    (root / "shared").mkdir(parents=True)
    (root / "shared" / ".env").write_text("DJANGO_SECRET_KEY='from the env file'\n")
    text = render_release_configs(template_context(hello_app(root=str(root)), Layout(str(root)), RELEASE_ID,
                                                   None, {}))["gunicorn.conf.py"]
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    monkeypatch.delenv("WSGIDEPLOY_CHECK_RELEASE", raising=False)
    assert gunicorn_settings(text)["raw_env"] == ["DJANGO_SECRET_KEY=from the env file"]
    assert "DJANGO_SECRET_KEY" not in os.environ, "outside the check the workers get it through raw_env only"
    monkeypatch.setenv("WSGIDEPLOY_CHECK_RELEASE", str(root / "releases" / RELEASE_ID))
    gunicorn_settings(text)
    assert os.environ["DJANGO_SECRET_KEY"] == "from the env file"


def test_a_template_is_compiled_once_however_many_hosts_render_it_at_once(tmp_path: Path, monkeypatch) -> None:
    """The controller's CPU per host (issue 16): every host's thread renders the same templates; each is
    compiled once per process, and an override folder keeps its own environment."""
    import threading

    overrides = tmp_path / "templates"
    overrides.mkdir()
    (overrides / "note.j2").write_text("{% for i in range(n) %}{{ i }}{% endfor %}.\n")
    assert environment(overrides) is environment(overrides) and environment(overrides) is not environment()
    compiled: list[str] = []
    original = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):  # type: ignore[no-untyped-def]
        compiled.append(str(name))
        return original(self, source, name, filename, raw, defer_init)
    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    start = threading.Barrier(8)
    results: list[str] = []

    def host() -> None:
        start.wait()
        results.append(render("note.j2", {"n": 3}, environment(overrides)))
    threads = [threading.Thread(target=host) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["012.\n"] * 8 and compiled == ["note.j2"]
