"""Check a release before it goes live: the app must import in its own venv."""
from __future__ import annotations

from ..layout import Layout
from .shell import q, script


def check_gunicorn_app(layout: Layout, release_id: str, timeout: float) -> str:
    """Load the app with ``gunicorn --check-config`` inside the new release.

    ``WSGIDEPLOY_CHECK_RELEASE`` makes the config's ``chdir`` the new release
    (``current`` still names the live one, or nothing on a first deploy). ``FLASK_RUN_FROM_CLI=true`` turns a
    stray ``app.run()`` into a no-op, and ``timeout`` bounds an import that hangs.
    """
    release = layout.release(release_id)
    conf = f"{release}/{layout.config_dir_name}/gunicorn.conf.py"
    return script(f"""
cd {q(release)}
set +e
out=$(WSGIDEPLOY_CHECK_RELEASE={q(release)} FLASK_RUN_FROM_CLI=true timeout {int(timeout)} \\
      {q(release + '/venv/bin/python')} {q(release + '/venv/bin/gunicorn')} --check-config -c {q(conf)} 2>&1)
code=$?
set -e
if [ $code -eq 124 ]; then
  echo "$out" | tail -n 30 >&2
  fail "importing the app took longer than {int(timeout)}s (does it block at import time?)"
elif [ $code -ne 0 ]; then
  echo "$out" | tail -n 40 >&2
  fail "the app does not load in release {release_id} (traceback above)"
fi
""")
