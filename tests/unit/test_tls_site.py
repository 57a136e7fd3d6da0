"""The nginx site of an app with ``[app.tls]``: golden files, the rules each one must keep, and ``nginx -t``.

Goldens in ``tests/unit/golden/tls/`` (``UPDATE_GOLDEN=1`` writes them; review the diff):
- ``nginx-acme.conf``: acme with its certificate: port 80 serves the ACME challenges and redirects the rest to
  HTTPS on 443; 443 serves the app with the certificate certbot keeps under the app's name.
- ``nginx-acme-first.conf``: acme before its first certificate: the HTTP site as without TLS, plus the
  challenges; nothing redirects and nothing listens on 443.
- ``nginx-files-hsts.conf``: files on port 8443 of one address, with HSTS: the redirect names the port.
A site without ``[app.tls]`` is byte for byte what it was (tests/unit/golden/nginx.conf, test_render).
"""
from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wsgideploy.commands.certificate import install_file, site_tls
from wsgideploy.layout import Layout
from wsgideploy.render import render_release_configs, template_context
from wsgideploy.settings import App, Tls

GOLDEN_DIR = Path(__file__).resolve().parent / "golden" / "tls"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
ROOT = "/srv/hello"
ACME = Tls(mode="acme", email="ops@example.com")
FILES = Tls(mode="files", certificate=Path("/local/site.pem"), key=Path("/local/site.key"), port=8443, hsts=True)


def app(tls: Tls | None, **overrides: object) -> App:
    fields: dict[str, object] = dict(name="hello", source=Path("/nonexistent/hello"), wsgi="app:app", root=ROOT,
                                     server_name="hello.example.com www.hello.example.com", tls=tls)
    return App(**{**fields, **overrides})  # type: ignore[arg-type]


def site(application: App, https: bool = True) -> str:
    context = template_context(application, Layout(application.root), "20261121T101500Z", "static", {},
                               https=https)
    return render_release_configs(context)["nginx.conf"]


SITES = {
    "nginx-acme.conf": lambda: site(app(ACME)),
    "nginx-acme-first.conf": lambda: site(app(ACME), https=False),
    "nginx-files-hsts.conf": lambda: site(app(FILES, listen_address="203.0.113.7")),
}


@pytest.mark.parametrize("name", SITES)
def test_the_tls_site_matches_its_golden_file(name: str) -> None:
    golden = GOLDEN_DIR / name
    text = SITES[name]()
    if UPDATE_GOLDEN:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
        pytest.skip(f"UPDATE_GOLDEN=1: wrote {golden}")
    assert text == golden.read_text()


def server_blocks(text: str) -> list[str]:
    """The ``server { ... }`` blocks of a site, in order (the templates indent their bodies)."""
    return [block.split("\n}\n")[0] for block in text.split("\nserver {\n")[1:]]


def test_acme_redirects_http_to_https_except_the_challenges() -> None:
    http, https = server_blocks(site(app(ACME)))
    assert "    listen 80;" in http and "ssl" not in http
    assert "location /.well-known/acme-challenge/ {\n        root /var/lib/wsgideploy/acme/hello;" in http
    assert "return 301 https://$host$request_uri;" in http
    assert "proxy_pass" not in http  # the app is only reached over HTTPS
    assert "    listen 443 ssl;" in https and "server_name hello.example.com www.hello.example.com;" in https
    assert "ssl_certificate /etc/letsencrypt/live/hello/fullchain.pem;" in https
    assert "ssl_certificate_key /etc/letsencrypt/live/hello/privkey.pem;" in https
    assert "acme-challenge" not in https and "Strict-Transport-Security" not in https


def test_https_offers_tls_1_2_and_1_3_only_and_tells_the_app_its_scheme() -> None:
    https = server_blocks(site(app(ACME)))[1]
    assert "    ssl_protocols TLSv1.2 TLSv1.3;" in https
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in https  # $scheme is https in this server


@pytest.mark.parametrize("server, passes", [("uwsgi", "uwsgi_param HTTPS $https if_not_empty;"),
                                            ("fastcgi", "fastcgi_param HTTPS $https if_not_empty;")])
def test_uwsgi_and_fastcgi_learn_https_from_nginx(server: str, passes: str) -> None:
    https = server_blocks(site(app(ACME, server=server)))[1]
    assert "listen 443 ssl;" in https and passes in https


def test_before_its_first_certificate_an_acme_site_serves_http_and_the_challenges_only() -> None:
    [http] = server_blocks(site(app(ACME), https=False))
    assert "    listen 80;" in http and "ssl" not in http and "return 301" not in http
    assert "location /.well-known/acme-challenge/ {" in http and "proxy_pass" in http


