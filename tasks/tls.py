"""The rules of ``[app.tls]`` that no single key's check can see: the site's names, the other keys, local files.

`build_tls` turns an ``[app.tls]`` table whose keys are checked (settings.py: `Tls`) into a `Tls`, or
raises the loader's error for the key at fault, so a bad setting stops with exit 2 before any host is
touched:

- acme: ``email`` is required; ``certificate`` and ``key`` are files mode's. Every name of the app's
  ``server_name`` must be a DNS name: the CA validates each name over HTTP (http-01), so ``_`` (the
  catch-all, and the default), an IP address, a wildcard (``*.example.com``, ``.example.com``) or a regex
  (``~...``) is refused, naming ``app.server_name``.
- files: ``certificate`` and ``key`` are required local files (relative to the stage file, ``~``
  expanded), in PEM; the key must be the certificate's (their public keys are compared). ``email`` and
  ``directory`` are acme's.
- ``ca`` is a local PEM file of at least one certificate; ``port`` is not ``app.listen``.

The files are read with ``cryptography`` (paramiko's own dependency), imported only when a stage has
files to read, so loading a stage without them stays as fast as before.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .checks import is_dns_name
from .settings import Tls, default_of

Error = Callable[[str, str], Exception]  # (key under [app], problem) -> the loader's error
# The front servers whose deploy serves the site over HTTPS (docs/https.md). A stage that asks for HTTPS
# behind another one is refused, never deployed over HTTP alone.
DEPLOYED_FRONTS: tuple[str, ...] = ("nginx", "apache", "lighttpd")
# A deploy and ``status`` warn when the served certificate expires within this many days; doctor fails
# within EXPIRY_FAILURE_DAYS. certbot renews 30 days before (Let's Encrypt's certificates last 90).
EXPIRY_WARNING_DAYS = 14
EXPIRY_FAILURE_DAYS = 7
ACME_ONLY = ("email", "directory")
FILES_ONLY = ("certificate", "key")


def acme_name_problem(server_name: str) -> str | None:
    """Why ``server_name`` cannot be certified by an ACME CA over http-01, or None when it can."""
    for name in server_name.split():
        if name == "_":
            return ("is '_', the catch-all (also the default): [app.tls] mode = \"acme\" needs the site's DNS "
                    "names, e.g. server_name = \"example.com www.example.com\"")
        if not is_dns_name(name):
            return (f"has {name!r}: [app.tls] mode = \"acme\" certifies DNS names only (http-01 validates no "
                    "IP address, wildcard or regex)")
    return None


def local_file(text: str, base: Path) -> Path:
    """``text`` as a local path: ``~`` expanded, relative to ``base`` (the stage file's folder)."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def build_tls(raw: Mapping[str, Any], *, server_name: str, listen: int, base: Path, error: Error) -> Tls:
    """The `Tls` of the checked table ``raw``; ``error(key, problem)`` for the first rule it breaks.
    Whether the front server can deploy it is `check_deployable`'s."""
    mode = raw.get("mode")
    if mode is None:
        raise error("tls.mode", 'is required: "acme" (a certificate from an ACME CA) or "files"')
    port = raw.get("port", default_of(Tls, "port"))
    if port == listen:
        raise error("tls.port", f"is {port}, the port of app.listen too: HTTP and HTTPS need a port each")
    misplaced, other = (FILES_ONLY, "files") if mode == "acme" else (ACME_ONLY, "acme")
    for key in misplaced:
        if key in raw:
            raise error(f"tls.{key}", f'belongs to mode = "{other}", not mode = "{mode}"')
    files: dict[str, Path] = {}
    if mode == "acme":
        if "email" not in raw:
            raise error("tls.email", 'is required in mode = "acme": the ACME account\'s contact address')
        problem = acme_name_problem(server_name)
        if problem:
            raise error("server_name", problem)
    else:
        for key in FILES_ONLY:
            if key not in raw:
                raise error(f"tls.{key}", 'is required in mode = "files" (a local PEM file)')
            files[key] = existing_file(key, raw[key], base, error)
        check_key_matches(files["certificate"], files["key"], error)
    if "ca" in raw:
        files["ca"] = existing_file("ca", raw["ca"], base, error)
        read_certificates("ca", files["ca"], error)
    return Tls(**{**{k: v for k, v in raw.items() if k not in files}, **files})


def existing_file(key: str, text: str, base: Path, error: Error) -> Path:
    """The local file that ``[app.tls] key`` names, or ``error`` saying that it is not one."""
    path = local_file(text, base)
    if not path.is_file():
        raise error(f"tls.{key}", f"is not a local file: {path}")
    return path


def read_certificates(key: str, path: Path, error: Error) -> list[Any]:
    """The PEM certificates in ``path`` (at least one), or ``error`` naming the file."""
    from cryptography import x509
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except (ValueError, OSError) as exc:
        raise error(f"tls.{key}", f"{path} holds no PEM certificate ({exc})") from None


def check_key_matches(certificate: Path, key: Path, error: Error) -> None:
    """``error`` naming ``key`` unless it is a PEM private key whose public key is ``certificate``'s
    first certificate's (the site's own, which must come first in the chain)."""
    from cryptography.hazmat.primitives import serialization
    site = read_certificates("certificate", certificate, error)[0]
    try:
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:
        raise error("tls.key", f"{key} holds no unencrypted PEM private key ({exc})") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if private.public_key().public_bytes(encoding, public) != site.public_key().public_bytes(encoding, public):
        raise error("tls.key", f"{key} is not the key of the certificate {certificate} "
                    "(the site's certificate must come first in that file)")


def check_deployable(proxy: str, error: Error) -> None:
    """``error`` naming ``app.tls`` when ``proxy``'s deploy does not serve HTTPS yet (`DEPLOYED_FRONTS`)."""
    if proxy not in DEPLOYED_FRONTS:
        raise error("tls", f"is valid, but deploys behind {proxy} do not serve HTTPS yet; behind "
                    f"{' and '.join(DEPLOYED_FRONTS)} they do. Remove [app.tls] to deploy over HTTP (docs/https.md)")
