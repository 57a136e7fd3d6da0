"""Where an HTTPS site's certificate, key and ACME challenges live on the host (``[app.tls]``). Pure.

- acme: certbot keeps the certificate under its own name, the app's (``--cert-name <app>``), so the
  paths do not move when ``server_name`` changes: ``/etc/letsencrypt/live/<app>/fullchain.pem`` and
  ``privkey.pem`` (certbot's layout: root-owned, the key 0600 in ``archive/``; measured with Debian's
  certbot 2.1.0 in tests/integration/test_acme_lab.py). Its webroot method writes each token under
  ``/var/lib/wsgideploy/acme/<app>/.well-known/acme-challenge/``, which the site serves on port
  ``app.listen``: root-owned, readable by the front server's user.
- files: the controller uploads the two files like secrets to ``/etc/ssl/wsgideploy/<app>/``
  (root-owned; the key 0600): `install_file` reads one file from standard input, so neither the key
  nor the certificate is ever on a command line, in the script or in a log.

`site_tls` gives a site template these paths with the port and HSTS (the ``tls`` of the template
context). ``https`` false is the site of an acme app before its first certificate: HTTP as before, plus
the challenges, so that certbot can get it; nothing redirects yet.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..protocol import FACTS_MARK
from ..settings import App
from .front import RootCommand, root_file, system_command
from .shell import maybe_sudo, q, script

LETSENCRYPT_LIVE = "/etc/letsencrypt/live"
FILES_DIR = "/etc/ssl/wsgideploy"
ACME_WEBROOT = "/var/lib/wsgideploy/acme"
CHALLENGE_PATH = "/.well-known/acme-challenge/"


@dataclass(frozen=True)
class SiteTls:
    """What a site template needs of ``[app.tls]`` on the host."""

    port: int
    hsts: bool
    certificate: str  # the chain, the site's certificate first
    key: str
    acme_webroot: str | None  # acme: the folder whose .well-known/acme-challenge/ the site serves
    https: bool = True  # false: no certificate yet (acme): serve HTTP and the challenges only
    files_digest: str = ""  # files: `files_digest` of the installed pair, named in the site so that a new
    #                         pair changes the site's bytes, and the front server reloads with it

    @property
    def challenge_dir(self) -> str | None:
        """Where certbot writes the tokens (acme), or None."""
        return f"{self.acme_webroot}{CHALLENGE_PATH}" if self.acme_webroot else None


# A front server that reads the key again after dropping root (lighttpd reloads as www-data: measured on
# Debian 12, a root-only key stops it): the key is readable by that group, and an acme app's certificate
# and key are copied from certbot's folder (0700) to FILES_DIR by the renewal hook (certbot.renewal_hook).
KEY_GROUPS = {"lighttpd": "www-data"}


def key_group(app: App) -> str:
    """The group of the key's file: root, or the front server's own (`KEY_GROUPS`)."""
    return KEY_GROUPS.get(app.proxy, "root")


def copied(app: App) -> bool:
    """Whether ``app``'s site reads certbot's certificate from copies in FILES_DIR (`KEY_GROUPS`)."""
    return app.tls is not None and app.tls.mode == "acme" and app.proxy in KEY_GROUPS


def site_tls(app: App, https: bool = True, pair: str = "") -> SiteTls | None:
    """The host paths of ``app``'s certificate and challenges, or None without ``[app.tls]``
    (``pair``: `files_digest` of the host's certificate and key, files mode)."""
    if app.tls is None:
        return None
    if app.tls.mode == "acme":
        live = f"{FILES_DIR}/{app.name}" if copied(app) else f"{LETSENCRYPT_LIVE}/{app.name}"
        return SiteTls(port=app.tls.port, hsts=app.tls.hsts, certificate=f"{live}/fullchain.pem",
                       key=f"{live}/privkey.pem", acme_webroot=f"{ACME_WEBROOT}/{app.name}", https=https)
    folder = f"{FILES_DIR}/{app.name}"
    return SiteTls(port=app.tls.port, hsts=app.tls.hsts, certificate=f"{folder}/fullchain.pem",
                   key=f"{folder}/privkey.pem", acme_webroot=None, https=True, files_digest=pair)


FILE_MODES = {"certificate": "0644", "key": "0600"}
# files: beside the two files, the sha256 of what was uploaded (certificate, then key), root's, 0644:
# `prepare` reads it, so a deploy uploads the files only when they changed.
DIGEST_NAME = "uploaded.sha256"


def files_digest(certificate: bytes, key: bytes) -> str:
    """What `DIGEST_NAME` holds for these two files (a digest: nothing of the key can be read back)."""
    return hashlib.sha256(hashlib.sha256(certificate).digest() + hashlib.sha256(key).digest()).hexdigest()


def digest_path(app: App) -> str:
    return f"{FILES_DIR}/{app.name}/{DIGEST_NAME}"


def install_digest(app: App, digest: str, sudo: bool = True) -> str:
    """The script that records ``digest`` (`files_digest`) once both files are installed."""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return script(f"printf '%s\\n' {digest} | " + maybe_sudo(f"install -o root -g root -m 0644 /dev/stdin "
                                                                  f"{q(digest_path(app))}", sudo))


def facts_script(app: App, there: str) -> str:
    """The lines of ``prepare`` that report the host's certificate, read without root from ``there``
    (`tls_state.presence_path`): ``tls_ready=yes`` when an acme app's marker is there; ``tls_files=<digest>``
    of a files app. Nothing without ``[app.tls]``."""
    if app.tls is None:
        return ""
    if app.tls.mode == "acme":
        return f"if [ -e {q(there)} ]; then echo \"{FACTS_MARK}tls_ready=yes\"; fi\n"
    return f"echo \"{FACTS_MARK}tls_files=$(cat {q(there)} 2>/dev/null || true)\"\n"


def files_root_commands(app: App) -> list[RootCommand]:
    """What files mode runs as root (`install_file`, `install_digest`), each with fixed arguments."""
    paths = site_tls(app)
    assert paths is not None
    folder = paths.certificate.rsplit("/", 1)[0]
    commands = [system_command("install", "-d", "-o", "root", "-g", "root", "-m", "0755", folder,
                               why="the folder of the app's certificate and key")]
    for which, dest in (("certificate", paths.certificate), ("key", paths.key)):
        group, mode = file_owner(app, which)
        commands += [
            system_command("install", "-o", "root", "-g", group, "-m", mode, "/dev/stdin",
                           f"{dest}.new", why=f"the {which}, sent on standard input (never in the script)"),
            system_command("mv", "-f", f"{dest}.new", dest, why=f"the new {which} over the live one, at once"),
        ]
    commands.append(root_file(digest_path(app), "the sha256 of the uploaded files (a deploy compares it)"))
    return commands


def install_file(app: App, which: str, sudo: bool = True) -> str:
    """The script that installs standard input as ``app``'s certificate chain or key (``which``: files
    mode): root's, mode 0644 or 0600, written beside the live one and renamed over it, so the front
    server never reads half a file. Every root command has fixed arguments (sudoers can name them)."""
    paths = site_tls(app)
    if app.tls is None or app.tls.mode != "files" or paths is None:
        raise ValueError(f"{app.name}: files are installed for [app.tls] mode = \"files\" only")
    if which not in FILE_MODES:
        raise ValueError(f"which is 'certificate' or 'key', not {which!r}")
    dest = paths.certificate if which == "certificate" else paths.key
    folder = dest.rsplit("/", 1)[0]
    new = f"{dest}.new"
    group, mode = file_owner(app, which)
    return script(
        maybe_sudo(f"install -d -o root -g root -m 0755 {q(folder)}", sudo),
        maybe_sudo(f"install -o root -g {group} -m {mode} /dev/stdin {q(new)}", sudo),
        maybe_sudo(f"mv -f {q(new)} {q(dest)}", sudo),
    )


def file_owner(app: App, which: str) -> tuple[str, str]:
    """The group and mode of the certificate (root, 0644) or the key (root 0600, or 0640 in the front
    server's group where it reads it again after dropping root: `KEY_GROUPS`)."""
    if which == "certificate":
        return "root", FILE_MODES["certificate"]
    group = key_group(app)
    return group, FILE_MODES["key"] if group == "root" else "0640"
