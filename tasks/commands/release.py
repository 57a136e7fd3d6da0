"""Releases on the host: prepare the layout, unpack an upload, link shared
paths, switch ``current`` and list what is there."""
from __future__ import annotations

from ..layout import Layout
from .history import BAD_MARK, read_log
from .shell import fail, q, script
from ..protocol import FACTS_MARK



def prepare(layout: Layout, python: str, take_lock: str = "") -> str:
    """Create the layout (with sudo only if the root itself cannot be made), run
    ``take_lock`` (see `commands.lock.acquire`), and report the facts later steps
    need, one ``wsgideploy-fact:key=value`` a line (``live_bad=yes`` when the live
    release is marked bad: then it is never unchanged). Holding the lock, it removes
    partial uploads that interrupted deploys left behind."""
    root = q(layout.root)
    return script(f"""
if ! mkdir -p {root} 2>/dev/null; then
  sudo -n install -d -o "$(id -un)" -g "$(id -gn)" {root} 2>/dev/null \\
    || {fail(f"cannot create {layout.root}: no permission, and passwordless sudo is not available")}
fi
[ -w {root} ] || fail {root}" is not writable by $(id -un)"
mkdir -p {q(layout.releases)} {q(layout.run)} {q(layout.log)} {q(layout.venvs)} {q(layout.deploy_dir)}
command -v {q(python)} >/dev/null 2>&1 || {fail(f"{python} is not installed on the host")}
echo "{FACTS_MARK}python_version=$({q(python)} -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
echo "{FACTS_MARK}current=$(readlink {q(layout.current)} 2>/dev/null | sed 's#.*/##' || true)"
echo "{FACTS_MARK}fingerprint=$(cat {q(layout.live_config_dir + '/fingerprint')} 2>/dev/null || true)"
if [ -e {q(layout.current + '/' + BAD_MARK)} ]; then echo "{FACTS_MARK}live_bad=yes"; fi
echo "{FACTS_MARK}user=$(id -un)"
echo "{FACTS_MARK}group=$(id -gn)"
# The lock comes last: nothing after it can fail and leave it held.
{take_lock}
{"rm -rf " + q(layout.releases) + "/.*.partial || true" if take_lock else ""}
""")


def unpack(layout: Layout, release_id: str, shared: dict[str, str]) -> str:
    """Unpack a gzipped tar from stdin into ``releases/<id>``.

    It lands in a hidden partial directory first and is renamed into place
    only when complete, so an interrupted upload never looks like a release.
    ``shared`` maps each shared path to ``"dir"`` or ``"file"``.
    """
    final = layout.release(release_id)
    partial = f"{layout.releases}/.{release_id}.partial"
    links = []
    for path, kind in shared.items():
        target = f"{layout.shared}/{path}"
        make = f"mkdir -p {q(target)}" if kind == "dir" else (
            f"mkdir -p \"$(dirname {q(target)})\"; [ -e {q(target)} ] || : > {q(target)}")
        links.append(f"{make}\nrm -rf {q(partial + '/' + path)}\n"
                     f"mkdir -p \"$(dirname {q(partial + '/' + path)})\"\n"
                     f"ln -s {q(target)} {q(partial + '/' + path)}")
    return script(f"""
[ ! -e {q(final)} ] || fail "release {release_id} already exists on this host"
rm -rf {q(partial)}
mkdir -p {q(partial)}
tar -xzf - -C {q(partial)} || fail "the upload of release {release_id} did not complete"
""", *links, f"mv -T {q(partial)} {q(final)}")


def link_venv(layout: Layout, release_id: str, venv_key: str) -> str:
    """Point ``releases/<id>/venv`` at the shared virtualenv for its key."""
    return f"ln -sfn ../../venvs/{q(venv_key)} {q(layout.release(release_id) + '/venv')}"


def switch_current(layout: Layout, release_id: str) -> str:
    """Point ``current`` at a release atomically: a new link renamed over the old."""
    tmp = f"{layout.root}/.current.tmp"
    return script(f"""
[ -d {q(layout.release(release_id))} ] || fail "release {release_id} does not exist on this host"
ln -sfn releases/{q(release_id)} {q(tmp)}
mv -T {q(tmp)} {q(layout.current)}
""")


def release_facts(layout: Layout) -> str:
    """Script lines (no prelude: to go inside another script) that print the live release and
    every release id, the bad ones marked, as facts."""
    return f"""
echo "{FACTS_MARK}current=$(readlink {q(layout.current)} 2>/dev/null | sed 's#.*/##' || true)"
if [ -d {q(layout.releases)} ]; then
  for d in {q(layout.releases)}/*/; do
    [ -d "$d" ] || continue
    echo "{FACTS_MARK}release=$(basename "$d")"
    if [ -e "$d/{BAD_MARK}" ]; then echo "{FACTS_MARK}bad=$(basename "$d")"; fi
  done
fi
"""


def list_releases(layout: Layout, log_lines: int = 0) -> str:
    """Print the release ids (oldest first), the bad ones, the live one and the
    last ``log_lines`` deploy log entries."""
    return script(release_facts(layout), read_log(layout, log_lines) if log_lines else "")
