"""What a host's certificate state says to a person (tasks/tls_state.py), as data: plan's note and doctor's
check for each state the read-only script reports; and the script itself, by equality of its parts."""
from __future__ import annotations

from pathlib import Path

import pytest

from wsgideploy import tls_state
from wsgideploy.commands.setup import DoctorResult
from wsgideploy.settings import App, Tls

ACME = Tls(mode="acme", email="ops@example.com")
FILES = Tls(mode="files", certificate=Path("/local/site.pem"), key=Path("/local/site.key"), port=8443)


def app(tls: Tls | None) -> App:
    return App(name="hello", source=Path("/nonexistent"), wsgi="app:app", root="/srv/hello",
               server_name="hello.example.com", tls=tls)


LE = "https://acme-v02.api.letsencrypt.org/directory"
CASES = [
    # (id, tls, facts, plan's note, doctor's result)
    ("acme before its first deploy", ACME, {"tls_state": "none"},
     f"certificate: none on the host yet; the next deploy gets it from {LE} (certbot, http-01) before the site "
     "serves HTTPS",
     DoctorResult("certificate", True, f"none yet: the next deploy gets it from {LE} (certbot, http-01) before "
                                       "the site serves HTTPS")),
    ("files before its first deploy", FILES, {"tls_state": "none"},
     "certificate: none on the host yet; the next deploy uploads [app.tls] certificate and key",
     DoctorResult("certificate", True, "none yet: the next deploy uploads [app.tls] certificate and key")),
    ("acme, 60 days", ACME, {"tls_days_left": "60"}, "certificate: 60 days left (served on port 443)",
     DoctorResult("certificate", True, "60 days left")),
    ("acme, 10 days", ACME, {"tls_days_left": "10"},
     "certificate: 10 days left (served on port 443): under 14, certbot renews it on the host: check "
     "`systemctl status certbot.timer`, or run `sudo certbot renew --cert-name hello`",
     DoctorResult("certificate", True, "10 days left")),
    ("files, 6 days", FILES, {"tls_days_left": "6"},
     "certificate: 6 days left (served on port 8443): under 14, put a new certificate and key in [app.tls], "
     "then deploy",
     DoctorResult("certificate", False, "expires in 6 days", "put a new certificate and key in [app.tls], then deploy")),
    ("expired", ACME, {"tls_days_left": "-3"},
     "certificate: -3 days left (served on port 443): under 14, certbot renews it on the host: check "
     "`systemctl status certbot.timer`, or run `sudo certbot renew --cert-name hello`",
     DoctorResult("certificate", False, "expires in -3 days", "certbot renews it on the host: check "
                  "`systemctl status certbot.timer`, or run `sudo certbot renew --cert-name hello`")),
    ("not served", ACME, {"tls_error": "ConnectionRefusedError: [Errno 111] Connection refused"},
     "certificate: on the host, but port 443 does not serve it: ConnectionRefusedError: [Errno 111] Connection "
     "refused",
     DoctorResult("certificate", False, "port 443 does not serve it: ConnectionRefusedError: [Errno 111] "
                  "Connection refused", "deploy (it installs the HTTPS site)")),
]


@pytest.mark.parametrize("tls, facts, note, result", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_plan_and_doctor_say_what_the_certificate_state_means(tls: Tls, facts: dict[str, str], note: str,
                                                              result: DoctorResult) -> None:
    assert tls_state.plan_note(app(tls), facts) == note
    assert tls_state.doctor_result(app(tls), facts) == result


def test_without_tls_there_is_nothing_to_read_or_say() -> None:
    assert tls_state.read_script(app(None)) == "" and tls_state.plan_note(app(None), {}) is None
    assert tls_state.local_files_digest(app(None)) == ""


@pytest.mark.parametrize("tls, there", [(ACME, "/var/lib/wsgideploy/acme/hello/certificate"),
                                        (FILES, "/etc/ssl/wsgideploy/hello/uploaded.sha256")], ids=["acme", "files"])
def test_the_script_probes_only_once_the_host_has_the_certificate(bash_syntax, tls: Tls, there: str  # type: ignore[no-untyped-def]
                                                                  ) -> None:
    text = tls_state.read_script(app(tls))
    assert bash_syntax(text) is None
    assert text.startswith(f"if [ -e {there} ]; then\npython3 -c ")
    assert text.endswith('else\n  echo "wsgideploy-fact:tls_state=none"\nfi\n')
    assert f'"port": {tls.port}' in text and '"host": "hello.example.com"' in text
