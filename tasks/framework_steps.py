"""What a deploy learns from the framework in the new release, before the switch.

Django (``[app] framework``): its own step, which `steps.build_release_steps` runs in the build's round trip
after the app's check and before the hooks. Flask: the check reports the loaded app's ``static_folder`` and
``static_url_path`` (`commands.release.static_report`), and `static_verdict` compares them with what the site
serves.
"""
from __future__ import annotations

from .commands import django
from .hostrun import HostRun, Step
from .source import LocalRelease, static_summary


def django_step(run: HostRun, rel: LocalRelease) -> Step | None:
    """``django``: collectstatic into the new release, then check --deploy (its warnings shown); None for an
    app that is not a Django project (``[app] framework``). Says where the static files went and, when
    collectstatic wrote elsewhere than the folder the site serves, the ``static_dir`` that would fix it."""
    if run.stage.app.framework != "django":
        return None
    release_dir = run.layout.release(rel.release_id)

    def describe(f: dict[str, str]) -> str:
        collected = f.get("collectstatic", "").replace(release_dir + "/", "")
        warnings = int(f.get("django_warnings") or 0)
        checked = f"check --deploy: {warnings} warning(s) (below)" if warnings else "check --deploy: no issues"
        return f"collectstatic: {collected}; {checked}" + static_mismatch(collected, rel.static_dir)
    return Step("django", django.django_steps(run.layout, rel.release_id, run.stage.ssh.command_timeout),
                announce=True, describe=describe)


def static_mismatch(collected: str, static_dir: str | None) -> str:
    """A warning when collectstatic's line ("128 static files copied to 'staticfiles'.") names another folder
    than ``static_dir``, the one the site serves; "" when they agree or the line names none."""
    start, end = collected.find("copied to '"), collected.rfind("'")
    if start < 0 or end <= start + len("copied to '"):
        return ""
    folder = collected[start + len("copied to '"):end]
    if folder == static_dir:
        return ""
    if folder.startswith("/"):
        return (f". WARNING: STATIC_ROOT {folder} is outside the release, so the front server does not serve it: "
                'set STATIC_ROOT = BASE_DIR / "staticfiles"')
    return f'. WARNING: the site serves {static_dir or "no static folder"}: set [app] static_dir = "{folder}"'


def django_warnings(facts: list[dict[str, str]]) -> list[str]:
    """The warnings of ``manage.py check --deploy`` that the ``django`` step reported, in order."""
    for found in facts:
        count = found.get("django_warnings", "")
        if count.isdigit():
            return [found.get(f"django_warning_{n}", "") for n in range(1, int(count) + 1)]
    return []


def static_verdict(facts: dict[str, str], static_dir: str | None, static_url: str, url_prefix: str = "") -> str:
    """``static: <dir> at <url>`` for the check's line, with a warning and its fix when the loaded Flask app
    (the facts ``app_static_*``) keeps its static files elsewhere than the folder the site serves."""
    said = f"static: {static_summary(static_dir, static_url)}"
    folder, release = facts.get("app_static_folder", ""), facts.get("app_static_release", "")
    if not folder or facts.get("app_static_exists") != "True":
        return said
    url = url_prefix + facts.get("app_static_url", "")
    if not folder.startswith(release + "/"):
        return f"{said}. WARNING: the app's static_folder {folder} is outside the release: the app serves it"
    relative = folder[len(release) + 1:]
    installed = relative.removeprefix(".wsgideploy/site/")  # the app's own package, installed into the release
    same = relative == static_dir or (installed != relative and (static_dir or "").endswith("/" + installed))
    if not same:
        return f'{said}. WARNING: the app\'s static_folder is {relative}: set [app] static_dir = "{relative}"'
    if url and url != static_url:
        return f'{said}. WARNING: the app serves them at {url}: set [app] static_url = "{url}"'
    return said
