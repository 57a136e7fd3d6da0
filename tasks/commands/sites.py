"""Install a front server's site so that a config the server rejects never stays on disk."""
from __future__ import annotations

from .shell import fail, q, script


def install_tested_site(*, sites_available: str, sites_enabled: str, file_name: str, rendered_path: str,
                        test_command: str, sudo: bool, directory_label: str, test_label: str) -> str:
    """Install ``rendered_path`` as ``<sites_available>/<file_name>``, link it into
    ``sites_enabled`` and run ``test_command`` on the whole config.

    If the test fails, the previous site file and link are put back, so the config on disk
    is the one that runs, and the script fails with the server's own error.
    """
    s = "sudo -n " if sudo else ""
    available = f"{sites_available}/{file_name}"
    enabled = f"{sites_enabled}/{file_name}"
    backup = f"{available}.wsgideploy-previous"
    return script(f"""
[ -d {q(sites_available)} ] || {fail(f"{directory_label} {sites_available} does not exist on the host")}
[ -d {q(sites_enabled)} ] || {fail(f"{directory_label} {sites_enabled} does not exist on the host")}
had_site=0; had_link=0
if [ -e {q(available)} ]; then {s}cp -p {q(available)} {q(backup)}; had_site=1; fi
[ -L {q(enabled)} ] && had_link=1
{s}install -m 0644 {q(rendered_path)} {q(available)}.tmp
{s}mv -f {q(available)}.tmp {q(available)}
{s}ln -sfn {q(available)} {q(enabled)}
if ! out=$({test_command} 2>&1); then
  if [ $had_site = 1 ]; then {s}mv -f {q(backup)} {q(available)}; else {s}rm -f {q(available)}; fi
  [ $had_link = 1 ] || {s}rm -f {q(enabled)}
  echo "$out" >&2
  {fail(f"{test_label} rejected the new site; the previous config was put back and "
         f"{test_label.split()[0]} was not reloaded")}
fi
{s}rm -f {q(backup)}
""")
