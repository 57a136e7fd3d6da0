"""certbot for ``[app.tls] mode = "acme"``: the script that gets the certificate, and the renewal's deploy hook.

`obtain` runs ``certbot_obtain`` (tasks/recipes/certbot.sh) as root: the webroot method through the site's
own challenge location (commands/certificate.py), under the app's name (``--cert-name``), with
``--keep-until-expiring`` so that a redeploy asks the CA for nothing. Its settings go in a root-owned file
(`config_text`, ``/etc/wsgideploy/certbot/<app>.ini``), so the root command is
``certbot certonly --config <file>``, which sudoers can name exactly. certbot stores `deploy_hook` in
``/etc/letsencrypt/renewal/<app>.conf`` and runs it after each renewal, also from Debian's
``certbot.timer`` (``certbot -q renew`` twice a day): it tests the front server's whole config and reloads
the server, so the renewed certificate is served with no deploy.

A deploy runs `obtain` before the switch when the host has no certificate yet (no `marker_path`):
tasks/steps.py, docs/https.md.
"""
from __future__ import annotations

from typing import Any

from ..settings import App, Apache, Lighttpd, Nginx
from .certificate import FILES_DIR, LETSENCRYPT_LIVE, copied, key_group, site_tls
from .front import RootCommand, as_root_function, root_file, system_command, uses_signals, uses_systemd
from .recipe import Script
from .shell import q

RECIPES = ("process", "certbot")
CONFIG_DIR = "/etc/wsgideploy/certbot"
MARKER_NAME = "certificate"
DEBIAN_LIGHTTPD_CONF = "/etc/lighttpd/lighttpd.conf"


def _reload(control: str, custom_conf: bool, systemd: str, signal: str) -> str:
    """The reload as ``control`` says: systemd, the server's own signal, or (``auto``) either, on the host."""
    if not uses_systemd(control, custom_conf):
        return signal
    if not uses_signals(control, custom_conf):
        return systemd
    return f"if [ -d /run/systemd/system ]; then {systemd}; else {signal}; fi"


def deploy_hook(proxy: str, settings: Any) -> str:
    """The command certbot runs as root after a renewal: test the front server's config, then reload it.
    ``settings`` is the stage's ``[nginx]``, ``[apache]`` or ``[lighttpd]`` table."""
    if proxy == "nginx" and isinstance(settings, Nginx):
        binary = q(settings.binary) + (f" -c {q(settings.conf)}" if settings.conf else "")
        return f"{binary} -t -q && " + _reload(settings.control, bool(settings.conf), "systemctl reload nginx",
                                               f"{binary} -s reload")
    if proxy == "apache" and isinstance(settings, Apache):
        binary = q(settings.binary) + (f" -f {q(settings.conf)}" if settings.conf else "")
        return f"{binary} -t && " + _reload(settings.control, bool(settings.conf), "systemctl reload apache2",
                                            f"{binary} -k graceful")
    if proxy == "lighttpd" and isinstance(settings, Lighttpd):
        config = settings.conf or DEBIAN_LIGHTTPD_CONF
        return f"{q(settings.binary)} -tt -f {q(config)} && " + _reload(
            settings.control, bool(settings.conf), "systemctl reload lighttpd",
            f"pkill --signal USR1 --pidfile {q(settings.pidfile)}")
    raise ValueError(f"no deploy hook for proxy {proxy!r} with {type(settings).__name__} settings")


def renewal_hook(app: App, settings: Any) -> str:
    """What certbot runs after each issuance and renewal: `deploy_hook`, after copying the certificate and
    key where the site reads them when the front server reads the key without root (lighttpd:
    `certificate.copied`; the key 0640 in its group, the certificate 0644, each renamed into place)."""
    hook = deploy_hook(app.proxy, settings)
    if not copied(app):
        return hook
    live, folder = f"{LETSENCRYPT_LIVE}/{app.name}", f"{FILES_DIR}/{app.name}"
    group = key_group(app)
    copy = (f"install -d -o root -g root -m 0755 {folder} && "
            f"install -o root -g {group} -m 0640 {live}/privkey.pem {folder}/privkey.pem.new && "
            f"install -o root -g root -m 0644 {live}/fullchain.pem {folder}/fullchain.pem.new && "
            f"mv -f {folder}/privkey.pem.new {folder}/privkey.pem && "
            f"mv -f {folder}/fullchain.pem.new {folder}/fullchain.pem")
    return f"{copy} && {hook}"


