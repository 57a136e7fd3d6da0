"""The app's logs on the host: tail them, and install their logrotate snippet."""
from __future__ import annotations

from ..layout import Layout
from ..protocol import FACTS_MARK
from .shell import q, script


def tail(layout: Layout, lines: int, follow: bool) -> str:
    """Print the last ``lines`` of every log in ``shared/log``; with ``follow``, keep printing."""
    logs = f"{layout.log}/*.log"
    if follow:
        return script(f"exec tail -n {int(lines)} -F {logs}")
    return script(f"""
found=0
for f in {logs}; do
  [ -f "$f" ] || continue
  found=1
  echo "==> $f <=="
  tail -n {int(lines)} "$f"
done
[ $found = 1 ] || echo "no logs yet in {layout.log}"
""")


def install_logrotate(rendered_path: str, target_dir: str, name: str) -> str:
    """Install the rendered snippet as ``<target_dir>/wsgideploy-<name>``, owned by root.

    logrotate ignores snippets that root does not own, so it is installed as root
    (``sudo -n`` unless the deploy user is root). A host without that keeps its logs
    unrotated; that is reported, not fatal.
    """
    target = f"{target_dir}/wsgideploy-{name}"
    as_root = f'if [ "$(id -u)" = 0 ]; then install -o root -g root -m 0644 {q(rendered_path)} {q(target)}; ' \
              f'else sudo -n install -o root -g root -m 0644 {q(rendered_path)} {q(target)}; fi'
    return f"""
if cmp -s {q(rendered_path)} {q(target)} && [ "$(stat -c %u {q(target)})" = 0 ]; then
  echo "{FACTS_MARK}logrotate=unchanged"
elif ( {as_root} ) 2>/dev/null; then
  echo "{FACTS_MARK}logrotate=installed {target}"
else
  echo "{FACTS_MARK}logrotate=not installed: {target} needs root (logrotate reads only root-owned files) and sudo -n was refused"
fi
"""
