"""Virtualenvs on the host: one per requirements key, built once, reused."""
from __future__ import annotations

from ..settings import INSTALLERS
from ..layout import Layout
from ..protocol import FACTS_MARK
from .shell import fail, q, script

# The .pth file that puts the unpacked pip on a venv's path (templates/wsgideploy_pip.py writes it; prune reads it)
PIP_PTH = "wsgideploy-pip.pth"

COMPLETE_MARK = ".wsgideploy-complete"
# pip's log when a package must compile on the host and cannot: no C compiler, or no Python headers.
# Found on Debian's stock server (no build-essential, no python3-dev), where uWSGI compiles.
NO_BUILD_TOOLS = r"you need a C compiler|command '[^']*gcc' failed|unable to execute '[^']*gcc'|Python\.h: No such file"
BUILD_TOOLS_HINT = ("a package compiles on the host, which has no C compiler or no Python headers: "
                    "apt-get install build-essential python3-dev (Debian), or install it from a wheel built "
                    "once (find-links in /etc/pip.conf, docs/modes/uwsgi.md)")
UV_MISSING = ('installer = "uv" but uv is not installed on the host: '
              'pip install --user uv, or use installer = "pip"')


def ensure_venv(layout: Layout, key: str, python: str, pip_args: list[str], *,
                installer: str = "pip", cache_dir: str | None = None) -> str:
    """Reuse ``venvs/<key>`` if a previous build completed; otherwise build it.

    A build that fails is removed, so a half-built venv is never reused.
    The install log stays in ``.deploy/pip-<key>.log`` and its tail goes to stderr.
    ``installer`` is ``pip`` (the pip wheel the venv's Python bundles, unpacked once per app into
    `Layout.bundled_pip` and put on the venv's path: ``venv/bin/python -m pip`` works, and no pip is
    installed into each venv; ensurepip where the Python bundles none) or ``uv`` (a venv without pip,
    filled by the host's ``uv pip install``). ``cache_dir`` (the host's wheel cache,
    kept across venvs and releases) holds ``pip/`` or ``uv/``; None leaves the
    installer's default cache. Reusing a venv needs neither pip nor uv.
    0.4.0 added ``installer`` and ``cache_dir``. A pip build that fails for want of a compiler or
    the Python headers says which packages to install (`BUILD_TOOLS_HINT`).
    """
    if installer not in INSTALLERS:
        raise ValueError(f"installer must be one of {INSTALLERS}, not {installer!r}")
    venv = layout.venv(key)
    log = f"{layout.deploy_dir}/pip-{key}.log"
    args = " ".join(q(a) for a in pip_args)
    create_failed = f"""{{
    tail -n 20 {q(log)} >&2; rm -rf {q(venv)}
    {fail(f"could not create a virtualenv with {python} (on Debian: apt-get install python3-venv)")}
  }}"""
    if installer == "uv":
        cache = f"UV_CACHE_DIR={q(cache_dir + '/uv')} " if cache_dir else ""
        build = f"""
  uv=$(command -v uv 2>/dev/null || true)
  if [ -z "$uv" ] && [ -x "${{HOME:-/nonexistent}}/.local/bin/uv" ]; then uv="$HOME/.local/bin/uv"; fi
  [ -n "$uv" ] || {fail(UV_MISSING)}
  rm -rf {q(venv)}
  {q(python)} -m venv --without-pip {q(venv)} > {q(log)} 2>&1 || {create_failed}
  if ! {cache}UV_NO_PROGRESS=1 "$uv" pip install --python {q(venv + '/bin/python')} {args} >> {q(log)} 2>&1; then
    tail -n 25 {q(log)} >&2; rm -rf {q(venv)}
    {fail(f"uv pip install failed (full log on the host: {log})")}
  fi"""
    else:
        cache = f"PIP_CACHE_DIR={q(cache_dir + '/pip')} " if cache_dir else ""
        pip = f"{cache}PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_USE_PEP517=1 {q(venv + '/bin/python')} -m pip"
        from ..render import TEMPLATES_DIR
        bundled_pip = (TEMPLATES_DIR / "wsgideploy_pip.py").read_text()
        # pip from the wheel this Python bundles, unpacked once (templates/wsgideploy_pip.py); what else
        # ensurepip installs (setuptools up to 3.11) as it does; ensurepip itself where no wheel is bundled
        build = f"""
  rm -rf {q(venv)}
  {q(python)} -m venv --without-pip {q(venv)} > {q(log)} 2>&1 || {create_failed}
  if setuptools=$({q(venv + '/bin/python')} -c {q(bundled_pip)} {q(layout.bundled_pip)} {PIP_PTH} 2>> {q(log)}); then
    if [ -n "$setuptools" ]; then
      {pip} install --no-index --no-deps "$setuptools" >> {q(log)} 2>&1 || {create_failed}
    fi
  else
    {q(venv + '/bin/python')} -m ensurepip >> {q(log)} 2>&1 || {create_failed}
  fi
  if ! {pip} install {args} >> {q(log)} 2>&1; then
    tail -n 25 {q(log)} >&2; rm -rf {q(venv)}
    if grep -qE {q(NO_BUILD_TOOLS)} {q(log)}; then
      {fail(f"pip install failed: {BUILD_TOOLS_HINT} (full log on the host: {log})")}
    fi
    {fail(f"pip install failed (full log on the host: {log})")}
  fi"""
    return script(f"""
if [ -f {q(venv + '/' + COMPLETE_MARK)} ]; then
  echo "{FACTS_MARK}venv=reused"
else{build}
  touch {q(venv + '/' + COMPLETE_MARK)}
  echo "{FACTS_MARK}venv=built"
  echo "{FACTS_MARK}installer={installer}"
fi
""")


