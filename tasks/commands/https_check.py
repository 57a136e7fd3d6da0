"""Check the app over HTTPS from the host itself, through the front server, as a client would.

`https_check` runs the site probe (`site_probe.SITE_PROBE`, the HTTP check's too) in TLS mode: it connects
to the front server's address and port (127.0.0.1:443 by default) but speaks TLS for the site's name: SNI is the name, and the certificate chain and the name are verified against the system's
CAs, or against ``[app.tls] ca`` (its PEM text travels in the probe's config: it is public). It reports the
status, and the days until the served certificate expires (``tls_days_left``), for status, plan and
doctor. A name or chain that does not verify fails the check with the TLS error, as a browser would.

A deploy's health check uses it where the site serves HTTPS (`health.site_check`); `certificate_probe`
reads the served certificate alone, for plan and doctor (tasks/tls_state.py). tests/unit/test_https_check.py
runs the probes against a local TLS server, tests/integration/test_https_deploy.py through real deploys.
"""
from __future__ import annotations

import json

from ..protocol import FACTS_MARK
from .site_probe import SITE_PROBE, probe_config
from .shell import fail, q, script

def https_check(port: int, path: str, host: str, status: int, timeout: float, address: str = "127.0.0.1",
                ca_pem: str | None = None) -> str:
    """Poll ``https://<host>:<port><path>`` at ``address`` (SNI and verification for ``host``) until it
    answers ``status`` or ``timeout`` passes, or an answer settles it (`answers.ANSWER_RULE`); a certificate that
    does not verify fails at once."""
    cfg = probe_config(address, port, path, host, status, timeout, tls=True, ca_pem=ca_pem)
    where = f"https://{host}:{port}{path} at {address}"
    return script(f"python3 -c {q(SITE_PROBE)} {q(cfg)} || {fail(f'health check of {where} failed')}")


# The served certificate's days left, by a TLS handshake only (no request): for plan and doctor, which
# ask about the certificate, not the app. Verification as a browser does; its error is a fact, not a failure.
CERTIFICATE_PROBE = rf'''
import json, socket, ssl, sys, time
cfg = json.loads(sys.argv[1])
context = ssl.create_default_context(cadata=cfg["cadata"]) if cfg["cadata"] else ssl.create_default_context()
try:
    with socket.create_connection((cfg["address"], cfg["port"]), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=cfg["host"]) as tls:
            expires = ssl.cert_time_to_seconds(tls.getpeercert()["notAfter"])
    print("{FACTS_MARK}tls_days_left=%d" % ((expires - time.time()) // 86400))
except ssl.SSLCertVerificationError as exc:
    print("{FACTS_MARK}tls_error=" + " ".join(str(exc.verify_message).split()))
except (OSError, ssl.SSLError) as exc:
    print("{FACTS_MARK}tls_error=%s: %s" % (type(exc).__name__, " ".join(str(exc).split())))
'''


def certificate_probe(port: int, host: str, address: str = "127.0.0.1", ca_pem: str | None = None) -> str:
    """The line that reports the certificate served on ``address:port`` for ``host``: the fact
    ``tls_days_left``, or ``tls_error`` (it never fails the script)."""
    cfg = json.dumps({"address": address, "port": port, "host": host, "cadata": ca_pem or ""})
    return f"python3 -c {q(CERTIFICATE_PROBE)} {q(cfg)} || true\n"
