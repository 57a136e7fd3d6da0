"""The go-live journal: ``.deploy/switching``, on the host while a release goes live (docs/safe-deploys.md).

A go-live (site, switch, reload, health, in one script) writes ``<from> <to>`` there first and removes it once
the release answers its health check. A controller killed or cut off in between leaves it behind, with the lock:
the next ``deploy`` or ``rollback`` that takes the lock (``--force-unlock``), and ``unlock``, find it and repair
the host before anything else (`wsgideploy.flow.repair_interrupted`); ``status`` names it.
"""
from __future__ import annotations

from ..layout import Layout
from ..protocol import FACTS_MARK
from .history import BAD_MARK
from .shell import q


def journal_path(layout: Layout) -> str:
    return f"{layout.deploy_dir}/switching"


def begin(layout: Layout, from_release: str, to_release: str) -> str:
    """Script lines: record that ``to_release`` goes live in place of ``from_release`` ("" for none)."""
    path = journal_path(layout)
    return (f"printf '%s %s\\n' {q(from_release or '-')} {q(to_release)} > {q(path + '.tmp')} "
            f"&& mv -f {q(path + '.tmp')} {q(path)}\n")


def end(layout: Layout) -> str:
    """Script lines: the go-live is over (healthy, or put back)."""
    return f"rm -f {q(journal_path(layout))}\n"


def facts(layout: Layout) -> str:
    """Script lines, read-only: when a go-live was interrupted, the facts ``switching`` (``<from> <to>``) and
    ``switching_to`` (``ok``; ``bad``: marked bad; ``gone``: no such release); else nothing."""
    path = journal_path(layout)
    return f"""if [ -s {q(path)} ]; then
  wsgideploy_journal=$(head -n 1 {q(path)})
  echo "{FACTS_MARK}switching=$wsgideploy_journal"
  wsgideploy_to={q(layout.releases)}/${{wsgideploy_journal##* }}
  if [ ! -d "$wsgideploy_to" ]; then echo "{FACTS_MARK}switching_to=gone"
  elif [ -e "$wsgideploy_to/{BAD_MARK}" ]; then echo "{FACTS_MARK}switching_to=bad"
  else echo "{FACTS_MARK}switching_to=ok"; fi
fi
"""


def parse(value: str) -> tuple[str, str] | None:
    """``"<from> <to>"`` -> (from, to); ``-`` is no release. None for an empty or unreadable value."""
    parts = value.split()
    if len(parts) != 2:
        return None
    return ("" if parts[0] == "-" else parts[0]), parts[1]