PACKAGE_DIR = "site"  # releases/<id>/.wsgideploy/site: the app's own package, for this release only


def install_package(layout: Layout, release_id: str, *, installer: str = "pip") -> str:
    """Install the app's own package (the release directory) into ``releases/<id>/.wsgideploy/site``,
    without its dependencies (the venv has them, and its build requirements): no index, no build isolation,
    so nothing is downloaded. With pip, `templates/wsgideploy_package.py` builds the wheel in one process
    and unpacks it (what ``pip install --no-deps --target`` does, a third of its time); with uv, uv does.
    The release's entry puts that folder on ``sys.path`` (`site.addsitedir`), and hooks and processes get it
    on ``PYTHONPATH``: every release runs its own package, a rollback included.
    The install log stays in ``.deploy/package-<id>.log``; its tail goes to stderr when it fails."""
    release = layout.release(release_id)
    target = f"{release}/{layout.config_dir_name}/{PACKAGE_DIR}"
    log = f"{layout.deploy_dir}/package-{release_id}.log"
    python = f"{release}/venv/bin/python"
    if installer == "uv":
        install = (f'UV_NO_PROGRESS=1 "$uv" pip install --python {q(python)} --offline --no-deps '
                   f"--no-build-isolation --target {q(target)} {q(release)}")
        find = """uv=$(command -v uv 2>/dev/null || true)
if [ -z "$uv" ] && [ -x "${HOME:-/nonexistent}/.local/bin/uv" ]; then uv="$HOME/.local/bin/uv"; fi
[ -n "$uv" ] || """ + fail(UV_MISSING) + "\n"
    else:
        # templates/wsgideploy_package.py: the wheel built in one process and unpacked (pip for the rare rest)
        from ..render import TEMPLATES_DIR
        helper = (TEMPLATES_DIR / "wsgideploy_package.py").read_text()
        install = (f"PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 {q(python)} -c {q(helper)} "
                   f"{q(release)} {q(target)}")
        find = ""
    return script(f"""
{find}rm -rf {q(target)}
if ! {install} > {q(log)} 2>&1; then
  tail -n 25 {q(log)} >&2
  {fail("the app's own package did not build or install (its build backend, no dependencies; "
         f"full log on the host: {log})")}
fi
echo "{FACTS_MARK}package=installed"
""")
