"""Remove old releases and the venvs no release uses any more."""
from __future__ import annotations

from ..layout import Layout
from ..protocol import FACTS_MARK
from .history import BAD_MARK
from .shell import q, script
from .venv import PIP_PTH


def prune(layout: Layout, keep: int) -> str:
    """Keep the newest ``keep`` releases, the live one, the newest good one before it,
    and any release a running process of this user has as its working directory.
    Then remove venvs that no remaining release links to, and each unpacked pip (`Layout.bundled_pip`) that no
    remaining venv names in its `venv.PIP_PTH` (one the system's pip wheel has since replaced).
    """
    # At most five processes, whatever the counts (bash's own globs and string tests do the rest): prune runs
    # in every deploy, after the switch.
    return script(f"""
shopt -s nullglob
cd {q(layout.releases)}
current=$(readlink {q(layout.current)} 2>/dev/null || true)
current=${{current##*/}}
releases=(*)
# the newest good release before the live one: what a rollback would go back to
previous=""
for r in "${{releases[@]}}"; do
  [ "$r" = "$current" ] && break
  [ -e "$r/{BAD_MARK}" ] || previous=$r
done
# releases that some process still runs in
# (one find for every process's cwd: a readlink per process costs a fork each)
in_use=" "
while IFS= read -r cwd; do
  case "$cwd" in {q(layout.releases + '/')}*) r=${{cwd#{layout.releases}/}}; in_use="$in_use${{r%%/*}} ";; esac
done <<WSGIDEPLOY_CWDS
$(find /proc/[0-9]*/cwd -maxdepth 0 -printf '%l\n' 2>/dev/null || true)
WSGIDEPLOY_CWDS
total=${{#releases[@]}}
removed=""
n=0
for r in "${{releases[@]}}"; do
  n=$((n + 1))
  [ $((total - n)) -lt {int(keep)} ] && continue
  if [ "$r" = "$current" ] || [ "$r" = "$previous" ]; then continue; fi
  case "$in_use" in *" $r "*) continue;; esac
  rm -rf "$r" && removed="$removed $r"
done
# venvs that no remaining release links to (one find reads every release's venv link)
linked=" "
while IFS= read -r target; do linked="$linked${{target##*/}} "; done <<WSGIDEPLOY_VENV_LINKS
$(find {q(layout.releases)} -mindepth 2 -maxdepth 2 -name venv -type l -printf '%l\n' 2>/dev/null || true)
WSGIDEPLOY_VENV_LINKS
cd {q(layout.venvs)}
for v in *; do
  [ -d "$v" ] || continue
  case "$linked" in *" $v "*) continue;; esac
  rm -rf "$v"; removed="$removed venv:$v"
done
# unpacked pips that no remaining venv puts on its path (no such file at all: grep is not run, nor reads stdin)
pths=({q(layout.venvs)}/*/lib/python*/site-packages/{PIP_PTH})
for p in {q(layout.bundled_pip)}/pip-*; do
  [ -d "$p" ] || continue
  [ ${{#pths[@]}} -gt 0 ] && grep -qsFx -- "$p" "${{pths[@]}}" && continue
  rm -rf "$p"; removed="$removed pip:${{p##*/}}"
done
echo "{FACTS_MARK}removed=${{removed# }}"
""")
