"""wsgideploy's certbot script (tasks/commands/certbot.py, tasks/recipes/certbot.sh) on a booted Debian 12
server with Debian's nginx and certbot, against pebble on another server (tests/servers/acme.py).

The script apart from a deploy (test_https_deploy runs it in deploys): the test renders the nginx site
before the certificate as a deploy would, installs it by hand, and runs `certbot.obtain`'s script as root (``REQUESTS_CA_BUNDLE``
trusting pebble's listener). Then: a second run asks the CA for nothing, a name pebble cannot validate
fails with certbot's reason and leaves the certificate alone, and Debian's own ``certbot.service`` (what
``certbot.timer`` starts: ``certbot -q renew --no-random-sleep-on-renew``) renews it and runs the stored
deploy hook, which tests and reloads nginx: the new certificate is served with no deploy.
"""
from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ServerError, ServerLab
from tests.servers.acme import AcmeCA, start_pebble
from tests.servers.fixtures import server_lab, unavailable  # noqa: F401  (server_lab is a fixture)
from tests.servers.machine import Server
from wsgideploy.commands import certbot
from wsgideploy.layout import Layout
from wsgideploy.render import render_release_configs, template_context
from wsgideploy.settings import App, Nginx, Tls

from .tls_site_checks import requests_during

NAME = "hello.test"
LIVE = "/etc/letsencrypt/live/hello"
RENEWAL = "/etc/letsencrypt/renewal/hello.conf"


def hello_app(ca: AcmeCA, server_name: str = NAME) -> App:
    return App(name="hello", source=Path("/nonexistent"), wsgi="app:app", root="/srv/hello",
               server_name=server_name, tls=Tls(mode="acme", email="ops@example.com", directory=ca.directory))


def install_site(web: Server, app: App, https: bool) -> None:
    context = template_context(app, Layout(app.root), "20261204T000000Z", None, {}, https=https)
    web.run("cat > /etc/nginx/sites-enabled/hello && nginx -t -q && systemctl reload nginx",
            input=render_release_configs(context)["nginx.conf"])


def run_obtain(web: Server, ca: AcmeCA, app: App) -> tuple[int, str, str]:
    bundle = ca.trust_on(web)
    script = certbot.obtain(app, Nginx(), sudo=False)
    done = web.run(f"REQUESTS_CA_BUNDLE={shlex.quote(bundle)} bash -s", input=script, check=False, timeout=180)
    return done.returncode, done.stdout, done.stderr


def serial(server: Server, command: str) -> str:
    return server.run(f"{command} | openssl x509 -noout -serial").stdout.strip()


@pytest.fixture(scope="module")
def servers(server_lab: ServerLab) -> Iterator[tuple[AcmeCA, Server]]:  # noqa: F811
    try:
        acme, web = server_lab.boot_servers(["acme", "web1"], fronts=["pebble", "nginx+certbot"])
    except ServerError as exc:
        unavailable(str(exc))
    ca = start_pebble(acme)
    ca.add_host(NAME, web.address)
    yield ca, web


def test_obtain_gets_the_certificate_through_the_site_and_stores_the_deploy_hook(
        servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    app = hello_app(ca)
    install_site(web, app, https=False)
    code, out, err = run_obtain(web, ca, app)
    assert code == 0, out + err + ca.validations()
    assert "Successfully received certificate." in out
    renewal = web.run(f"cat {RENEWAL}").stdout
    assert f"renew_hook = {certbot.deploy_hook('nginx', Nginx())}" in renewal, renewal
    assert "authenticator = webroot" in renewal and "/var/lib/wsgideploy/acme/hello" in renewal


def test_a_second_obtain_asks_the_ca_for_nothing(servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    before = serial(web, f"cat {LIVE}/cert.pem")
    code, out, err = run_obtain(web, ca, hello_app(ca))
    assert code == 0, out + err
    assert "Certificate not yet due for renewal" in out
    assert serial(web, f"cat {LIVE}/cert.pem") == before


def test_a_name_the_ca_cannot_validate_fails_with_certbots_reason(servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    before = serial(web, f"cat {LIVE}/cert.pem")
    code, out, err = run_obtain(web, ca, hello_app(ca, server_name=f"{NAME} nowhere.test"))
    assert code == 1
    assert f"certbot could not get a certificate for {NAME} nowhere.test from {ca.directory}:" in err
    assert "Domain: nowhere.test" in err and "Type:   connection" in err and "lookup nowhere.test" in err
    assert serial(web, f"cat {LIVE}/cert.pem") == before, "a failed order leaves the certificate as it was"


def test_debians_certbot_service_renews_and_its_hook_reloads_nginx(servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    install_site(web, hello_app(ca), https=True)
    served = f"openssl s_client -connect 127.0.0.1:443 -servername {NAME} < /dev/null 2>/dev/null"
    before = serial(web, served)
    assert before == serial(web, f"cat {LIVE}/cert.pem")
    # Due now (pebble's certificates are valid 5 years: the key goes before [renewalparams], where certbot
    # ignores it), and the service trusts pebble's listener.
    web.run(f"sed -i '1i renew_before_expiry = 2000 days' {RENEWAL}")
    web.run("mkdir -p /etc/systemd/system/certbot.service.d && printf '[Service]\\nEnvironment="
            f"REQUESTS_CA_BUNDLE={ca.trust_on(web)}\\n' > /etc/systemd/system/certbot.service.d/pebble.conf"
            " && systemctl daemon-reload")
    done = web.run("systemctl start certbot.service", check=False, timeout=180)
    journal = web.run("journalctl -u certbot.service --no-pager -o cat", check=False).stdout
    assert done.returncode == 0, done.stderr + journal
    renewed = serial(web, f"cat {LIVE}/cert.pem")
    assert renewed != before and serial(web, served) == renewed, journal
    assert web.run(f"readlink {LIVE}/cert.pem").stdout.strip() == "../../archive/hello/cert2.pem"


def test_a_renewal_under_a_request_stream_fails_no_request(servers: tuple[AcmeCA, Server]) -> None:
    """Requests over HTTPS from ``acme`` (a new TLS connection each, trusting pebble's root only; nginx
    answers 404, there is no app behind this site) for 12 s while certbot.service renews and its hook
    reloads nginx: no connection, handshake or answer fails, and the new certificate is served."""
    ca, web = servers
    ca.server.run("cat > /root/pebble-root.pem", input=ca.issuing_root())
    before = serial(web, f"cat {LIVE}/cert.pem")
    # nginx answers 404 there (no app behind this site): only a failed connection or handshake counts
    counts = requests_during(ca, f"https://{NAME}/.well-known/x", 12,
                             lambda: web.run("sleep 2 && systemctl start certbot.service", timeout=120),
                             http_errors_fail=False, cacert="/root/pebble-root.pem")
    renewed = serial(web, f"cat {LIVE}/cert.pem")
    assert renewed != before, "certbot.service did not renew"
    assert counts["bad"] == 0 and counts["ok"] > 50, counts
    assert serial(web, f"openssl s_client -connect 127.0.0.1:443 -servername {NAME} < /dev/null 2>/dev/null") == renewed
    print(f"renewal under load: {counts['ok']} requests, {counts['bad']} failed")