def test_files_mode_on_another_port_redirects_to_that_port_and_sends_hsts() -> None:
    http, https = server_blocks(site(app(FILES, listen_address="203.0.113.7")))
    assert "listen 203.0.113.7:80;" in http and "return 301 https://$host:8443$request_uri;" in http
    assert "acme-challenge" not in http
    assert "listen 203.0.113.7:8443 ssl;" in https
    assert "ssl_certificate /etc/ssl/wsgideploy/hello/fullchain.pem;" in https
    assert 'add_header Strict-Transport-Security "max-age=31536000" always;' in https


def test_an_ipv6_listen_address_is_bracketed_on_both_ports() -> None:
    http, https = server_blocks(site(app(FILES, listen_address="2001:db8::7")))
    assert "listen [2001:db8::7]:80;" in http and "listen [2001:db8::7]:8443 ssl;" in https


def test_site_tls_paths_follow_the_app_name_not_the_server_names() -> None:
    paths = site_tls(app(ACME, name="blog", server_name="example.org"))
    assert paths is not None
    assert (paths.certificate, paths.key) == ("/etc/letsencrypt/live/blog/fullchain.pem",
                                              "/etc/letsencrypt/live/blog/privkey.pem")
    assert paths.challenge_dir == "/var/lib/wsgideploy/acme/blog/.well-known/acme-challenge/"
    assert site_tls(app(None)) is None


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hello.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    chain, private = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    chain.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return chain, private


@pytest.mark.parametrize("name", SITES)
def test_nginx_t_accepts_the_tls_site(tmp_path: Path, name: str) -> None:
    nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not nginx:
        pytest.skip("nginx is not installed")
    chain, key = self_signed(tmp_path)
    text = SITES[name]()
    for folder in ("/etc/letsencrypt/live/hello", "/etc/ssl/wsgideploy/hello"):
        text = text.replace(f"{folder}/fullchain.pem", str(chain)).replace(f"{folder}/privkey.pem", str(key))
    text = text.replace("/var/log/nginx/", f"{tmp_path}/").replace("203.0.113.7", "127.0.0.1")
    (tmp_path / "site.conf").write_text(text)
    main = tmp_path / "nginx.conf"
    main.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
                    f"http {{\n  proxy_temp_path {tmp_path}/proxy;\n  client_body_temp_path {tmp_path}/body;\n"
                    f"  include {tmp_path}/site.conf;\n}}\n")
    done = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(main), "-e", str(tmp_path / "e.log")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("which, mode, dest", [("certificate", "0644", "fullchain.pem"), ("key", "0600", "privkey.pem")])
def test_files_are_installed_from_stdin_by_fixed_root_commands(bash_syntax, which: str, mode: str,  # type: ignore[no-untyped-def]
                                                               dest: str) -> None:
    text = install_file(app(FILES), which)
    assert bash_syntax(text) is None
    folder = "/etc/ssl/wsgideploy/hello"
    assert f"sudo -n install -d -o root -g root -m 0755 {folder}\n" in text
    assert f"sudo -n install -o root -g root -m {mode} /dev/stdin {folder}/{dest}.new\n" in text
    assert f"sudo -n mv -f {folder}/{dest}.new {folder}/{dest}\n" in text
    assert "/local/site" not in text and "PEM" not in text  # the content comes on stdin, never in the script
    assert "sudo" not in install_file(app(FILES), which, sudo=False)


def test_only_files_mode_installs_files() -> None:
    with pytest.raises(ValueError, match="files"):
        install_file(app(ACME), "key")
    with pytest.raises(ValueError, match="'certificate' or 'key'"):
        install_file(app(FILES), "chain")


@pytest.mark.parametrize("server, proxy, site_file", [("gunicorn", "nginx", "nginx.conf"),
                                                      ("mod_wsgi", "apache", "apache.conf"),
                                                      ("fastcgi", "lighttpd", "lighttpd.conf")])
def test_new_certificate_files_change_the_site_so_the_front_server_reloads(server: str, proxy: str,
                                                                           site_file: str) -> None:
    """Apache (and lighttpd) leave a running server alone when the site's bytes do not change: a new pair
    of files mode's files must change them (the deploy's digest of the pair, the fact ``tls_files``)."""
    application = app(FILES, server=server, proxy=proxy)
    texts = []
    for digest in ("", "a" * 64, "b" * 64):
        context = template_context(application, Layout(ROOT), "20261121T101500Z", "static", {}, tls_files=digest)
        texts.append(render_release_configs(context)[site_file])
    assert texts[0] != texts[1] != texts[2]
    assert f"sha256 {'b' * 64}" in texts[2]
    assert all(text.replace("a" * 64, "b" * 64) == texts[2] for text in texts[1:])
