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
    return script(f"""
cd {q(layout.releases)}
current=$(readlink {q(layout.current)} 2>/dev/null | sed 's#.*/##' || true)
releases=$(ls -1 | sort)
# the newest good release before the live one: what a rollback would go back to
previous=""
for r in $releases; do
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
total=$(echo "$releases" | grep -c . || true)
removed=""
n=0
for r in $releases; do
  n=$((n + 1))
  [ $((total - n)) -lt {int(keep)} ] && continue
  if [ "$r" = "$current" ] || [ "$r" = "$previous" ]; then continue; fi
  case "$in_use" in *" $r "*) continue;; esac
  rm -rf "$r" && removed="$removed $r"
done
# venvs that no remaining release links to
cd {q(layout.venvs)}
for v in *; do
  [ -d "$v" ] || continue
  used=no
  for link in {q(layout.releases)}/*/venv; do
    [ "$(readlink "$link" 2>/dev/null | sed 's#.*/##')" = "$v" ] && {{ used=yes; break; }}
  done
  [ $used = yes ] || {{ rm -rf "$v"; removed="$removed venv:$v"; }}
done
# unpacked pips that no remaining venv puts on its path
for p in {q(layout.bundled_pip)}/pip-*; do
  [ -d "$p" ] || continue
  grep -qsFx -- "$p" {q(layout.venvs)}/*/lib/python*/site-packages/{PIP_PTH} || {{ rm -rf "$p"; removed="$removed pip:${{p##*/}}"; }}
done
echo "{FACTS_MARK}removed=${{removed# }}"
""")
