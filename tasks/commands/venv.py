"""Virtualenvs on the host: one per requirements key, built once, reused."""
from __future__ import annotations

from ..layout import Layout
from .release import FACTS_MARK
from .shell import fail, q, script

COMPLETE_MARK = ".wsgideploy-complete"


def ensure_venv(layout: Layout, key: str, python: str, pip_args: list[str]) -> str:
    """Reuse ``venvs/<key>`` if a previous build completed; otherwise build it.

    A build that fails is removed, so a half-built venv is never reused.
    The pip log stays in ``.deploy/pip-<key>.log`` and its tail goes to stderr.
    """
    venv = layout.venv(key)
    log = f"{layout.deploy_dir}/pip-{key}.log"
    args = " ".join(q(a) for a in pip_args)
    return script(f"""
if [ -f {q(venv + '/' + COMPLETE_MARK)} ]; then
  echo "{FACTS_MARK}venv=reused"
else
  rm -rf {q(venv)}
  {q(python)} -m venv {q(venv)} > {q(log)} 2>&1 || {{
    tail -n 20 {q(log)} >&2; rm -rf {q(venv)}
    {fail(f"could not create a virtualenv with {python} (on Debian: apt-get install python3-venv)")}
  }}
  if ! PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_USE_PEP517=1 {q(venv + '/bin/pip')} install {args} >> {q(log)} 2>&1; then
    tail -n 25 {q(log)} >&2; rm -rf {q(venv)}
    {fail(f"pip install failed (full log on the host: {log})")}
  fi
  touch {q(venv + '/' + COMPLETE_MARK)}
  echo "{FACTS_MARK}venv=built"
fi
""")