def config_path(app: App) -> str:
    """certbot's settings for ``app``: ``/etc/wsgideploy/certbot/<app>.ini`` (root's; `obtain` writes it)."""
    return f"{CONFIG_DIR}/{app.name}.ini"


def marker_path(app: App) -> str:
    """The file `obtain` makes once ``app`` has its certificate (a deploy then renders the HTTPS site)."""
    paths = site_tls(app)
    if paths is None or paths.acme_webroot is None:
        raise ValueError(f"{app.name}: certbot gets certificates for [app.tls] mode = \"acme\" only")
    return f"{paths.acme_webroot}/{MARKER_NAME}"


def config_text(app: App, settings: Any) -> str:
    """certbot's settings for ``app`` (its long options, one a line): ``certbot certonly --config <file>``
    then has fixed arguments, which sudoers can name. Every value is checked by the stage's loader; one
    with a line break is refused here too."""
    paths = site_tls(app)
    if app.tls is None or app.tls.mode != "acme" or paths is None or paths.acme_webroot is None:
        raise ValueError(f"{app.name}: certbot gets certificates for [app.tls] mode = \"acme\" only")
    if app.tls.email is None:
        raise ValueError(f"{app.name}: [app.tls] email is required in acme mode")
    values = {
        "non-interactive": "true", "agree-tos": "true", "no-eff-email": "true", "keep-until-expiring": "true",
        "email": app.tls.email, "server": app.tls.directory, "cert-name": app.name,
        "authenticator": "webroot", "webroot-path": paths.acme_webroot,
        "domains": ", ".join(app.server_name.split()), "deploy-hook": renewal_hook(app, settings),
    }
    for key, value in values.items():
        if "\n" in value or "\r" in value:
            raise ValueError(f"{app.name}: certbot's {key} cannot hold a line break: {value!r}")
    return (f"# certbot's settings for {app.name}, written by wsgideploy (tasks/commands/certbot.py) at each\n"
            f"# deploy: certbot certonly --config {config_path(app)}\n"
            + "".join(f"{key} = {value}\n" for key, value in values.items()))


def obtain(app: App, settings: Any, sudo: bool = True) -> str:
    """The script that gets ``app``'s certificate (acme mode) through its site's challenge location (a
    fact ``tls_ready=yes`` once it is there); it fails with certbot's reason. ``settings``: the front
    server's table (for `deploy_hook`)."""
    text = config_text(app, settings)
    values: dict[str, str | int] = {
        "CONFIG_DIR": CONFIG_DIR, "CONFIG": config_path(app), "CONFIG_TEXT": text.rstrip("\n"), "WEBROOT": str(site_tls(app).acme_webroot),
        "MARKER": marker_path(app), "DOMAINS": " ".join(app.server_name.split()),
        "DIRECTORY": str(app.tls.directory if app.tls else ""),
    }
    return Script("certbot_obtain", values, RECIPES, functions=as_root_function(sudo)).text()


def root_commands(app: App) -> list[RootCommand]:
    """What `obtain` runs as root, each with fixed arguments (tasks/commands/privileged.py)."""
    webroot = site_tls(app).acme_webroot  # type: ignore[union-attr]
    return [
        system_command("install", "-d", "-m", "0755", f"{webroot}/.well-known/acme-challenge",
                       why="the folder certbot writes the http-01 tokens to; the site serves it"),
        system_command("install", "-d", "-m", "0755", CONFIG_DIR, why="the folder of certbot's settings per app"),
        root_file(config_path(app), "certbot's settings for the app, rendered on the controller"),
        system_command("certbot", "certonly", "--config", config_path(app),
                       why="get or keep the certificate (certbot's webroot method, http-01)"),
        root_file(marker_path(app), "says that the certificate is there (an empty file)"),
    ]
