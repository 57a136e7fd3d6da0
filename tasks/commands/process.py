"""Shell functions every app server's control script shares: processes through pidfiles."""
from __future__ import annotations

PROCESS_FUNCTIONS = r"""
# A zombie (exited, never reaped: some init processes do not reap) is not alive.
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*[ZX]' "/proc/$1/status"; }
# pid_in FILE: the pid a pidfile names, or nothing
pid_in() { [ -s "$1" ] && tr -dc '0-9' < "$1" 2>/dev/null || true; }
# wait_gone PID SECONDS: whether PID is gone within SECONDS
wait_gone() {
  local end=$((SECONDS + $2))
  while alive "$1" && [ $SECONDS -lt $end ]; do sleep 0.05; done
  ! alive "$1"
}
"""
