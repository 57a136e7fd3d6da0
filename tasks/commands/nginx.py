"""Install an nginx site and reload nginx, never leaving a broken config live, nor nginx stopped.

A reload is verified (``tasks/recipes/nginx.sh``): nginx accepts the signal at once and loads the
config afterwards, and a config that ``nginx -t`` passes can still fail to load (a port another
program holds). A reload counts once the master has new workers; otherwise the previous site goes
back, nginx is reloaded (or started) with it, and the step fails with nginx's own error line.

The site's text is rendered on the controller and sent in the script; root installs it from there
(``root_install``), never from a file the deploy user or the app can write. nginx writes the app's
logs in ``/var/log/nginx/<app>.{access,error}.log``, where Debian's own logrotate snippet rotates them,
never in the deploy's ``shared/log`` (nginx opens its logs as root: a link planted there made it create
a root-owned file elsewhere). What runs as root is `root_commands` (tasks/commands/privileged.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .front import (FrontServer, RootCommand, as_root_function, binary_path, per_control, site_file_commands,
                    system_command, uses_signals, uses_systemd)
from .recipe import Script
from .shell import maybe_sudo, q

if TYPE_CHECKING:
    from ..settings import Nginx

SITE_TEMPLATE = "nginx.site.conf.j2"
SITE_FILE = "nginx.conf"
RECIPES = ("process", "site", "nginx")  # tasks/recipes/*.sh
RELOAD_TIMEOUT = 10  # seconds for new workers after the signal; the whole step took 0.07-0.4 s on a booted Debian 12
KEPT_SUFFIX = ".wsgideploy-live"  # the live site, kept until nginx runs the new one


def nginx_command(nginx: Nginx, *args: str) -> str:
    """``nginx [-c conf] args...``, with ``sudo -n`` when the inventory asks for it."""
    conf = f" -c {q(nginx.conf)}" if nginx.conf else ""
    extra = "".join(f" {q(a)}" for a in args)
    return maybe_sudo(f"{q(nginx.binary)}{conf}{extra}", nginx.sudo)


def site_path(nginx: Nginx, site_name: str) -> str:
    """Where `install_site` puts the site: ``<sites_available>/<name>``."""
    return f"{nginx.sites_available}/{site_name}"


def install_site(nginx: Nginx, site_name: str, site_text: str) -> str:
    """Install ``site_text`` as the site, enable it and test the whole config (``nginx -t``);
    a rejected site is taken back (``site_install``, tasks/recipes/site.sh)."""
    return Script(control_functions(nginx) + "\nsite_install", _values(nginx, site_name, site_text),
                  RECIPES).text()


def _signal_control(nginx: Nginx) -> str:
    """The control functions of `nginx.sh` through nginx's own signals and its pidfile."""
    return f"""
nginx_master() {{ pid_in "$(nginx_pidfile)"; }}
nginx_signal_reload() {{
  if {nginx_command(nginx, "-s", "reload")} 2>/dev/null; then return 0; fi
  echo {q(nginx_command(nginx, "-s", "reload") + " failed")}; return 1
}}
nginx_start() {{
  local out
  out=$({nginx_command(nginx)} 2>&1) || {{ echo "$out"; echo "nginx was not running and did not start"; return 1; }}
}}"""


def _systemd_control(nginx: Nginx) -> str:
    """The control functions of `nginx.sh` through systemd's unit ``nginx``."""
    s = "sudo -n " if nginx.sudo else ""
    return f"""
nginx_master() {{ active_main_pid nginx; }}
nginx_signal_reload() {{ {s}systemctl reload nginx || {{ echo "systemctl reload nginx failed"; return 1; }}; }}
nginx_start() {{ {s}systemctl start nginx || {{ echo "systemctl start nginx failed"; return 1; }}; }}"""


def control_functions(nginx: Nginx) -> str:
    """``as_root``, ``nginx_cmd`` and the control functions (master, reload, start) for ``nginx.control``.

    ``auto`` uses systemd where it runs and no custom main config is set, nginx's signals elsewhere.
    """
    query = nginx_command(nginx).removeprefix("sudo -n ")  # the same binary and -c, as the deploy user
    common = (as_root_function(nginx.sudo) + f"\nnginx_cmd() {{ {nginx_command(nginx)} \"$@\"; }}"
              f"\nnginx_query() {{ {query} \"$@\"; }}")
    return per_control(nginx.control, bool(nginx.conf), common=common, systemd=_systemd_control(nginx),
                       signal=_signal_control(nginx))


