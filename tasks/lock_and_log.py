"""The end of a run on a host: its line in the host's deploy log and its lock released, either after the
run (`finish`, one round trip of its own, whatever happened) or inside the go-live script once the release
is healthy (`finish_step`: the run's last round trip saved); and `unlock`, whoever holds the lock."""
from __future__ import annotations

from .commands import history, journal, lock
from .commands.shell import script
from .hostrun import HostRun, Step
from .record import describe_holder
from .transport import CommandTimeout, ConnectError


def finish(run: HostRun, token: str, log_entry: str) -> None:
    """Append to the deploy log and release our lock, reconnecting once if the connection died.

    Best effort: if the host cannot be reached, the lock stays and says who holds it.
    """
    body = script(history.append_log(run.layout, log_entry), lock.release(run.layout, token))
    if not run_cleanup(run, body):
        run.out.line(run.alias, "could not release the deploy lock: clear it with `fab unlock` once the host is back")


def finish_step(run: HostRun, token: str, log_entry: str, elapsed: float) -> Step:
    """``finish``, a soft step of the go-live script, after its health check: `finish`'s log line and lock
    release in the same round trip. ``log_entry``'s duration (null) becomes ``elapsed`` (the run's time
    before the script) plus the script's time so far. The fact ``unlocked=yes`` says it is done; without
    it, the run finishes as usual."""
    body = history.append_log_timed(run.layout, log_entry, elapsed) + lock.release(run.layout, token)
    return Step("finish", body, soft=True,
                describe=lambda f: "logged, lock released" if f.get("unlocked") == "yes" else "logged")


def unlock(run: HostRun) -> str:
    """Remove the deploy lock whoever holds it; return who held it ('' if nobody). The facts of an
    interrupted go-live (``switching``: commands/journal.py) go into ``run.facts``."""
    facts = run.remote("unlock", script(lock.force_release(run.layout), journal.facts(run.layout)),
                       describe=lambda f: (f"removed the lock of {describe_holder(f['holder'])}"
                                           if f.get("holder") else "no lock was held")
                       + (f"; a go-live was interrupted ({f['switching'].replace(' ', ' -> ')})"
                          if f.get("switching") else ""))
    run.facts.update({k: v for k, v in facts.items() if k.startswith("switching")})
    return facts.get("holder", "")


def run_cleanup(run: HostRun, body: str) -> bool:
    """Run a cleanup script that must not be lost to a dropped connection: reconnect once if needed."""
    for attempt in (1, 2):
        try:
            if attempt == 2:
                run.conn.close()
                run.conn.open()
            if run.conn.run_script(body, timeout=60).ok:
                return True
        except (CommandTimeout, ConnectError):
            continue
    return False
