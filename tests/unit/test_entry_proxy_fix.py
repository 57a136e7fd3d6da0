"""ProxyFix wraps a werkzeug (Flask) app only, unless the stage file asks for it.

Each case imports the rendered entry (wsgideploy_entry.py) in a fresh Python, with the app beside it, and
says what ``application`` is. Under the default counts, a plain WSGI callable (Django's handler, any
framework without werkzeug) is served as it is: the default used to import werkzeug for every app, so a
Django project failed its import with "No module named 'werkzeug'".
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_render import hello_context
from wsgideploy.render import render_release_configs
from wsgideploy.settings import ProxyFixCounts

FLASK_APP = "from flask import Flask\napp = Flask(__name__)\n"
PLAIN_APP = "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n"
# What werkzeug's absence looks like to the app: its import fails.
NO_WERKZEUG = "import sys\nsys.modules['werkzeug'] = None\n"


def load_entry(tmp_path: Path, app_source: str, proxy_fix: ProxyFixCounts | None,
               without_werkzeug: bool = False) -> subprocess.CompletedProcess[str]:
    entry = render_release_configs(hello_context(wsgi="app:app", proxy_fix=proxy_fix))["wsgideploy_entry.py"]
    (tmp_path / "app.py").write_text(app_source)
    (tmp_path / "wsgideploy_entry.py").write_text(entry)
    code = (NO_WERKZEUG if without_werkzeug else "") + (
        "import wsgideploy_entry as e\nprint(type(e.application).__module__, type(e.application).__name__)\n")
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_a_flask_app_is_wrapped_under_the_default_counts(tmp_path: Path) -> None:
    done = load_entry(tmp_path, FLASK_APP, ProxyFixCounts())
    assert done.stdout.strip() == "werkzeug.middleware.proxy_fix ProxyFix", done.stderr


@pytest.mark.parametrize("without_werkzeug", [False, True], ids=["werkzeug installed", "no werkzeug"])
def test_a_plain_wsgi_callable_is_served_as_it_is_under_the_default_counts(tmp_path: Path,
                                                                          without_werkzeug: bool) -> None:
    done = load_entry(tmp_path, PLAIN_APP, ProxyFixCounts(), without_werkzeug)
    assert done.stdout.strip() == "builtins function", done.stderr


def test_counts_the_stage_file_declares_wrap_any_app(tmp_path: Path) -> None:
    done = load_entry(tmp_path, PLAIN_APP, ProxyFixCounts(x_for=2, declared=True))
    assert done.stdout.strip() == "werkzeug.middleware.proxy_fix ProxyFix", done.stderr


def test_declared_counts_without_werkzeug_name_the_two_ways_out(tmp_path: Path) -> None:
    done = load_entry(tmp_path, PLAIN_APP, ProxyFixCounts(declared=True), without_werkzeug=True)
    assert done.returncode == 1
    assert ("[app] proxy_fix is set and needs werkzeug, which this venv does not have: add werkzeug to the "
            "app's requirements, or set proxy_fix = false") in done.stderr


def test_the_inventory_marks_a_declared_table_only() -> None:
    from wsgideploy.inventory import _proxy_fix_for
    def error(key: str, text: str) -> Exception:
        return ValueError(key, text)
    assert _proxy_fix_for("gunicorn", None, "", error).declared is False  # type: ignore[arg-type, union-attr]
    assert _proxy_fix_for("gunicorn", {"x_for": 2}, "", error).declared is True  # type: ignore[arg-type, union-attr]


def test_under_the_check_the_entry_reports_the_flask_apps_static_folder(tmp_path: Path) -> None:
    """WSGIDEPLOY_STATIC_REPORT (set by the deploy's check only): the loaded app's static_folder and URL, as the
    check's facts (its script prints them as they are)."""
    from wsgideploy.protocol import parse_facts
    (tmp_path / "theme" / "static").mkdir(parents=True)
    app = ("import os\nfrom flask import Flask\nHERE = os.path.dirname(__file__)\n"
           "app = Flask(__name__, static_folder=os.path.join(HERE, 'theme', 'static'), static_url_path='/assets')\n")
    entry = render_release_configs(hello_context(wsgi="app:app", proxy_fix=ProxyFixCounts()))["wsgideploy_entry.py"]
    (tmp_path / ".wsgideploy").mkdir()
    (tmp_path / ".wsgideploy" / "wsgideploy_entry.py").write_text(entry)
    (tmp_path / "app.py").write_text(app)
    report = tmp_path / "static.facts"
    done = subprocess.run([sys.executable, "-c", "import sys; sys.path[:0] = ['.wsgideploy', '.']; import wsgideploy_entry"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"WSGIDEPLOY_STATIC_REPORT": str(report), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    release = str(tmp_path.resolve())
    assert parse_facts(report.read_text()) == {"app_static_folder": f"{release}/theme/static",
                                               "app_static_exists": "True", "app_static_url": "/assets",
                                               "app_static_release": release}
