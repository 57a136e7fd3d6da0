"""What a host's certificate state means to a person: plan's note and doctor's check (docs/https.md).

`read_script` is the part of a read-only script that reports it: ``tls_state=none`` before the host has
the certificate (acme: no marker yet; files: nothing uploaded yet), else what the front server serves
(`https_check.certificate_probe`: ``tls_days_left`` or ``tls_error``). A deploy warns under
`tls.EXPIRY_WARNING_DAYS` (steps.warn_if_expiring), doctor fails under `tls.EXPIRY_FAILURE_DAYS`.
"""
from __future__ import annotations

from .commands import certbot, certificate
from .commands.https_check import certificate_probe
from .commands.setup import DoctorResult
from .commands.shell import q
from .protocol import FACTS_MARK
from .settings import App
from .tls import EXPIRY_FAILURE_DAYS, EXPIRY_WARNING_DAYS


def local_files_digest(app: App) -> str:
    """files mode: `certificate.files_digest` of the local certificate and key ('' otherwise)."""
    if app.tls is None or app.tls.mode != "files" or app.tls.certificate is None or app.tls.key is None:
        return ""
    return certificate.files_digest(app.tls.certificate.read_bytes(), app.tls.key.read_bytes())


def presence_path(app: App) -> str:
    """The file, readable without root, that says the host has ``app``'s certificate: certbot's marker
    (acme) or the uploaded pair's digest (files)."""
    return certbot.marker_path(app) if app.tls is not None and app.tls.mode == "acme" else certificate.digest_path(app)


def read_script(app: App) -> str:
    """The lines that report ``app``'s certificate on the host, read-only, as the deploy user ('' without
    ``[app.tls]``)."""
    if app.tls is None:
        return ""
    there = presence_path(app)
    ca_pem = app.tls.ca.read_text() if app.tls.ca else None
    probe = certificate_probe(app.tls.port, app.health_host, app.listen_address or "127.0.0.1", ca_pem)
    return f"if [ -e {q(there)} ]; then\n{probe}else\n  echo \"{FACTS_MARK}tls_state=none\"\nfi\n"


def days_left(facts: dict[str, str]) -> int | None:
    value = facts.get("tls_days_left", "")
    return int(value) if value.lstrip("-").isdigit() else None


def first_time(app: App) -> str:
    """What the next deploy does when the host has no certificate yet."""
    if app.tls is not None and app.tls.mode == "acme":
        return f"the next deploy gets it from {app.tls.directory} (certbot, http-01) before the site serves HTTPS"
    return "the next deploy uploads [app.tls] certificate and key"


def renew_hint(app: App) -> str:
    if app.tls is not None and app.tls.mode == "acme":
        return (f"certbot renews it on the host: check `systemctl status certbot.timer`, or run "
                f"`sudo certbot renew --cert-name {app.name}`")
    return "put a new certificate and key in [app.tls], then deploy"


def plan_note(app: App, facts: dict[str, str]) -> str | None:
    """plan's line on the certificate (None without ``[app.tls]``)."""
    if app.tls is None:
        return None
    days = days_left(facts)
    if facts.get("tls_state") == "none":
        return f"certificate: none on the host yet; {first_time(app)}"
    if days is not None:
        warn = f": under {EXPIRY_WARNING_DAYS}, {renew_hint(app)}" if days < EXPIRY_WARNING_DAYS else ""
        return f"certificate: {days} days left (served on port {app.tls.port}){warn}"
    return f"certificate: on the host, but port {app.tls.port} does not serve it: {facts.get('tls_error', '?')}"


def doctor_result(app: App, facts: dict[str, str]) -> DoctorResult:
    """doctor's ``certificate`` check: fails when what is served does not verify, or expires within
    `tls.EXPIRY_FAILURE_DAYS` days."""
    if facts.get("tls_state") == "none":
        return DoctorResult("certificate", True, f"none yet: {first_time(app)}")
    days = days_left(facts)
    if days is None:
        return DoctorResult("certificate", False, f"port {app.tls.port if app.tls else '?'} does not serve it: "
                            f"{facts.get('tls_error', 'no answer')}", "deploy (it installs the HTTPS site)")
    if days < EXPIRY_FAILURE_DAYS:
        return DoctorResult("certificate", False, f"expires in {days} days", renew_hint(app))
    return DoctorResult("certificate", True, f"{days} days left")
