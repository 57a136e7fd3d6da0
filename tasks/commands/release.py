"""Releases on the host: prepare the layout, unpack an upload, link shared
paths, switch ``current`` and list what is there."""
from __future__ import annotations

from collections.abc import Sequence

from ..layout import Layout
from ..protocol import FACTS_MARK
from .history import BAD_MARK, read_log
from .interpreter import find_python
from .journal import facts as journal_facts
from .recipe import assignment, recipe
from .shell import fail, q, script


def app_user_script(layout: Layout, app_user: str, always: bool, call: str, with_process: bool = True) -> str:
    """Shell, in a subshell: ``call`` (a function of ``tasks/recipes/app_user.sh``: ``app_access`` for a
    deploy, ``app_user_report`` for plan) where the app runs as ``app_user`` (where systemd runs, or on
    every host when ``always``: mod_wsgi, ``supervisor = "systemd"``). Nothing when ``app_user`` is empty."""
    if not app_user:
        return ""
    body = "\n".join(assignment(k, v) for k, v in _app_user_values(layout, app_user, always).items())
    process = recipe("process").strip() + "\n" if with_process else ""
    return f"(\n{body}\n{process}{recipe('app_user').strip()}\nif app_user_applies; then {call}; fi\n)"


def _app_user_values(layout: Layout, app_user: str, always: bool) -> dict[str, str | int]:
    """What ``tasks/recipes/app_user.sh`` reads."""
    return {"app_user": app_user, "app_user_always": int(always), "shared": layout.shared, "run": layout.run,
            "log": layout.log}


def access_script(layout: Layout, app_user: str, always: bool, front_user: str) -> str:
    """Shell, in a subshell: where the app runs as ``app_user`` (see `app_user_script`), ``app_access``;
    then, unless ``front_user`` is empty, close the app's root (``tasks/recipes/root_access.sh``) to all but
    its owner, the group that runs the app (``app_user``'s where it runs as it, else the deploy user's) and
    the front server's user ``front_user``, which may only pass through. The fact ``root_open`` says why the
    root was left as it was. Nothing when there is neither."""
    values: dict[str, str | int] = {}
    helpers = []
    call = 'close_root "$(id -gn)"'
    if app_user:
        values |= _app_user_values(layout, app_user, always)
        helpers.append(recipe("app_user").strip())
        call = (f'if app_user_applies; then app_access; close_root "$(id -gn {q(app_user)})"; else {call}; fi'
                if front_user else "if app_user_applies; then app_access; fi")
    if front_user:
        values |= {"root": layout.root, "front_user": front_user}
        helpers.append(recipe("root_access").strip())
    if not values:
        return ""
    body = "\n".join(assignment(k, v) for k, v in values.items())
    return "(\n" + "\n".join([body, *helpers, call]) + "\n)"


def app_writable(layout: Layout, app_data: Sequence[str]) -> str:
    """Shell: what the deploy user made in ``shared/log`` and in the app's ``shared`` paths (``app_data``),
    running the app for its check or a hook (a log file, a SQLite database a migration created), made
    writable by the app user's group, which ``app_access`` gave those folders."""
    paths = " ".join(q(p) for p in [layout.log, *(f"{layout.shared}/{d}" for d in app_data)])
    return f"""for p in {paths}; do
  [ -e "$p" ] || continue
  find "$p" -user "$(id -un)" ! -type l ! -perm -g+w -exec chmod g+w {{}} +
done"""


def prepare(layout: Layout, python: str, take_lock: str = "", app_user: str = "", forced: bool = False,
            tls: str = "", front_user: str = "", new_release: str = "") -> str:
    """Create the layout (with sudo only if the root itself cannot be made), run
    ``take_lock`` (see `commands.lock.acquire`), and report the facts later steps
    need, one ``wsgideploy-fact:key=value`` a line (``live_bad=yes`` when the live
    release is marked bad: then it is never unchanged). Holding the lock, it removes
    partial uploads that interrupted deploys left behind.

    ``app_user``: the user the app runs as under systemd (`app_access`, before the lock: a host
    that lacks it fails holding nothing); ``forced``: ``supervisor = "systemd"``; ``tls``: the lines that
    report the host's certificate (`certificate.facts_script`); ``front_user``: the front server's user,
    which may pass through the root once `access_script` has closed it (not closed when empty); ``new_release``:
    the id a deploy will upload, reported as ``release_taken=yes`` when the host already has it (after the lock)."""
    root = q(layout.root)
    access = access_script(layout, app_user, forced, front_user)
    access = "\n" + access if access else ""
    return script(f"""
if ! mkdir -p {root} 2>/dev/null; then
  sudo -n install -d -o "$(id -un)" -g "$(id -gn)" {root} 2>/dev/null \\
    || {fail(f"cannot create {layout.root}: no permission, and passwordless sudo is not available")}
fi
[ -w {root} ] || fail {root}" is not writable by $(id -un)"
mkdir -p {q(layout.releases)} {q(layout.run)} {q(layout.log)} {q(layout.venvs)} {q(layout.deploy_dir)}
# process.sh once: the Python finder's and the access subshells inherit its functions
{recipe("process").strip()}
{find_python(python, layout, install=True, with_process=False)}{access}
echo "{FACTS_MARK}current=$(readlink {q(layout.current)} 2>/dev/null | sed 's#.*/##' || true)"
echo "{FACTS_MARK}fingerprint=$(cat {q(layout.live_config_dir + '/fingerprint')} 2>/dev/null || true)"
if [ -e {q(layout.current + '/' + BAD_MARK)} ]; then echo "{FACTS_MARK}live_bad=yes"; fi
echo "{FACTS_MARK}user=$(id -un)"
echo "{FACTS_MARK}group=$(id -gn)"
{journal_facts(layout)}{tls}# The lock comes last: nothing after it can fail and leave it held.
{take_lock}
{"rm -rf " + q(layout.releases) + "/.*.partial || true" if take_lock else ""}
{taken_check(layout, new_release)}""")


def taken_check(layout: Layout, release_id: str) -> str:
    """A line that reports ``release_taken=yes`` when ``releases/<release_id>`` exists; it cannot fail."""
    if not release_id:
        return ""
    return f'if [ -e {q(layout.release(release_id))} ]; then echo "{FACTS_MARK}release_taken=yes"; fi\n'


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
        # umask 002: a shared path is the app's data; in shared/ (group of the app's user, setgid: see
        # `app_access`) the app writes what it makes here. The release itself stays read-only to it.
        make = f"(umask 002; mkdir -p {q(target)})" if kind == "dir" else (
            f"(umask 002; mkdir -p \"$(dirname {q(target)})\"; [ -e {q(target)} ] || : > {q(target)})")
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


STATIC_REPORT = "static.facts"  # written by the release's entry when the check loads a Flask app

def static_report(config_dir: str) -> tuple[str, str]:
    """Script lines around an app's check: before it, ask the entry for the Flask app's static folder
    (``WSGIDEPLOY_STATIC_REPORT``); after it, print what it wrote: the facts ``app_static_folder``,
    ``app_static_exists``, ``app_static_url`` and ``app_static_release`` (nothing for another app)."""
    report = f"{config_dir}/{STATIC_REPORT}"
    before = f"rm -f {q(report)}\nexport WSGIDEPLOY_STATIC_REPORT={q(report)}\n"
    only = f"^{FACTS_MARK}app_static_(folder|exists|url|release)="  # those four facts, and nothing else
    after = f"unset WSGIDEPLOY_STATIC_REPORT\nif [ -f {q(report)} ]; then grep -E {q(only)} {q(report)} || true; fi\n"
    return before, after
