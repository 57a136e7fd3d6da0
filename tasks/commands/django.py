"""A Django project's own steps in its new release, before the switch (``[app] framework = "django"``).

``manage.py collectstatic --noinput`` fills the release's ``STATIC_ROOT`` (never the live release's: the
front server serves ``current``'s), and ``manage.py check --deploy`` runs against the release's settings:
errors stop the deploy, warnings are shown (after the build's steps). Both run as hooks do
(`hooks.run_hooks`): in the release, its venv first on ``PATH``, the release and its own package on
``PYTHONPATH``, ``shared/.env`` loaded.
"""
from __future__ import annotations

from ..layout import Layout
from ..protocol import FACTS_MARK
from .shell import fail, q, script

# A line of `check` that reports a warning: "?: (security.W004) You have not set ...".
WARNING_LINE = r"^[^ ]*: \([a-z_.]+\.W[0-9]+\)"


def django_steps(layout: Layout, release_id: str, timeout: float) -> str:
    """collectstatic, then check --deploy, in ``releases/<id>``; facts ``collectstatic`` (its last line, or
    why there was nothing to collect), ``django_warnings`` (a count) and ``django_warning_<n>`` (each line)."""
    release = layout.release(release_id)
    loader = f"{release}/{layout.config_dir_name}/wsgideploy_env.py"
    python_path = f"{release}:{release}/{layout.config_dir_name}/site"
    no_root = ("collectstatic needs STATIC_ROOT: set STATIC_ROOT = BASE_DIR / \"staticfiles\" in the settings "
               "(inside the release; wsgideploy serves it at STATIC_URL)")
    return script(f"""
cd {q(release)}
export PATH={q(release + '/venv/bin')}:"$PATH" VIRTUAL_ENV={q(release + '/venv')} PYTHONPATH={q(python_path)}
manage() {{
  timeout {int(timeout)} {q(release + '/venv/bin/python')} {q(loader)} {q(layout.shared + '/.env')} \\
    python manage.py "$@" < /dev/null 2>&1
}}
if out=$(manage collectstatic --noinput); then
  echo "{FACTS_MARK}collectstatic=$(printf '%s\\n' "$out" | tail -n 1)"
elif printf '%s' "$out" | grep -q "Unknown command: 'collectstatic'"; then
  echo "{FACTS_MARK}collectstatic=none (django.contrib.staticfiles is not installed)"
else
  printf '%s\\n' "$out" | tail -n 30 >&2
  if printf '%s' "$out" | grep -q "STATIC_ROOT"; then {fail(no_root)}; fi
  {fail(f"manage.py collectstatic --noinput failed in release {release_id} (above)")}
fi
if ! out=$(manage check --deploy); then
  printf '%s\\n' "$out" | tail -n 40 >&2
  {fail(f"manage.py check --deploy found errors in release {release_id} (above)")}
fi
n=0
while IFS= read -r line; do
  n=$((n + 1))
  echo "{FACTS_MARK}django_warning_$n=$line"
done < <(printf '%s\\n' "$out" | grep -E {q(WARNING_LINE)} || true)
echo "{FACTS_MARK}django_warnings=$n"
""")
