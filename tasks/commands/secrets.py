"""Write ``shared/.env`` from standard input (so no value is ever on a command line)."""
from __future__ import annotations

from ..layout import Layout
from .shell import q, script


def write_env_file(layout: Layout) -> str:
    """Replace ``<root>/shared/.env`` with stdin: mode 0600, owned by the deploy user."""
    target = f"{layout.shared}/.env"
    return script(f"""
umask 077
mkdir -p {q(layout.shared)}
cat > {q(target)}.tmp.$$
chmod 0600 {q(target)}.tmp.$$
mv -f {q(target)}.tmp.$$ {q(target)}
""")
