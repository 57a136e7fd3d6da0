"""Install an Apache site and reload Apache gracefully, never leaving a broken config live.

The site file goes to ``<sites_available>/<name>.conf`` and is enabled the Debian way: with
``a2ensite`` when the directories are Debian's own (``/etc/apache2/sites-*``), with the same
symlink otherwise (a custom prefix). The ``Listen`` the site needs goes in wsgideploy's own
file, ``<listen_dir>/wsgideploy-<name>.conf``; ports.conf and other sites are never edited.
The rendered site names it on a ``# wsgideploy-listen: <address:port>`` line. When the host's
config already listens there (``Listen 80`` in ports.conf), the file adds nothing, because a
second Listen on the same port passes ``apachectl -t`` and then kills Apache at the graceful
restart (measured: "could not bind ... no listening sockets available, shutting down").

``apachectl -t`` runs before any reload; if it fails, the previous site file, link and Listen
file are put back, Apache is not touched, and the step fails with Apache's message.

A graceful restart of Apache also restarts every mod_wsgi daemon process, and requests in
flight there fail (measured, see docs/modes/mod_wsgi.md). The site template therefore names
only ``current`` paths and no release id: when a deploy leaves the site and the Listen file
byte for byte as they were, `install_site` says so (``wsgideploy_apache_unchanged=1`` in the
script) and `reload` leaves a running Apache alone. The app server reloads itself instead.

A module that runs processes of its own (mod_cgid's daemon) starts them only on the second
pass over the config, which a graceful restart never makes: loaded there, mod_cgid answers
every request 503 ("unable to connect to cgi daemon after multiple tries"). So when the site
loads a module the config did not load before, or mod_cgid is loaded but its daemon is not
running, `reload` restarts Apache fully (``systemctl restart``, or ``-k graceful-stop`` then
``-k start``) and says why. The CGI site itself loads mod_cgi, which has no daemon: every
graceful restart restarts mod_cgid's, and a request meanwhile answers 503 (docs/modes/cgi.md).

The site's text is rendered on the controller and sent in the script; root installs it from
there (``root_install``), never from a file the deploy user or the app can write (`install_live_site`,
which mod_wsgi's ``start`` uses, re-enables the root-owned site a deploy installed). Apache writes the app's logs in
``/var/log/apache2/<app>.{access,error}.log``, where Debian's logrotate snippet rotates them. What
runs as root is `root_commands` (tasks/commands/privileged.py); Apache's queries (``-M``, ``-t -D
DUMP_RUN_CFG``, ``-t -D DUMP_INCLUDES``) run as the deploy user.

The bash is ``tasks/recipes/apache.sh``; this module writes the values and the few functions that
differ per settings: ``as_root`` (sudo), ``apache_ctl`` (the binary, ``-f`` conf) and ``apache_reload``
(per ``control``: systemd, or ``apache2ctl -k``).
"""
from __future__ import annotations

from ..settings import Apache
from .front import (FrontServer, RootCommand, as_root_function, binary_path, per_control, root_file, system_command,
                    uses_signals, uses_systemd)
from .recipe import Script, assignment, recipe
from .shell import maybe_sudo, q

SITE_TEMPLATE = "apache/site.conf.j2"
SITE_FILE = "apache.conf"
LISTEN_MARK = "# wsgideploy-listen:"
LISTEN_TLS_MARK = "# wsgideploy-listen-tls:"  # the site's HTTPS address:port (templates/apache/site.conf.j2)
DEBIAN_CONFDIR = "/etc/apache2"
SYSTEMD_UNIT = "apache2"
RECIPES = ("process", "apache")  # tasks/recipes/*.sh


def apache_command(apache: Apache, *args: str) -> str:
    """``<binary> [-f conf] args...`` (``apache2ctl`` passes them to apache2 with Debian's envvars),
    with ``sudo -n`` when the inventory asks for it."""
    conf = f" -f {q(apache.conf)}" if apache.conf else ""
    extra = "".join(f" {q(a)}" for a in args)
    return maybe_sudo(f"{q(apache.binary)}{conf}{extra}", apache.sudo)


def site_path(apache: Apache, site_name: str) -> str:
    """``<sites_available>/<name>.conf`` (Debian's apache2.conf includes ``sites-enabled/*.conf`` only)."""
    return f"{apache.sites_available}/{site_name}.conf"


def enabled_link(apache: Apache, site_name: str) -> str:
    return f"{apache.sites_enabled}/{site_name}.conf"


def listen_file(apache: Apache, site_name: str) -> str:
    """wsgideploy's own file with the site's ``Listen`` directive."""
    return f"{apache.listen_dir}/wsgideploy-{site_name}.conf"


