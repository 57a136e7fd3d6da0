"""Read a host's live state for ``plan``, changing nothing: no layout, no lock, no file written.

One script prints the facts a deploy would see (as `release.prepare` does, minus the
``mkdir`` and the lock: the live release, its fingerprint, whether it is marked bad), the
complete venvs, the lock's holder, the deploy log entries of the live release and the
content of the live configs, each file base64 on one line.
"""
from __future__ import annotations

from typing import Mapping

from ..layout import Layout
from .history import BAD_MARK, log_path
from .lock import lock_dir
from .interpreter import find_python
from .release import app_user_script
from ..protocol import FACTS_MARK, FILE_MARK, LOG_MARK, MISSING_MARK, VENV_MARK
from .shell import q, script
from .venv import COMPLETE_MARK

LOG_LINES = 20


def read_live_state(layout: Layout, python: str, files: Mapping[str, str], sudo: bool = False,
                    fingerprint_path: str = "", app_user: str = "", app_user_always: bool = False,
                    extra: str = "") -> str:
    """A read-only script: facts, complete venvs, lock holder, the live release's log entries,
    its fingerprint (read from ``fingerprint_path``) and ``files`` (label -> path on the host).
    ``sudo`` allows ``sudo -n cat`` for a file the user cannot read (a root-owned site).
    ``app_user``: the app's own user, where it runs as one (under systemd, or ``app_user_always``):
    the facts ``app_user`` and ``app_group``, or ``app_user_missing`` (``app_user_report``: `release.app_user_script`).
    ``extra``: more read-only lines (the certificate's: `tls_state.read_script`)."""
    app_user_facts = app_user_script(layout, app_user, app_user_always, "app_user_report")
    lock = lock_dir(layout)
    reads = "\n".join(f"emit_file {q(label)} {q(path)}" for label, path in files.items())
    return script(f"""
emit_file() {{
  if [ -f "$2" ] && [ -r "$2" ]; then
    printf '%s%s=' {q(FILE_MARK)} "$1"; base64 < "$2" | tr -d '\\n'; echo
  elif {"true" if sudo else "false"} && sudo -n test -f "$2" 2>/dev/null; then
    printf '%s%s=' {q(FILE_MARK)} "$1"; sudo -n cat "$2" | base64 | tr -d '\\n'; echo
  else
    printf '%s%s\\n' {q(MISSING_MARK)} "$1"
  fi
}}
{find_python(python, layout, install=False)}
echo "{FACTS_MARK}user=$(id -un)"
echo "{FACTS_MARK}group=$(id -gn)"
{app_user_facts}
{extra}if [ -d {q(layout.root)} ]; then
  echo "{FACTS_MARK}root=exists"
  if [ -w {q(layout.root)} ]; then echo "{FACTS_MARK}root_writable=yes"; else echo "{FACTS_MARK}root_writable=no"; fi
else
  echo "{FACTS_MARK}root=missing"
fi
current=$(readlink {q(layout.current)} 2>/dev/null | sed 's#.*/##' || true)
echo "{FACTS_MARK}current=$current"
{f'echo "{FACTS_MARK}live_fingerprint=$(tr -d "[:space:]" 2>/dev/null < {q(fingerprint_path)} || true)"'
 if fingerprint_path else ""}
if [ -n "$current" ] && [ -e {q(layout.current + '/' + BAD_MARK)} ]; then echo "{FACTS_MARK}live_bad=yes"; fi
if [ -d {q(lock)} ]; then
  echo "{FACTS_MARK}lock_holder=$(tr -d '\\n' 2>/dev/null < {q(lock + '/owner.json')} || echo unknown)"
fi
for d in {q(layout.venvs)}/*/; do
  if [ -f "$d{COMPLETE_MARK}" ]; then echo "{VENV_MARK}$(basename "$d")"; fi
done
if [ -n "$current" ] && [ -f {q(log_path(layout))} ]; then
  grep -F -- "\\"release\\": \\"$current\\"" {q(log_path(layout))} 2>/dev/null | tail -n {LOG_LINES} \\
    | sed 's/^/{LOG_MARK}/' || true
fi
""", reads, "exit 0")
