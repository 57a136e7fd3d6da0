"""A Django project's static files, read from its settings without importing them (`detect.django_static`).

Cases as data: how STATIC_ROOT and STATIC_URL are written in real projects, and what the deploy takes
from them. Anything it cannot read here, it learns from where collectstatic wrote on the host.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from wsgideploy.detect import django_project
from wsgideploy.django_settings import django_static

MANAGE = 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n'
WSGI = "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n"
HEAD = "import os\nfrom pathlib import Path\nBASE_DIR = Path(__file__).resolve().parent.parent\n"

CASES = [
    ('STATIC_URL = "static/"\nSTATIC_ROOT = BASE_DIR / "staticfiles"\n', "staticfiles", "/static"),
    ('STATIC_URL = "/assets/"\nSTATIC_ROOT = os.path.join(BASE_DIR, "public", "static")\n', "public/static", "/assets"),
    ('STATIC_ROOT = str(BASE_DIR / "collected")\n', "collected", "/static"),
    ('STATIC_URL = "https://cdn.example.com/s/"\nSTATIC_ROOT = BASE_DIR / "static_root"\n', "static_root", "/s"),
    ('STATIC_ROOT = "/var/www/static"\n', None, "/static"),
    ('STATIC_ROOT = BASE_DIR / ".." / "static"\n', None, "/static"),
    ('STATIC_ROOT = os.environ["STATIC_ROOT"]\n', None, "/static"),
    ("", None, "/static"),
]


@pytest.mark.parametrize("settings, root, url", CASES, ids=[
    "startproject", "os.path.join", "str()", "a CDN", "absolute, outside", "'..' out", "from the environment",
    "not set"])
def test_static_root_and_url_as_the_settings_write_them(write_tree, tmp_path: Path, settings: str,
                                                       root: str | None, url: str) -> None:
    write_tree(tmp_path, {"manage.py": MANAGE, "mysite/__init__.py": "", "mysite/wsgi.py": WSGI,
                          "mysite/settings.py": HEAD + settings})
    assert django_project(tmp_path) == "mysite"
    found = django_static(tmp_path, "mysite")
    assert (found.settings, found.root, found.url) == ("mysite/settings.py", root, url)


def test_a_flask_app_is_no_django_project(write_tree, tmp_path: Path) -> None:
    write_tree(tmp_path, {"app.py": "from flask import Flask\napp = Flask(__name__)\n"})
    assert django_project(tmp_path) is None
