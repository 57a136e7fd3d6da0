"""The app's logs on the host: tail them (with the front server's), and install their logrotate snippet.

The app's own logs (the app, the app server) are in ``<root>/shared/log``, written by the user the app
runs as (`log_owner`), and rotated as that user by wsgideploy's snippet. The front server's logs
of the app are in the front server's own folder (``/var/log/nginx/<app>.*.log``...), rotated by the
distribution's snippet for that folder; the deploy user reads them when it is in the folder's group
(``adm`` for nginx and Apache on Debian, ``www-data`` for lighttpd), and ``logs`` says so when it is not.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..layout import Layout
from ..protocol import FACTS_MARK
from .shell import q, script

LOGROTATE_PREFIX = "wsgideploy-"  # /etc/logrotate.d/wsgideploy-<app>


def log_owner(deploy_user: str, deploy_group: str, app_user: str = "", app_group: str = "") -> tuple[str, str]:
    """The user and group that own ``shared/log`` and as whom logrotate rotates it (``su`` in the snippet).

    The one place that decides it: the app's own user where it runs as one (under systemd: the facts
    ``app_user`` and ``app_group`` of ``app_access`` (`release.app_user_script`)), else the deploy user, which runs the app.
    """
    if app_user:
        return app_user, app_group or app_user
    return deploy_user, deploy_group or deploy_user


def _readable_or_hint(front_logs: Sequence[str], group: str) -> str:
    """Shell: ``readable`` becomes the front logs the user can read; a line names each other and the fix."""
    if not front_logs:
        return "readable=''\n"
    files = " ".join(q(f) for f in front_logs)
    return f"""readable=''
for f in {files}; do
  if [ -r "$f" ]; then readable="$readable $f"
  elif [ -x "${{f%/*}}" ] && [ ! -e "$f" ]; then :  # no such log yet
  elif [ -e "${{f%/*}}" ]; then
    echo "==> $f <=="
    echo "(not readable by $(id -un): the front server's logs are read by the group {group}; add $(id -un) to it, e.g. \\`sudo usermod -aG {group} $(id -un)\\` (wsgideploy setup does), then connect again)"
  fi
done
"""


def tail(layout: Layout, lines: int, follow: bool, front_logs: Sequence[str] = (), group: str = "adm") -> str:
    """Print the last ``lines`` of every log in ``shared/log`` and of ``front_logs`` (the front server's
    logs of the app, in its own folder); with ``follow``, keep printing. A front log the deploy user
    cannot read is named, with the group that reads it: never a failure."""
    logs = f"{layout.log}/*.log"
    prelude = _readable_or_hint(front_logs, group)
    if follow:
        # shellcheck: $readable is a list of paths without spaces (the app's name and Debian's folders)
        return script(prelude + f"exec tail -n {int(lines)} -F {logs} $readable")
    return script(prelude + f"""
found=0
for f in {logs} $readable; do
  [ -f "$f" ] || continue
  found=1
  echo "==> $f <=="
  tail -n {int(lines)} "$f"
done
[ $found = 1 ] || echo "no logs yet in {layout.log}"
""")


def install_logrotate(text: str, target_dir: str, name: str) -> str:
    """Install ``text`` (the snippet, rendered on the controller) as ``<target_dir>/wsgideploy-<name>``,
    owned by root, from this script: root never copies a file the deploy user or the app can write.

    logrotate ignores snippets that root does not own, so it is installed as root (``sudo -n install
    ... /dev/stdin <target>``, declared in tasks/commands/privileged.py, unless the deploy user is root).
    A host without that keeps its logs unrotated; that is reported, not fatal.
    """
    target = f"{target_dir}/{LOGROTATE_PREFIX}{name}"
    install = f"install -o root -g root -m 0644 /dev/stdin {q(target)}"
    return f"""
logrotate_text={q(text)}
if [ -f {q(target)} ] && [ "$(stat -c %u {q(target)})" = 0 ] && printf '%s' "$logrotate_text" | cmp -s - {q(target)}; then
  echo "{FACTS_MARK}logrotate=unchanged"
elif printf '%s' "$logrotate_text" | if [ "$(id -u)" = 0 ]; then {install}; else sudo -n {install}; fi 2>/dev/null; then
  echo "{FACTS_MARK}logrotate=installed {target}"
else
  echo "{FACTS_MARK}logrotate=not installed: {target} needs root (logrotate reads only root-owned files) and sudo -n was refused (see docs/security.md)"
fi
"""
