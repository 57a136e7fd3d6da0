"""Run release hooks inside the new release, with its venv first on PATH."""
from __future__ import annotations

from ..layout import Layout
from ..protocol import FACTS_MARK
from .shell import fail, q, script


def run_hooks(layout: Layout, release_id: str, commands: list[str], timeout: float,
              app_writable: str = "") -> str:
    """Run each command in ``releases/<id>`` in turn; the first failure stops them.

    The environment: the release's ``venv/bin`` first on ``PATH``, ``VIRTUAL_ENV``,
    ``PYTHONPATH`` set to the release (as gunicorn imports it) and its own package's folder, and the variables
    of ``shared/.env``, loaded by the release's own ``.wsgideploy/wsgideploy_env.py``.

    ``app_writable``: `release.app_writable`, run after the hooks when the app runs as its own user
    (what they made as the deploy user in its shared data becomes the app's group's to write).
    """
    release = layout.release(release_id)
    loader = f"{release}/{layout.config_dir_name}/wsgideploy_env.py"
    # the release, and its own package where the app is one (`venv.install_package`)
    python_path = f"{release}:{release}/{layout.config_dir_name}/site"
    parts = [f"""
cd {q(release)}
export PATH={q(release + '/venv/bin')}:"$PATH" VIRTUAL_ENV={q(release + '/venv')} PYTHONPATH={q(python_path)}
n=0"""]
    for command in commands:
        parts.append(f"""
n=$((n + 1))
echo "{FACTS_MARK}hook=$n"
if ! out=$(timeout {int(timeout)} {q(release + '/venv/bin/python')} {q(loader)} {q(layout.shared + '/.env')} \\
           bash -c {q(command)} < /dev/null 2>&1); then
  echo "$out" | tail -n 40 >&2
  {fail(f"hook failed: {command}")}
fi""")
    if app_writable:
        parts.append(app_writable)
    return script(*parts)
