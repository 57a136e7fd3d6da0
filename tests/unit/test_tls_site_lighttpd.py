"""The lighttpd site of an app with ``[app.tls]`` (templates/lighttpd/site.conf.j2): a golden file, the rules,
and ``lighttpd -tt`` in a private prefix (tests/hosts/lighttpd.py).

Golden: ``tests/unit/golden/tls/lighttpd-acme.conf`` (fastcgi, acme with its certificate, HSTS). The HTTPS
site needs mod_openssl, which Debian ships as ``lighttpd-mod-openssl``: where this machine lacks it, only the
site before the certificate is run through ``lighttpd -tt`` here (the booted test_tls_lighttpd_site runs
both). A site without ``[app.tls]`` is the same bytes as before (test_mode_fastcgi).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.hosts.lighttpd import LighttpdPrefix
from wsgideploy.layout import Layout
from wsgideploy.render import render_release_configs, template_context
from wsgideploy.settings import App, Tls

GOLDEN = Path(__file__).resolve().parent / "golden" / "tls" / "lighttpd-acme.conf"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
LIGHTTPD = shutil.which("lighttpd", path="/usr/sbin:/usr/bin:/sbin:/bin")
ACME = Tls(mode="acme", email="ops@example.com", hsts=True)
FILES = Tls(mode="files", certificate=Path("/local/site.pem"), key=Path("/local/site.key"), port=8443)


def site(tls: Tls | None = ACME, https: bool = True, static_dir: str | None = "static", **overrides: object) -> str:
    fields: dict[str, object] = dict(name="hello", source=Path("/nonexistent"), wsgi="app:app", root="/srv/hello",
                                     server="fastcgi", proxy="lighttpd", tls=tls,
                                     server_name="hello.example.com www.hello.example.com")
    app = App(**{**fields, **overrides})  # type: ignore[arg-type]
    context = template_context(app, Layout("/srv/hello"), "20261121T101500Z", static_dir, {}, "deploy", "deploy",
                               https=https)
    return render_release_configs(context)["lighttpd.conf"]


def sockets(text: str) -> list[str]:
    """The ``$SERVER["socket"]`` blocks of a site (from the condition to the next one)."""
    return ['$SERVER["socket"]' + block for block in text.split('$SERVER["socket"]')[1:]]


def test_the_lighttpd_tls_site_matches_its_golden_file() -> None:
    text = site()
    if UPDATE_GOLDEN:
        GOLDEN.write_text(text)
        pytest.skip(f"UPDATE_GOLDEN=1: wrote {GOLDEN}")
    assert text == GOLDEN.read_text()


def test_http_redirects_to_https_except_the_challenges_and_https_runs_the_app() -> None:
    text = site()
    http, https = sockets(text)
    assert 'server.modules += ( "mod_openssl", "mod_redirect", "mod_setenv" )' in text
    assert http.startswith('$SERVER["socket"] == ":80" {') and https.startswith('$SERVER["socket"] == ":443" {')
    assert 'url.redirect = ( "" => "https://%1${url.path}${qsa}" )' in http and "url.redirect-code = 301" in http
    challenge = http.split('$HTTP["url"] =^ "/.well-known/acme-challenge/" {')[1]
    assert challenge.lstrip().startswith("url.redirect = ()")
    assert "fastcgi.server" not in http
    assert 'ssl.pemfile = "/etc/ssl/wsgideploy/hello/fullchain.pem"' in https
    assert 'ssl.privkey = "/etc/ssl/wsgideploy/hello/privkey.pem"' in https
    assert 'ssl.openssl.ssl-conf-cmd = ( "MinProtocol" => "TLSv1.2" )' in https
    assert '"Strict-Transport-Security" => "max-age=31536000"' in https
    assert "acme-challenge" not in https and "fastcgi.server" in https


def test_before_its_first_certificate_the_challenges_come_after_the_handler_and_turn_it_off() -> None:
    [http] = sockets(site(https=False))
    assert "ssl." not in http and "url.redirect" not in http
    handler, challenge = http.index('fastcgi.server = ( "/"'), http.index("/.well-known/acme-challenge/")
    assert handler < challenge and "fastcgi.server = ()" in http[challenge:]


def test_files_mode_on_another_port_redirects_to_that_port_and_has_no_challenges() -> None:
    text = site(tls=FILES, listen_address="203.0.113.7")
    http, https = sockets(text)
    assert http.startswith('$SERVER["socket"] == "203.0.113.7:80" {')
    assert https.startswith('$SERVER["socket"] == "203.0.113.7:8443" {')
    assert '"https://%1:8443${url.path}${qsa}"' in http
    assert "acme-challenge" not in text and "mod_setenv" not in text and "Strict-Transport" not in text


@pytest.mark.skipif(LIGHTTPD is None, reason="needs Debian's lighttpd")
@pytest.mark.parametrize("static_dir", ["static", None])
def test_lighttpd_tt_accepts_the_site_before_the_certificate(tmp_path: Path, static_dir: str | None) -> None:
    prefix = LighttpdPrefix(tmp_path / "lighttpd", port=8080)
    prefix.prepare()
    (prefix.sites_enabled / "wsgideploy-hello.conf").write_text(site(https=False, static_dir=static_dir,
                                                                     listen=8080))
    done = subprocess.run([str(LIGHTTPD), "-tt", "-f", str(prefix.conf)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
