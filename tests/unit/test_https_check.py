"""The HTTPS health check (tasks/commands/https_check.py), run for real against a local TLS server.

The server listens on 127.0.0.1 with a certificate for hello.example.com signed by a CA made here; the
check connects there and verifies for the name it is given: it passes with that CA, reports the days left,
and fails at once with the TLS error for another name or without the CA, as a browser would.
"""
from __future__ import annotations

import datetime
import http.server
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wsgideploy.commands.https_check import certificate_probe, https_check
from wsgideploy.protocol import FACTS_MARK

NAME = "hello.example.com"


def name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """A TLS server on 127.0.0.1 (its port) answering 200 on / and 404 elsewhere, and its CA's PEM."""
    folder = tmp_path_factory.mktemp("https")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test CA")).issuer_name(name("test CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=90))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name(NAME)).issuer_name(name("test CA"))
            .public_key(key.public_key()).serial_number(2).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30, hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (folder / "chain.pem").write_text(pem(leaf) + pem(ca))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = b"hello over tls"
            self.send_response(200 if self.path == "/" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "chain.pem", folder / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], pem(ca)
    server.shutdown()
    server.server_close()


def run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)


def test_the_check_verifies_the_name_and_chain_and_reports_the_days_left(site: tuple[int, str]) -> None:
    port, ca = site
    done = run(https_check(port, "/", NAME, 200, 5, ca_pem=ca))
    assert done.returncode == 0, done.stderr
    facts = dict(line.removeprefix(FACTS_MARK).split("=", 1) for line in done.stdout.splitlines()
                 if line.startswith(FACTS_MARK))
    assert facts["status"] == "200" and facts["tls_days_left"] == "30" and facts["body"] == "hello over tls"


@pytest.mark.parametrize("host, ca, reason", [
    ("other.example.com", True, "TLS: Hostname mismatch, certificate is not valid for 'other.example.com'."),
    (NAME, False, "TLS: self-signed certificate in certificate chain"),
], ids=["another name", "the system's CAs only"])
def test_a_certificate_that_does_not_verify_fails_at_once_with_the_tls_error(
        site: tuple[int, str], host: str, ca: bool, reason: str) -> None:
    port, ca_pem = site
    done = run(https_check(port, "/", host, 200, 30, ca_pem=ca_pem if ca else None))
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == reason
    assert f"health check of https://{host}:{port}/ at 127.0.0.1 failed" in done.stderr


def test_another_status_three_times_fails_before_the_timeout_with_the_answer(site: tuple[int, str]) -> None:
    port, ca = site
    started = time.monotonic()
    done = run(https_check(port, "/missing", NAME, 200, 30, ca_pem=ca))
    assert done.returncode == 1 and time.monotonic() - started < 10
    assert done.stderr.startswith("HTTP 404 (expected 200) 3 times in a row: hello over tls")


def facts_of(stdout: str) -> dict[str, str]:
    return dict(line.removeprefix(FACTS_MARK).split("=", 1) for line in stdout.splitlines()
                if line.startswith(FACTS_MARK))


@pytest.mark.parametrize("host, ca, expected", [
    (NAME, True, {"tls_days_left": "30"}),
    ("other.example.com", True, {"tls_error": "Hostname mismatch, certificate is not valid for 'other.example.com'."}),
    (NAME, False, {"tls_error": "self-signed certificate in certificate chain"}),
], ids=["verified", "another name", "the system's CAs only"])
def test_the_certificate_probe_reports_days_or_the_tls_error_and_never_fails(
        site: tuple[int, str], host: str, ca: bool, expected: dict[str, str]) -> None:
    port, ca_pem = site
    done = run(certificate_probe(port, host, ca_pem=ca_pem if ca else None))
    assert done.returncode == 0, done.stderr
    assert facts_of(done.stdout) == expected


def test_the_certificate_probe_of_a_closed_port_says_why() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends
    done = run(certificate_probe(port, NAME))
    assert done.returncode == 0
    assert facts_of(done.stdout)["tls_error"].startswith("ConnectionRefusedError:")