def uses_a2ensite(apache: Apache) -> bool:
    """Whether the sites directories are Debian's own, where ``a2ensite`` manages the links."""
    return (apache.sites_available == f"{DEBIAN_CONFDIR}/sites-available"
            and apache.sites_enabled == f"{DEBIAN_CONFDIR}/sites-enabled")


def control_functions(apache: Apache) -> str:
    """``as_root``, ``apache_ctl`` and ``apache_reload`` (`apache.sh`'s systemd or signal reload) for
    ``apache.control``: ``auto`` uses systemd where it runs and no custom main config is set."""
    query = apache_command(apache).removeprefix("sudo -n ")  # the same command, as the deploy user
    common = (as_root_function(apache.sudo) + f'\napache_ctl() {{ {apache_command(apache)} "$@"; }}'
              + f'\napache_query() {{ {query} "$@"; }}')
    return per_control(apache.control, bool(apache.conf), common=common,
                       systemd="\napache_reload() { apache_systemd_reload; }",
                       signal="\napache_reload() { apache_signal_reload; }")


def functions(apache: Apache) -> str:
    """Apache's shell functions (`control_functions`, then ``apache.sh``: the pid of the running Apache,
    its Listens and modules, its error log...), for the app servers that run inside Apache (mod_wsgi,
    cgi), whose scripts need ``process.sh`` too."""
    return control_functions(apache) + "\n" + recipe("apache")


def _values(apache: Apache, site_name: str = "", site_text: str | None = None) -> dict[str, str | int]:
    values: dict[str, str | int] = {"APACHE_UNIT": SYSTEMD_UNIT}
    if site_name:
        values |= {"APACHE_SITE_NAME": site_name, "APACHE_SITE": site_path(apache, site_name),
                   "APACHE_SITE_ENABLED": enabled_link(apache, site_name),
                   "APACHE_LISTEN_FILE": listen_file(apache, site_name),
                   "APACHE_A2ENSITE": int(uses_a2ensite(apache))}
    if site_text is not None:
        values |= {"APACHE_SITES_AVAILABLE": apache.sites_available, "APACHE_SITES_ENABLED": apache.sites_enabled,
                   "APACHE_LISTEN_DIR": apache.listen_dir, "APACHE_SITE_TEXT": site_text,
                   "APACHE_LISTEN_MARK": LISTEN_MARK, "APACHE_LISTEN_TLS_MARK": LISTEN_TLS_MARK}
    return values


def install_site(apache: Apache, site_name: str, site_text: str) -> str:
    """Install ``site_text`` as the site, enable it, write its Listen file, test the whole config.

    If ``apachectl -t`` fails, the previous site, link and Listen file are put back, so the
    config on disk is the one that runs, and the script fails with Apache's error. Sets
    ``wsgideploy_apache_unchanged=1`` when nothing changed, which `reload` reads
    (``apache_install_site``, tasks/recipes/apache.sh).
    """
    return Script("apache_install_site", _values(apache, site_name, site_text), RECIPES,
                  control_functions(apache)).text()


def install_live_site(apache: Apache, site_name: str) -> str:
    """`install_site` with the site already in ``sites_available`` (root's: the last deploy or rollback
    installed it from the controller's text), enabled again with its Listen file: mod_wsgi's ``start``
    after a ``stop``, which disabled it. A site that is missing, or not root's, is refused: root never
    installs bytes from a file the deploy user or the app can write."""
    installed = site_path(apache, site_name)
    values = _values(apache, site_name, "") | {"APACHE_INSTALLED_SITE": installed}
    read = ('[ -f "$APACHE_INSTALLED_SITE" ] || fail "no Apache site $APACHE_INSTALLED_SITE: deploy first"\n'
            '[ "$(stat -c %u "$APACHE_INSTALLED_SITE")" = 0 ] '
            '|| fail "$APACHE_INSTALLED_SITE is not root\'s: deploy again to install the site"\n'
            'APACHE_SITE_TEXT=$(cat -- "$APACHE_INSTALLED_SITE" && echo .) || fail "cannot read $APACHE_INSTALLED_SITE"\n'
            'APACHE_SITE_TEXT=${APACHE_SITE_TEXT%.}\n')
    return Script(read + "apache_install_site", values, RECIPES, control_functions(apache)).text()


def disable_site(apache: Apache, site_name: str) -> str:
    """Remove the site's link and Listen file, test the config (put both back if it fails).

    Sets ``wsgideploy_apache_disabled=1`` when the site was enabled, so the caller reloads. A part
    of a script (its values, then ``apache_disable_site``) whose functions include `functions`.
    """
    values = _values(apache, site_name)
    return "".join(f"{assignment(name, value)}\n" for name, value in values.items()) + "apache_disable_site\n"


