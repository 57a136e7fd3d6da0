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
