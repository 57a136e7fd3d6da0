"""wsgideploy's nginx TLS site (templates/nginx.site.conf.j2 with ``[app.tls]``) on Debian's nginx, with a
certificate that certbot gets from pebble through the site's own challenge location.

This module renders the site with wsgideploy's own `render_release_configs` and installs it by hand, so that
what nginx does with it is tested apart from the deploy steps (test_https_deploy deploys it). The app behind it is a stand-in: a Python HTTP server on the unix socket the site's
upstream names, answering with the request's headers as JSON.

Servers (booted in parallel): ``acme`` (Debian's pebble; tests/servers/acme.py) and ``web1`` (Debian's
nginx and certbot). pebble resolves ``hello.test`` to ``web1``; clients run on ``acme`` and trust only
pebble's root. Steps, in order (the tests share the servers):
1. the site before its first certificate answers over HTTP and serves the challenges;
2. certbot's webroot method gets the certificate through that site (``--cert-name hello``);
3. the HTTPS site: the app over HTTPS with X-Forwarded-Proto https, HSTS, HTTP redirected except the
   challenges, TLS 1.2 and 1.3 only;
4. a forced renewal whose deploy hook tests and reloads nginx: nginx serves the new certificate.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ServerError, ServerLab
from tests.servers.acme import AcmeCA, certbot_certonly, start_pebble
from tests.servers.fixtures import server_lab, unavailable  # noqa: F401  (server_lab is a fixture)
from tests.integration.standin import start_echo
from tests.servers.machine import Server
from tests.integration.tls_site_checks import (NAME, ROOT_CA, check_redirect_spares_the_challenges, check_tls_version, client,
                                           force_renewal, served_serial)
from wsgideploy.commands.certificate import site_tls
from wsgideploy.layout import Layout
from wsgideploy.render import render_release_configs, template_context
from wsgideploy.settings import App, Tls

ROOT = "/srv/hello"
SOCKET = f"{ROOT}/shared/run/gunicorn.sock"
SITE = "/etc/nginx/sites-enabled/hello"


def hello_app(hsts: bool) -> App:
    return App(name="hello", source=Path("/nonexistent"), wsgi="app:app", root=ROOT, server_name=NAME,
               tls=Tls(mode="acme", email="ops@example.com", hsts=hsts))


def install_site(web: Server, https: bool) -> str:
    """Render the site as a deploy would and install it; nginx -t, then reload. Returns the site."""
    app = hello_app(hsts=True)
    context = template_context(app, Layout(ROOT), "20261204T000000Z", None, {}, https=https)
    site = render_release_configs(context)["nginx.conf"]
    web.run(f"cat > {SITE} && nginx -t -q && systemctl reload nginx", input=site)
    return site


@pytest.fixture(scope="module")
def servers(server_lab: ServerLab) -> Iterator[tuple[AcmeCA, Server]]:  # noqa: F811
    try:
        acme, web = server_lab.boot_servers(["acme", "web1"], fronts=["pebble", "nginx+certbot"])
    except ServerError as exc:
        unavailable(str(exc))
    ca = start_pebble(acme)
    ca.add_host(NAME, web.address)
    start_echo(web, SOCKET)
    paths = site_tls(hello_app(hsts=True))
    assert paths is not None and paths.challenge_dir
    web.run(f"install -d -m 0755 {paths.challenge_dir}")  # root's, readable by www-data
    yield ca, web


def test_before_its_certificate_the_site_serves_the_app_and_the_challenges_over_http(
        servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    site = install_site(web, https=False)
    assert "ssl" not in site
    answer = json.loads(client(ca, f"http://{NAME}/hello"))
    assert answer["path"] == "/hello" and answer["headers"]["X-Forwarded-Proto"] == "http"
    web.run("echo token-1 > /var/lib/wsgideploy/acme/hello/.well-known/acme-challenge/t1")
    assert client(ca, f"http://{NAME}/.well-known/acme-challenge/t1") == "token-1\n"


def test_certbot_gets_the_certificate_through_the_sites_own_challenge_location(
        servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    done = certbot_certonly(web, ca, [NAME], "/var/lib/wsgideploy/acme/hello", extra=["--cert-name", "hello"])
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\npebble:\n{ca.validations()}"
    log = web.run("cat /var/log/nginx/hello.access.log").stdout  # the site's own log, not the default site's
    assert f'{ca.server.address} - - ' in log and "GET /.well-known/acme-challenge/" in log and "Pebble-VA" in log
    assert web.run("test -s /etc/letsencrypt/live/hello/fullchain.pem && echo yes").stdout.strip() == "yes"


def test_the_https_site_serves_the_app_over_tls_and_tells_it_the_scheme(servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    install_site(web, https=True)
    ca.server.run(f"cat > {ROOT_CA}", input=ca.issuing_root())
    answer = json.loads(client(ca, f"https://{NAME}/hello"))
    assert answer["headers"]["X-Forwarded-Proto"] == "https"
    assert answer["headers"]["Host"] == NAME
    headers = client(ca, f"-D - -o /dev/null https://{NAME}/hello")
    assert "strict-transport-security: max-age=31536000" in headers.lower()


def test_http_redirects_to_https_but_serves_the_challenges(servers: tuple[AcmeCA, Server]) -> None:
    check_redirect_spares_the_challenges(servers[0])


@pytest.mark.parametrize("version, offered", [("tls1_1", False), ("tls1_2", True), ("tls1_3", True)])
def test_only_tls_1_2_and_1_3_are_offered(servers: tuple[AcmeCA, Server], version: str, offered: bool) -> None:
    # Measured: without ssl_protocols, Debian's nginx (its http block allows TLSv1 and TLSv1.1) fails such a
    # handshake too, but with "internal error" (alert 80: OpenSSL 3.0's security level finds nothing to
    # offer), not "protocol version" (alert 70): the alert shows that the site's own directive refused it.
    check_tls_version(*servers, version, offered)


def test_a_forced_renewal_reloads_nginx_through_its_deploy_hook(servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    live = force_renewal(web, "nginx -t -q && systemctl reload nginx")
    assert served_serial(ca, web) == live