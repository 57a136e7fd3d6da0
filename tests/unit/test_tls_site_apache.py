"""The Apache site of an app with ``[app.tls]`` (templates/apache/site.conf.j2): a golden file, the rules,
and Debian's ``apache2 -t`` in a private prefix (tests/hosts/apache.py) for every server inside Apache.

Golden: ``tests/unit/golden/tls/apache-acme.conf`` (mod_wsgi, acme with its certificate, HSTS). The app runs
inside Apache, so no X-Forwarded-Proto is set: mod_ssl sets ``HTTPS=on`` and the WSGI environ says
``wsgi.url_scheme = https``. A site without ``[app.tls]`` is the same bytes as before (test_mode_apache).
The Listen of the HTTPS port is named on a ``# wsgideploy-listen-tls:`` line; apache.sh does not write it
yet (the deploy steps are still to come).
"""
from __future__ import annotations

import datetime
import grp
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.hosts.apache import ApachePrefix
from wsgideploy.layout import Layout
from wsgideploy.render import render_release_configs, template_context
from wsgideploy.settings import App, Tls

GOLDEN = Path(__file__).resolve().parent / "golden" / "tls" / "apache-acme.conf"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
APACHE2 = shutil.which("apache2", path="/usr/sbin:/usr/bin:/sbin:/bin")
ACME = Tls(mode="acme", email="ops@example.com", hsts=True)
FILES = Tls(mode="files", certificate=Path("/local/site.pem"), key=Path("/local/site.key"), port=8443)


def site(server: str = "mod_wsgi", tls: Tls | None = ACME, https: bool = True, root: str = "/srv/hello",
         user: str = "deploy", group: str = "deploy", **overrides: object) -> str:
    fields: dict[str, object] = dict(name="hello", source=Path("/nonexistent"), wsgi="app:app", root=root,
                                     server=server, proxy="apache", tls=tls,
                                     server_name="hello.example.com www.hello.example.com")
    app = App(**{**fields, **overrides})  # type: ignore[arg-type]
    context = template_context(app, Layout(root), "20261121T101500Z", "static", {}, user, group, https=https)
    return render_release_configs(context)["apache.conf"]


def vhosts(text: str) -> list[str]:
    return [block.split("</VirtualHost>")[0] for block in text.split("<VirtualHost ")[1:]]


def test_the_apache_tls_site_matches_its_golden_file() -> None:
    text = site()
    if UPDATE_GOLDEN:
        GOLDEN.write_text(text)
        pytest.skip(f"UPDATE_GOLDEN=1: wrote {GOLDEN}")
    assert text == GOLDEN.read_text()


@pytest.mark.parametrize("server", ["mod_wsgi", "cgi", "fastcgi"])
def test_http_redirects_to_https_except_the_challenges_and_https_runs_the_app(server: str) -> None:
    text = site(server)
    http, https = vhosts(text)
    assert "# wsgideploy-listen: 80\n# wsgideploy-listen-tls: 443\n" in text
    assert http.startswith("*:80>") and https.startswith("*:443>")
    assert "Alias /.well-known/acme-challenge/ /var/lib/wsgideploy/acme/hello/.well-known/acme-challenge/" in http
    assert "RewriteCond %{REQUEST_URI} !^/\\.well-known/acme-challenge/" in http
    assert "RewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [R=301,L]" in http
    assert "Script" not in http and "WSGI" not in http  # the app is only reached over HTTPS
    assert "SSLEngine on" in https and "SSLProtocol -all +TLSv1.2 +TLSv1.3" in https
    assert "SSLCertificateFile /etc/letsencrypt/live/hello/fullchain.pem" in https
    assert 'Header always set Strict-Transport-Security "max-age=31536000"' in https
    assert "acme-challenge" not in https
    assert text.count("ServerName hello.example.com") == 2 and text.count("ServerAlias www.hello.example.com") == 2


def test_before_its_first_certificate_the_site_is_http_with_the_challenges() -> None:
    text = site(https=False)
    [http] = vhosts(text)
    assert http.startswith("*:80>") and "wsgideploy-listen-tls" not in text and "SSL" not in text
    assert "Alias /.well-known/acme-challenge/" in http and "RewriteRule" not in http
    assert http.index("acme-challenge") < http.index("WSGIScriptAlias")


def test_files_mode_on_another_port_of_one_address() -> None:
    text = site(tls=FILES, listen_address="203.0.113.7")
    http, https = vhosts(text)
    assert "# wsgideploy-listen: 203.0.113.7:80\n# wsgideploy-listen-tls: 203.0.113.7:8443\n" in text
    assert http.startswith("203.0.113.7:80>") and https.startswith("203.0.113.7:8443>")
    assert "RewriteRule ^ https://%{SERVER_NAME}:8443%{REQUEST_URI} [R=301,L]" in http
    assert "RewriteCond" not in http and "acme-challenge" not in text
    assert "SSLCertificateKeyFile /etc/ssl/wsgideploy/hello/privkey.pem" in https
    assert "Strict-Transport-Security" not in text and "headers_module" not in text


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hello.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    chain, private = folder / "fullchain.pem", folder / "privkey.pem"
    chain.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return chain, private


@pytest.mark.skipif(APACHE2 is None, reason="needs Debian's apache2 (apt-get install apache2)")
@pytest.mark.parametrize("https", [True, False], ids=["https", "before-the-certificate"])
@pytest.mark.parametrize("server", ["mod_wsgi", "cgi", "fastcgi"])
def test_apache2_t_accepts_the_tls_site(tmp_path: Path, server: str, https: bool) -> None:
    prefix = ApachePrefix(tmp_path / "apache")
    prefix.prepare()
    chain, key = self_signed(tmp_path)
    nobody = pwd.getpwnam("nobody")  # mod_wsgi refuses a daemon that runs as root
    text = site(server, https=https, root=str(tmp_path / "app"), user=nobody.pw_name,
                group=grp.getgrgid(nobody.pw_gid).gr_name, listen=8080, tls=Tls(mode="acme", email="a@b.c",
                                                                                    port=8443, hsts=True))
    text = (text.replace("/etc/letsencrypt/live/hello/fullchain.pem", str(chain))
            .replace("/etc/letsencrypt/live/hello/privkey.pem", str(key))
            .replace("/var/lib/wsgideploy/acme/hello", str(tmp_path / "acme")))
    (prefix.sites_enabled / "hello.conf").write_text(text)
    listens = [line.split(": ")[1] for line in text.splitlines() if line.startswith("# wsgideploy-listen")]
    (prefix.listen_dir / "wsgideploy-hello.conf").write_text("".join(f"Listen {port}\n" for port in listens))
    done = subprocess.run([str(APACHE2), "-f", str(prefix.conf), "-t"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr + text
