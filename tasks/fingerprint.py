"""A deploy's fingerprint: one hash of everything that makes a release what it is. Pure.

Two deploys with the same fingerprint would put the same release live: the same
source files, the same settings for this host (its ``[app]``, vars, front-server
table, hooks and roles), the same environment values and the same templates. A
scheduled redeploy whose fingerprint matches the live release's is a no-op, unless
that release is marked bad (see `is_no_op`). Secrets only enter as a hash of the env file content; they are never stored.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .inventory import Host, Stage
from .render import TEMPLATES_DIR

FINGERPRINT_FILE = "fingerprint"  # in the release's config dir


def directory_hash(directory: Path | None) -> str:
    """A hash of every file's path and content under ``directory`` ('' for none).

    Python's byte-code caches are left out: importing the templates package writes them.
    """
    if directory is None or not directory.is_dir():
        return ""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def tls_files_hash(stage: Stage) -> str:
    """The content of ``[app.tls]``'s local files (files mode's certificate and key, the health check's
    CA), so that new files make a deploy that installs them, not a no-op."""
    tls = stage.app.tls
    if tls is None:
        return ""
    digest = hashlib.sha256()
    for path in (tls.certificate, tls.key, tls.ca):
        digest.update(hashlib.sha256(path.read_bytes()).digest() if path else b"-")
    return digest.hexdigest()


def release_fingerprint(stage: Stage, host: Host, source_hash: str, env_content: bytes | None,
                        hashed: dict[Path | None, str] | None = None) -> str:
    """The fingerprint of deploying this source with these settings to ``host`` (64 hex digits). ``hashed``
    keeps each template directory's `directory_hash` for the next host of the same run."""
    hashed = {} if hashed is None else hashed
    for directory in (TEMPLATES_DIR, stage.app.templates):
        if directory not in hashed:
            hashed[directory] = directory_hash(directory)
    proxy_settings = getattr(stage, stage.app.proxy, None)
    parts = {
        "source": source_hash,
        "app": repr(stage.app),
        "vars": json.dumps(stage.host_vars(host), sort_keys=True, default=str),
        "proxy": repr(proxy_settings),
        "hooks": repr(stage.hooks),
        "roles": sorted(host.roles),
        "env": hashlib.sha256(env_content).hexdigest() if env_content is not None else "",
        "templates": hashed[TEMPLATES_DIR],
        "app_templates": hashed[stage.app.templates],
        "tls_files": tls_files_hash(stage),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def is_no_op(fingerprint: str, live_fingerprint: str, live_bad: bool) -> bool:
    """Whether deploying with ``fingerprint`` would change nothing: the live release has this
    fingerprint and is not marked bad.

    A release that failed its health check (or a later step) is marked bad, yet it stays live
    when there is nothing to go back to (a first release) or the rollback failed too; it keeps
    its fingerprint. Rerunning the same deploy must then build and check a new release, not
    report the failed one as unchanged.
    """
    return bool(fingerprint) and fingerprint == live_fingerprint and not live_bad
