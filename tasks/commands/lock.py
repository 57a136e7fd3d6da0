"""The deploy lock: an atomic ``mkdir`` on the host that records who holds it."""
from __future__ import annotations

from ..layout import Layout
from ..protocol import FACTS_MARK
from .shell import q

# The exit code of a script that found the lock held (EX_TEMPFAIL), mapped to ExitCode.LOCKED.
LOCKED_EXIT = 75


def lock_dir(layout: Layout) -> str:
    return f"{layout.deploy_dir}/lock"


def acquire(layout: Layout, owner_json: str, force: bool = False) -> str:
    """Script lines that take the lock, or exit ``LOCKED_EXIT`` with the holder as the fact ``holder``.

    ``owner_json`` (who, from where, when, which release, a token) is stored in
    ``lock/owner.json``. With ``force`` an existing lock is removed first, and its
    holder is reported as a fact.
    """
    lock = lock_dir(layout)
    forced = f"""
if [ -d {q(lock)} ]; then
  echo "{FACTS_MARK}forced_lock=$(tr -d '\\n' < {q(lock + '/owner.json')} 2>/dev/null || echo unknown)"
  rm -rf {q(lock)}
fi""" if force else ""
    return f"""{forced}
if ! mkdir {q(lock)} 2>/dev/null; then
  echo "{FACTS_MARK}holder=$(tr -d '\n' < {q(lock + '/owner.json')} 2>/dev/null || echo unknown)"
  echo "the deploy lock is held: $(cat {q(lock + '/owner.json')} 2>/dev/null || echo '(no owner recorded)')" >&2
  exit {LOCKED_EXIT}
fi
if ! printf '%s\\n' {q(owner_json)} > {q(lock + '/owner.json')}; then
  rm -rf {q(lock)}
  fail "could not record the deploy lock in {lock} (is the disk full?)"
fi
"""


def release(layout: Layout, token: str) -> str:
    """Script lines that remove the lock, but only if it is still ours (same token)."""
    lock = lock_dir(layout)
    return f"""
if grep -qsF -- {q(token)} {q(lock + '/owner.json')}; then rm -rf {q(lock)}; echo "{FACTS_MARK}unlocked=yes"; fi
"""


def force_release(layout: Layout) -> str:
    """Script lines that remove the lock whoever holds it, reporting the holder."""
    lock = lock_dir(layout)
    return f"""
if [ -d {q(lock)} ]; then
  echo "{FACTS_MARK}holder=$(tr -d '\\n' < {q(lock + '/owner.json')} 2>/dev/null || echo unknown)"
  rm -rf {q(lock)}
else
  echo "{FACTS_MARK}holder="
fi
"""