def reload(apache: Apache) -> str:
    """Reload Apache gracefully, or start it if it is not running.

    After `install_site` in the same script, a running Apache whose site and Listen file did
    not change is left alone (``apache=unchanged``). A running Apache that must start a module's
    own processes (see the module's docstring) is restarted fully instead (``apache=restarted,
    not reloaded: <why>``). ``control = "auto"`` uses systemctl where
    systemd runs and no custom main config is set, and ``apache2ctl -k`` elsewhere.
    """
    return Script("apache_reload", _values(apache), RECIPES, control_functions(apache)).text()


def publish_site(apache: Apache, site_name: str, site_text: str) -> str:
    """Install and test the site, then apply it: `install_site` then `reload` (restarted fully where a module
    needs it, its cgid daemon checked), in one script. An unchanged site leaves a running Apache alone."""
    return Script("apache_install_site\napache_reload", _values(apache, site_name, site_text), RECIPES,
                  control_functions(apache)).text()


def remove_site(apache: Apache, site_name: str) -> str:
    """Disable the site (its link and Listen file; both back if ``apachectl -t`` fails without them), remove
    its file and reload Apache gracefully (``apache_remove_site``). Fact ``site``: ``removed`` or
    ``none installed``."""
    return Script("apache_remove_site", _values(apache, site_name), RECIPES, control_functions(apache)).text()


def root_commands(apache: Apache, site_name: str) -> list[RootCommand]:
    """Every command the scripts above run as root (none without ``sudo``), with its exact arguments."""
    if not apache.sudo:
        return []
    ctl = (binary_path(apache.binary), *(("-f", apache.conf) if apache.conf else ()))
    commands = [RootCommand((*ctl, "-t"), "test the whole config with the new site")]
    if uses_systemd(apache.control, bool(apache.conf)):
        commands += [system_command("systemctl", verb, SYSTEMD_UNIT, why=why) for verb, why in (
            ("reload", "apply the new site (graceful)"), ("start", "start Apache when it is not running"),
            ("restart", "a full restart where a module starts its own processes (mod_cgid)"))]
    if uses_signals(apache.control, bool(apache.conf)):
        commands += [RootCommand((*ctl, "-k", verb), f"apachectl -k {verb}, without systemd")
                     for verb in ("graceful", "start", "graceful-stop", "stop")]
    site, link, listen = site_path(apache, site_name), enabled_link(apache, site_name), listen_file(apache, site_name)
    previous = ".wsgideploy-previous"
    commands += [root_file(site, "the site, rendered on the controller, installed from the script"),
                 root_file(listen, "the site's Listen file (none where the config already listens)"),
                 system_command("cp", "-p", site, site + previous, why="keep the live site until the test passed"),
                 system_command("cp", "-p", listen, listen + previous, why="keep the live Listen file"),
                 system_command("mv", "-f", site + previous, site, why="put the live site back"),
                 system_command("mv", "-f", listen + previous, listen, why="put the live Listen file back"),
                 system_command("mv", "-f", listen, listen + previous, why="disable the site: its Listen file aside"),
                 system_command("rm", "-f", site + previous, why="drop the kept site"),
                 system_command("rm", "-f", listen + previous, why="drop the kept Listen file"),
                 system_command("rm", "-f", site, why="remove a failed first site"),
                 system_command("rm", "-f", listen, why="remove a failed first site's Listen file"),
                 system_command("rm", "-f", link, why="remove the link of a failed first site (or disable it)")]
    commands.append(system_command("ln", "-sfn", site, link, why="enable the site (its one link, where a2ensite is not)"))
    if uses_a2ensite(apache):
        commands += [system_command("a2ensite", "-q", site_name, why="enable the site the Debian way"),
                     system_command("a2dissite", "-q", site_name, why="disable it (mod_wsgi's stop)")]
    return commands


class ApacheFront(FrontServer):
    """Apache httpd: a site in sites-available with its own Listen file, enabled by a link (a2ensite);
    a graceful restart, or a full one where a module needs it."""

    name = "apache"
    host_packages = ("apache2",)
    site_template = SITE_TEMPLATE
    site_file = SITE_FILE
    log_dir = "/var/log/apache2"
    log_group = "adm"

    # the module's builders are the class's methods
    site_path = staticmethod(site_path)
    install_site = staticmethod(install_site)
    publish_site = staticmethod(publish_site)
    reload = staticmethod(reload)
    remove_site = staticmethod(remove_site)
    root_commands = staticmethod(root_commands)
