"""Install an nginx site and reload nginx, never leaving a broken config live."""
from __future__ import annotations

from ..inventory import Nginx
from .shell import fail, maybe_sudo, q, script

SITE_TEMPLATE = "nginx.site.conf.j2"
SITE_FILE = "nginx.conf"


def nginx_command(nginx: Nginx, *args: str) -> str:
    """``nginx [-c conf] args...``, with ``sudo -n`` when the inventory asks for it."""
    conf = f" -c {q(nginx.conf)}" if nginx.conf else ""
    extra = "".join(f" {q(a)}" for a in args)
    return maybe_sudo(f"{q(nginx.binary)}{conf}{extra}", nginx.sudo)


def install_site(nginx: Nginx, site_name: str, rendered_path: str) -> str:
    """Install ``rendered_path`` as the site, enable it and test the whole config.

    If ``nginx -t`` fails, the previous site file and link are put back, so the
    config on disk is the one that runs, and the script fails with nginx's error.
    """
    s = "sudo -n " if nginx.sudo else ""
    available = f"{nginx.sites_available}/{site_name}"
    enabled = f"{nginx.sites_enabled}/{site_name}"
    backup = f"{available}.wsgideploy-previous"
    test = nginx_command(nginx, "-t")
    return script(f"""
[ -d {q(nginx.sites_available)} ] || {fail(f"nginx sites directory {nginx.sites_available} does not exist on the host")}
[ -d {q(nginx.sites_enabled)} ] || {fail(f"nginx sites directory {nginx.sites_enabled} does not exist on the host")}
had_site=0; had_link=0
if [ -e {q(available)} ]; then {s}cp -p {q(available)} {q(backup)}; had_site=1; fi
[ -L {q(enabled)} ] && had_link=1
{s}install -m 0644 {q(rendered_path)} {q(available)}.tmp
{s}mv -f {q(available)}.tmp {q(available)}
{s}ln -sfn {q(available)} {q(enabled)}
if ! out=$({test} 2>&1); then
  if [ $had_site = 1 ]; then {s}mv -f {q(backup)} {q(available)}; else {s}rm -f {q(available)}; fi
  [ $had_link = 1 ] || {s}rm -f {q(enabled)}
  echo "$out" >&2
  fail "nginx -t rejected the new site; the previous config was put back and nginx was not reloaded"
fi
{s}rm -f {q(backup)}
""")


def reload(nginx: Nginx) -> str:
    """Reload nginx, or start it if it is not running.

    ``control = "auto"`` uses systemctl where systemd runs and no custom main
    config is set, and nginx's own signals elsewhere.
    """
    s = "sudo -n " if nginx.sudo else ""
    signal_reload = f"""
if {nginx_command(nginx, "-s", "reload")} 2>/dev/null; then
  echo "wsgideploy-fact:nginx=reloaded"
else
  out=$({nginx_command(nginx)} 2>&1) || {{ echo "$out" >&2; fail "nginx was not running and did not start"; }}
  echo "wsgideploy-fact:nginx=started"
fi"""
    systemd_reload = f"""
if {s}systemctl is-active --quiet nginx; then
  {s}systemctl reload nginx || fail "systemctl reload nginx failed"
  echo "wsgideploy-fact:nginx=reloaded"
else
  {s}systemctl start nginx || fail "systemctl start nginx failed"
  echo "wsgideploy-fact:nginx=started"
fi"""
    if nginx.control == "signal":
        return script(signal_reload)
    if nginx.control == "systemd":
        return script(systemd_reload)
    if nginx.conf:
        return script(signal_reload)
    return script(f"if [ -d /run/systemd/system ]; then {systemd_reload}\nelse {signal_reload}\nfi")
