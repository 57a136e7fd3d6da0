"""Small helpers shared by the script builders."""
from __future__ import annotations

import shlex

from ..protocol import SESSION_MARK

q = shlex.quote

# Every script starts strict and with a way to fail with a message the
# tool shows to the person (stderr of the script).
# It prints the script's session id first (protocol.SESSION_MARK), so that an interrupted run can
# stop everything the script started (see transport.HostConnection.run); once per session: the steps of
# a combined script (hostrun.combined_script) each start with this prelude, in the same session.
PRELUDE = f"""set -eu
fail() {{ echo "$*" >&2; exit 1; }}
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${{WSGIDEPLOY_SID:-}}" != "$wsgideploy_sid" ]; then
  echo "{SESSION_MARK}$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
"""


def stop_session(session_id: int) -> str:
    """TERM every process of a session (a script and all it started, not the
    services that start sessions of their own). By session id, never by name."""
    # The name field of /proc/PID/stat may hold spaces: read the fields after its last ')'.
    return (f"for s in /proc/[0-9]*/stat; do stat=$(cat \"$s\" 2>/dev/null) || continue; "
            f"pid=${{s#/proc/}}; pid=${{pid%/stat}}; set -- ${{stat##*) }}; "
            f"[ \"${{4:-}}\" = {int(session_id)} ] && kill -TERM \"$pid\" 2>/dev/null; done; true")


def script(*parts: str) -> str:
    """Join script parts after the strict prelude."""
    return PRELUDE + "\n".join(p.strip("\n") for p in parts if p) + "\n"


def write_files(directory: str, files: dict[str, str], mode: str = "0644") -> str:
    """Write ``files`` (name: content) into ``directory`` (made if missing), each replaced at once: written with
    bash's own printf into a folder of this shell's, then moved in by one ``mv`` (a rename each, which replaces a
    link there rather than write through it). Four processes (mkdir, chmod, mv, rm) for any number of files, not
    three a file. A failed write removes that folder and fails the script."""
    for name in files:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"not a file name: {name!r}")
    tmp = f"{q(directory)}/.wsgideploy-write.$$"  # $$ stays outside the quotes: one folder per shell
    paths = " ".join(f"{tmp}/{q(name)}" for name in files)
    writes = "".join(f" && printf '%s' {q(content)} > {tmp}/{q(name)}" for name, content in files.items())
    what = ", ".join(files)
    return (f"if ! {{ mkdir -p {tmp}{writes} && chmod {mode} {paths} && mv -f {paths} {q(directory)}/; }}; then\n"
            f"  rm -rf {tmp}\n  fail {q(f'could not write {what} in {directory} (is the disk full?)')}\nfi\n"
            f"rm -rf {tmp}")


def fail(message: str) -> str:
    """A ``fail`` call with ``message`` quoted, so no value in it is ever expanded."""
    return f"fail {q(message)}"


def maybe_sudo(command: str, sudo: bool) -> str:
    """Prefix ``command`` with a non-interactive sudo when asked."""
    return f"sudo -n {command}" if sudo else command