def _values(nginx: Nginx, site_name: str = "", site_text: str = "") -> dict[str, str | int]:
    values: dict[str, str | int] = {"RELOAD_TIMEOUT": RELOAD_TIMEOUT, "NGINX_CONF": nginx.conf or ""}
    if site_name:
        available = site_path(nginx, site_name)
        values |= {"SITE_AVAILABLE": available, "SITE_ENABLED": f"{nginx.sites_enabled}/{site_name}",
                   "SITE_KEPT": available + KEPT_SUFFIX, "SITE_TEXT": site_text,
                   "SITES_LABEL": "nginx sites directory", "SITE_TEST_LABEL": "nginx -t"}
    return values


def reload(nginx: Nginx) -> str:
    """Reload nginx and check that the reload took (new workers), or start it if it is not running.

    Fails with nginx's error line when the reload did not take or nginx does not run after it.
    """
    return Script(control_functions(nginx) + "\nnginx_apply_or_fail", _values(nginx), RECIPES).text()


def publish_site(nginx: Nginx, site_name: str, site_text: str) -> str:
    """Install the site (`install_site`: ``nginx -t``, the old site back if rejected), then reload or start
    nginx and check that it took. If it did not, or nginx is not running after, the previous site goes
    back, nginx is reloaded or started with it, and the script fails with nginx's error. A running nginx
    whose enabled site is these very bytes is left alone (fact ``nginx=unchanged``)."""
    run = ('if site_is_live && nginx_running; then fact nginx unchanged\n'
           'else site_install; nginx_publish; fi')
    return Script(control_functions(nginx) + "\n" + run,
                  _values(nginx, site_name, site_text), RECIPES).text()


def remove_site(nginx: Nginx, site_name: str) -> str:
    """Remove the site and its link, test the config without them (``nginx -t``), reload nginx and check
    that it took; the site goes back when either fails (``site_remove``, then `publish_site`'s apply).
    Fact ``site``: ``removed`` or ``none installed``."""
    run = ('site_remove\nif [ "$site_removed" = 1 ]; then nginx_publish; fact site removed; '
           'else fact site "none installed"; fi')
    return Script(control_functions(nginx) + "\n" + run, _values(nginx, site_name, ""), RECIPES + ("site_removal",)).text()


def root_commands(nginx: Nginx, site_name: str) -> list[RootCommand]:
    """Every command the scripts above run as root (none without ``sudo``), with its exact arguments."""
    if not nginx.sudo:
        return []
    binary = (binary_path(nginx.binary), *(("-c", nginx.conf) if nginx.conf else ()))
    commands = [RootCommand((*binary, "-t"), "test the whole config with the new site (nginx -t opens every log "
                                             "and certificate as root)")]
    if uses_systemd(nginx.control, bool(nginx.conf)):
        commands += [system_command("systemctl", "reload", "nginx", why="apply the new site (graceful)"),
                     system_command("systemctl", "start", "nginx", why="start nginx when it is not running")]
    if uses_signals(nginx.control, bool(nginx.conf)):
        commands += [RootCommand((*binary, "-s", "reload"), "apply the new site, without systemd"),
                     RootCommand(binary, "start nginx, without systemd")]
    available = site_path(nginx, site_name)
    return commands + site_file_commands(available, f"{nginx.sites_enabled}/{site_name}", available + KEPT_SUFFIX)


class NginxFront(FrontServer):
    """nginx: a site in sites-available, enabled by a link; a reload checked by its new workers."""

    name = "nginx"
    host_packages = ("nginx",)
    site_template = SITE_TEMPLATE
    site_file = SITE_FILE
    log_dir = "/var/log/nginx"
    log_group = "adm"

    # the module's builders are the class's methods
    site_path = staticmethod(site_path)
    install_site = staticmethod(install_site)
    publish_site = staticmethod(publish_site)
    reload = staticmethod(reload)
    remove_site = staticmethod(remove_site)
    root_commands = staticmethod(root_commands)
