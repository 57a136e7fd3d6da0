"""Django's build step: its script is valid bash, and what it says about where collectstatic wrote."""
from __future__ import annotations

import pytest

from wsgideploy.commands.django import django_steps
from wsgideploy.framework_steps import static_mismatch
from wsgideploy.layout import Layout


def test_the_script_is_valid_bash(bash_syntax) -> None:
    assert bash_syntax(django_steps(Layout("/srv/my site"), "20261121T101500Z", 900)) is None


@pytest.mark.parametrize("collected, static_dir, said", [
    ("128 static files copied to 'staticfiles'.", "staticfiles", ""),
    ("0 static files copied to 'staticfiles', 128 unmodified.", "staticfiles", ""),
    ("128 static files copied to 'public/static'.", "staticfiles",
     '. WARNING: the site serves staticfiles: set [app] static_dir = "public/static"'),
    ("128 static files copied to 'collected'.", None,
     '. WARNING: the site serves no static folder: set [app] static_dir = "collected"'),
    ("128 static files copied to '/var/www/static'.", None,
     '. WARNING: STATIC_ROOT /var/www/static is outside the release, so the front server does not serve it: '
     'set STATIC_ROOT = BASE_DIR / "staticfiles"'),
    ("none (django.contrib.staticfiles is not installed)", None, ""),
])
def test_where_collectstatic_wrote_against_what_the_site_serves(collected: str, static_dir: str | None,
                                                                said: str) -> None:
    assert static_mismatch(collected, static_dir) == said


def test_the_warnings_come_back_in_order_from_the_steps_facts() -> None:
    from wsgideploy.framework_steps import django_warnings
    facts = [{"venv": "reused"}, {"django_warnings": "2", "django_warning_1": "?: (security.W004) a",
                                   "django_warning_2": "?: (security.W008) b"}, {}]
    assert django_warnings(facts) == ["?: (security.W004) a", "?: (security.W008) b"]
    assert django_warnings([{"venv": "built"}]) == []


REL = "/srv/shop/releases/20261121T101500Z"


@pytest.mark.parametrize("facts, static_dir, said", [
    ({}, "static", "static: static at /static"),
    ({}, None, "static: none (set app.static_dir)"),
    ({"app_static_folder": f"{REL}/static", "app_static_exists": "True", "app_static_url": "/static",
      "app_static_release": REL}, "static", "static: static at /static"),
    ({"app_static_folder": f"{REL}/app/static", "app_static_exists": "False", "app_static_url": "/static",
      "app_static_release": REL}, None, "static: none (set app.static_dir)"),
    ({"app_static_folder": f"{REL}/assets/public", "app_static_exists": "True", "app_static_url": "/static",
      "app_static_release": REL}, None,
     'static: none (set app.static_dir). WARNING: the app\'s static_folder is assets/public: '
     'set [app] static_dir = "assets/public"'),
    ({"app_static_folder": f"{REL}/.wsgideploy/site/shop/static", "app_static_exists": "True",
      "app_static_url": "/static", "app_static_release": REL}, "src/shop/static", "static: src/shop/static at /static"),
    ({"app_static_folder": f"{REL}/static", "app_static_exists": "True", "app_static_url": "/assets",
      "app_static_release": REL}, "static", 'static: static at /static. WARNING: the app serves them at /assets: '
     'set [app] static_url = "/assets"'),
    ({"app_static_folder": "/usr/lib/python3/dist-packages/theme/static", "app_static_exists": "True",
      "app_static_url": "/static", "app_static_release": REL}, None,
     "static: none (set app.static_dir). WARNING: the app's static_folder /usr/lib/python3/dist-packages/theme/static "
     "is outside the release: the app serves it"),
], ids=["no report", "no report, none", "agrees", "no folder", "elsewhere", "installed package", "another url",
        "outside"])
def test_what_the_check_says_about_static_files(facts: dict[str, str], static_dir: str | None, said: str) -> None:
    from wsgideploy.framework_steps import static_verdict
    assert static_verdict(facts, static_dir, "/static") == said
