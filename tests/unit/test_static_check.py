"""The static check for a development server started at import time (``app.run()``)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from wsgideploy.static_check import RunCall, describe, find_unguarded_run_calls, python_files

# (case id, source of app.py, expected [(line, code)])
CASES: list[tuple[str, str, list[tuple[int, str]]]] = [
    ("guarded_by_main", """
        from flask import Flask
        app = Flask(__name__)
        if __name__ == "__main__":
            app.run(debug=True)
        """, []),
    ("guarded_by_main_reversed", """
        app = Flask(__name__)
        if '__main__' == __name__:
            app.run()
        """, []),
    ("guarded_by_else_of_not_main", """
        if __name__ != "__main__":
            setup()
        else:
            app.run()
        """, []),
    ("body_of_not_main_runs_on_import", """
        if __name__ != "__main__":
            app.run()
        """, [(2, "app.run()")]),
    ("guarded_by_main_and_more", """
        if __name__ == "__main__" and DEBUG:
            app.run()
        """, []),
    ("guarded_by_not_not_main", """
        if not __name__ != "__main__":
            app.run()
        """, []),
    ("elif_main_guard", """
        if TESTING:
            pass
        elif __name__ == "__main__":
            app.run()
        else:
            app.run(port=1)
        """, [(6, "app.run(port=1)")]),
    ("unguarded_at_module_level", """
        from flask import Flask
        app = Flask(__name__)

        app.run(debug=True)
        """, [(4, "app.run(debug=True)")]),
    ("inside_module_level_try", """
        try:
            app.run()
        except OSError:
            application.run(port=8001)
        finally:
            pass
        """, [(2, "app.run()"), (4, "application.run(port=8001)")]),
    ("inside_if_debug", """
        DEBUG = True
        if DEBUG:
            app.run(debug=True)
        """, [(3, "app.run(debug=True)")]),
    ("inside_with_for_while", """
        with ctx():
            app.run()
        for _ in range(1):
            app.run()
        while False:
            app.run()
        """, [(2, "app.run()"), (4, "app.run()"), (6, "app.run()")]),
    ("inside_match_case", """
        match MODE:
            case "dev":
                app.run(debug=True)
        """, [(3, "app.run(debug=True)")]),
    ("decorators_and_defaults_run_on_import", """
        @app.run()
        def view(port=application.run()):
            pass
        """, [(1, "app.run()"), (2, "application.run()")]),
    ("inside_function_not_flagged", """
        def main():
            app.run(debug=True)
        async def serve():
            app.run()
        """, []),
    ("inside_method_not_flagged", """
        class Server:
            def start(self):
                app.run()
        """, []),
    ("directly_in_class_body_runs_on_import", """
        class Settings:
            app.run()
        """, [(2, "app.run()")]),
    ("inside_lambda_not_flagged", """
        start = lambda: app.run()
        """, []),
    ("subprocess_and_asyncio_not_flagged", """
        import asyncio, subprocess
        subprocess.run(["ls"])
        asyncio.run(main())
        """, []),
    ("aliased_subprocess_not_flagged", """
        import subprocess as sp
        sp.run(["ls"])
        """, []),
    ("other_receivers_not_flagged", """
        loop.run()
        parser.run()
        mapper.run()
        app_runner.run()
        trio.run(main)
        items[0].run()
        """, []),
    ("flask_app_assigned_to_other_name", """
        import flask
        server = flask.Flask(__name__)
        server.run(host="0.0.0.0")
        """, [(3, 'server.run(host="0.0.0.0")')]),
    ("flask_imported_under_alias", """
        from flask import Flask as F
        web = F(__name__)
        web.run()
        """, [(3, "web.run()")]),
    ("create_app_result", """
        from myapp import create_app
        application = create_app()
        application.run(port=5000)
        """, [(3, "application.run(port=5000)")]),
    ("factory_matching_app_word", """
        wsgi = make_application(config)
        wsgi.run()
        """, [(2, "wsgi.run()")]),
    ("name_copied_from_an_app", """
        server = Flask(__name__)
        handler = server
        handler.run()
        """, [(3, "handler.run()")]),
    ("attribute_chain_receiver", """
        self_app.server = Flask(__name__)
        self_app.server.run()
        """, [(2, "self_app.server.run()")]),
    ("receiver_name_ending_in_app", """
        from project.web import flask_app
        flask_app.run()
        """, [(2, "flask_app.run()")]),
    ("factory_call_as_receiver", """
        create_app().run(debug=True)
        Flask(__name__).run()
        Thread(target=f).run()
        """, [(1, "create_app().run(debug=True)"), (2, "Flask(__name__).run()")]),
    ("run_simple", """
        from werkzeug.serving import run_simple
        run_simple("0.0.0.0", 5000, app)
        """, [(2, 'run_simple("0.0.0.0", 5000, app)')]),
    ("run_simple_dotted_and_aliased", """
        import werkzeug.serving
        from werkzeug.serving import run_simple as serve
        werkzeug.serving.run_simple("localhost", 5000, app)
        serve("localhost", 5001, app)
        """, [(3, 'werkzeug.serving.run_simple("localhost", 5000, app)'), (4, 'serve("localhost", 5001, app)')]),
    ("run_nested_in_an_expression", """
        result = [app.run()]
        """, [(1, "app.run()")]),
    ("multi_line_call_is_one_line", """
        app.run(
            host="0.0.0.0",
            port=5000,
        )
        """, [(1, 'app.run(host="0.0.0.0", port=5000)')]),
    ("syntax_error_skipped", """
        app.run(
        def broken
        """, []),
]


def check(tmp_path: Path, text: str) -> list[tuple[int, str]]:
    path = tmp_path / "app.py"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return [(call.line, call.code) for call in find_unguarded_run_calls(tmp_path, [path])]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_finds_exactly_the_run_calls_that_execute_on_import(tmp_path: Path, text: str,
                                                             expected: list[tuple[int, str]]) -> None:
    assert check(tmp_path, text) == expected


def test_odd_files_are_skipped_not_raised(tmp_path: Path) -> None:
    (tmp_path / "nul.py").write_bytes(b"app.run()\x00\n")
    (tmp_path / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\nname = '\xe9'\napp.run()\n")
    (tmp_path / "bad_utf8.py").write_bytes(b"name = '\xff\xfe'\napp.run()\n")
    (tmp_path / "cookie.py").write_bytes(b"# coding: no-such-codec\napp.run()\n")
    (tmp_path / "folder.py").mkdir()
    files = [tmp_path / name for name in ("nul.py", "latin.py", "bad_utf8.py", "cookie.py", "folder.py", "gone.py")]
    assert find_unguarded_run_calls(tmp_path, files) == [
        RunCall("latin.py", 3, "app.run()"), RunCall("bad_utf8.py", 2, "app.run()"), RunCall("cookie.py", 2, "app.run()")]


def test_calls_in_several_files_are_named_by_release_relative_path(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "wsgi.py").write_text("from pkg import app\napp.run()\n")
    (tmp_path / "pkg" / "__init__.py").write_text("app = Flask(__name__)\n")
    (tmp_path / "pkg" / "sub" / "serve.py").write_text("import x\n\nrun_simple('', 1, app)\napp.run(port=2)\n")
    files = python_files(tmp_path)
    assert find_unguarded_run_calls(tmp_path, files) == [
        RunCall("pkg/sub/serve.py", 3, "run_simple('', 1, app)"),
        RunCall("pkg/sub/serve.py", 4, "app.run(port=2)"),
        RunCall("wsgi.py", 2, "app.run()"),
    ]


def test_files_may_be_given_relative_to_the_source(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("app.run()\n")
    assert find_unguarded_run_calls(tmp_path, [Path("app.py")]) == [RunCall("app.py", 1, "app.run()")]


def test_describe_names_file_line_call_and_the_fix() -> None:
    message = describe([RunCall("app.py", 31, "app.run(debug=True)"),
                        RunCall("pkg/serve.py", 4, 'run_simple("0.0.0.0", 5000, app)')])
    assert message.splitlines() == [
        "app.py:31: app.run(debug=True) runs at import time and would start Flask's development server"
        ' inside the app server; put it under `if __name__ == "__main__":`',
        'pkg/serve.py:4: run_simple("0.0.0.0", 5000, app) runs at import time and would start'
        " Werkzeug's development server inside the app server;"
        ' put it under `if __name__ == "__main__":`',
    ]


def test_describe_of_no_calls_is_empty() -> None:
    assert describe([]) == ""


def test_python_files_skips_tests_venvs_caches_and_excluded_paths(tmp_path: Path) -> None:
    for rel in ("app.py", "pkg/__init__.py", "pkg/views.py", "migrations/env.py", "migrations/versions/1_init.py",
                "tests/test_app.py", "test/helpers.py", "pkg/tests/x.py", "venv/lib/site.py", ".venv/x.py",
                "node_modules/a/b.py", "pkg/__pycache__/c.py", ".git/hooks/d.py", "env2/pyvenv.cfg",
                "env2/lib/e.py", "test_app.py", "pkg/views_test.py", "conftest.py", "pkg/testing.py",
                "README.md", "pkg/data.pyc", "docs/conf.py", "scripts/seed.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    asked: list[str] = []

    def exclude(rel: str) -> bool:
        asked.append(rel)
        return rel == "docs" or rel.endswith("seed.py")

    files = [path.relative_to(tmp_path).as_posix() for path in python_files(tmp_path, exclude)]
    assert files == ["app.py", "migrations/env.py", "migrations/versions/1_init.py",
                     "pkg/__init__.py", "pkg/testing.py", "pkg/views.py"]
    assert "docs/conf.py" not in asked  # an excluded directory is not walked
