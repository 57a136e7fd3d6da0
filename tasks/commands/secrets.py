"""Write ``shared/.env`` from standard input (so no value is ever on a command line)."""
from __future__ import annotations

from ..layout import Layout
from .shell import q, script


def write_env_file(layout: Layout, app_group: str = "") -> str:
    """Replace ``<root>/shared/.env`` with stdin, owned by the deploy user: mode 0600, or 0640 in
    ``app_group`` (the group of the app's own user, which reads it: ``app_access`` (`release.app_user_script`)).
    A write that fails removes its temporary file and leaves the previous ``.env`` as it was."""
    target = f"{layout.shared}/.env"
    tmp = f"{q(target)}.tmp.$$"
    readable = f"chgrp {q(app_group)} {tmp}\nchmod 0640 {tmp}" if app_group else f"chmod 0600 {tmp}"
    # A failed write (a full disk) takes its temporary file with it: partial secrets never stay behind.
    return script(f"""
umask 077
mkdir -p {q(layout.shared)}
if ! {{ cat > {tmp} && {readable.replace(chr(10), " && ")} && mv -f {tmp} {q(target)}; }}; then
  rm -f {tmp}
  fail {q(f"could not write {target} (is the disk full?); the previous one is unchanged")}
fi
""")
