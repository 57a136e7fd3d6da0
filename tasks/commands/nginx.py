"""Install an nginx site and reload nginx, never leaving a broken config live."""
from __future__ import annotations

from ..inventory import Nginx
from .sites import install_tested_site
from .shell import maybe_sudo, q, script

SITE_TEMPLATE = "nginx.site.conf.j2"
SITE_FILE = "nginx.conf"


def nginx_command(nginx: Nginx, *args: str) -> str:
    """``nginx [-c conf] args...``, with ``sudo -n`` when the inventory asks for it."""
    conf = f" -c {q(nginx.conf)}" if nginx.conf else ""
    extra = "".join(f" {q(a)}" for a in args)
    return maybe_sudo(f"{q(nginx.binary)}{conf}{extra}", nginx.sudo)


def install_site(nginx: Nginx, site_name: str, rendered_path: str) -> str:
    """Install ``rendered_path`` as the site, enable it and test the whole config (``nginx -t``);
    a rejected site is taken back (see `sites.install_tested_site`)."""
    return install_tested_site(sites_available=nginx.sites_available, sites_enabled=nginx.sites_enabled,
                               file_name=site_name, rendered_path=rendered_path,
                               test_command=nginx_command(nginx, "-t"), sudo=nginx.sudo,
                               directory_label="nginx sites directory", test_label="nginx -t")


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
