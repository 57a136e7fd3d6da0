"""The ACME lab (tests/servers/acme.py): Debian's pebble on one booted server, certbot on another, for real.

Two servers boot in parallel on the session's bridge: ``acme`` over the ``pebble`` layer (Debian's
pebble 2.4.0) and ``web1`` over ``nginx+certbot`` (Debian's nginx with its default site, certbot 2.1.0).
pebble validates http-01 for real: it resolves the name through its server's /etc/hosts and fetches the
token from nginx on port 80 of ``web1`` (no ``PEBBLE_VA_ALWAYS_VALID``); a name it cannot resolve fails.
The certificate is checked against the root that pebble made at its start, and served by nginx on 443 to
a client that trusts only that root. This is the lab's proof; wsgideploy's own ``[app.tls]`` comes later.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

import pytest

from tests.servers import ServerError, ServerLab
from tests.servers.acme import TRUSTED_AT, AcmeCA, certbot_certonly, start_pebble
from tests.servers.fixtures import server_lab, unavailable  # noqa: F401  (server_lab is a fixture)
from tests.servers.machine import Server

NAME = "hello.test"
WEBROOT = "/var/www/html"  # Debian's default site: it answers port 80 for every name
LIVE = f"/etc/letsencrypt/live/{NAME}"


@pytest.fixture(scope="module")
def servers(server_lab: ServerLab) -> Iterator[tuple[AcmeCA, Server]]:  # noqa: F811
    """pebble started on ``acme``; ``web1`` with nginx and certbot; ``hello.test`` leads pebble to ``web1``."""
    try:
        acme, web = server_lab.boot_servers(["acme", "web1"], fronts=["pebble", "nginx+certbot"])
    except ServerError as exc:
        unavailable(str(exc))
    ca = start_pebble(acme)
    ca.add_host(NAME, web.address)
    yield ca, web


def certificate_text(server: Server, path: str) -> str:
    return server.run(f"openssl x509 -noout -text -in {shlex.quote(path)}").stdout


def serial(server: Server, path: str) -> str:
    return server.run(f"openssl x509 -noout -serial -in {shlex.quote(path)}").stdout.strip()


def test_pebble_serves_its_directory_to_a_client_that_trusts_its_listener_ca(
        servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    ca.trust_on(web)
    directory = web.run(f"curl -sSf --cacert {TRUSTED_AT} {ca.directory}").stdout
    assert '"newOrder"' in directory and '"newAccount"' in directory
    untrusted = web.run(f"curl -sS {ca.directory}", check=False)
    assert untrusted.returncode == 60, "the listener's CA is private: the system's CAs must not verify it"


def test_certbot_gets_a_certificate_by_http01_validated_against_nginx(servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    done = certbot_certonly(web, ca, [NAME], WEBROOT)
    assert done.returncode == 0, f"certbot failed:\n{done.stdout}{done.stderr}\npebble:\n{ca.validations()}"
    assert "Successfully received certificate" in done.stdout
    assert "DNS:hello.test" in certificate_text(web, f"{LIVE}/cert.pem")
    # pebble itself fetched the token from nginx, from its own address: the validation was real.
    log = web.run("cat /var/log/nginx/access.log").stdout
    fetched = [line for line in log.splitlines() if "/.well-known/acme-challenge/" in line]
    assert fetched and all(line.startswith(f"{ca.server.address} ") for line in fetched), log
    assert all('" 200 ' in line and "Pebble-VA" in line for line in fetched), log


def test_the_chain_verifies_against_the_root_pebble_made_at_its_start(servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    web.run("cat > /root/pebble-root.pem", input=ca.issuing_root())
    verified = web.run(f"openssl verify -CAfile /root/pebble-root.pem -untrusted {LIVE}/chain.pem "
                       f"{LIVE}/cert.pem").stdout
    assert verified.strip() == f"{LIVE}/cert.pem: OK"


def test_nginx_serves_the_certificate_to_a_client_that_trusts_only_pebbles_root(
        servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    site = (f"server {{ listen 443 ssl; server_name {NAME}; ssl_certificate {LIVE}/fullchain.pem;\n"
            f"  ssl_certificate_key {LIVE}/privkey.pem; ssl_protocols TLSv1.2 TLSv1.3;\n"
            f"  location / {{ return 200 'tls ok\\n'; }} }}\n")
    web.run("cat > /etc/nginx/sites-enabled/acme-lab && nginx -t -q && systemctl reload nginx", input=site)
    acme = ca.server
    acme.run("cat > /root/pebble-root.pem", input=ca.issuing_root())
    answer = acme.run(f"curl -sS --noproxy '*' --cacert /root/pebble-root.pem https://{NAME}/").stdout
    assert answer == "tls ok\n"  # SNI, name and chain verified by curl against pebble's root alone


def test_a_forced_renewal_gets_a_new_certificate_from_the_renewal_config(
        servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    before = serial(web, f"{LIVE}/cert.pem")
    conf = web.run(f"cat /etc/letsencrypt/renewal/{NAME}.conf").stdout
    assert f"server = {ca.directory}" in conf and "authenticator = webroot" in conf, conf
    # Without a terminal, certbot renew first sleeps a random time of up to 8 minutes (measured: the
    # test timed out at 120 s): --no-random-sleep-on-renew.
    done = web.run(f"REQUESTS_CA_BUNDLE={TRUSTED_AT} certbot renew --non-interactive --force-renewal "
                   f"--no-random-sleep-on-renew --cert-name {NAME}", check=False, timeout=120)
    assert done.returncode == 0, f"{done.stdout}{done.stderr}"
    assert serial(web, f"{LIVE}/cert.pem") != before
    assert web.run(f"readlink {LIVE}/cert.pem").stdout.strip() == f"../../archive/{NAME}/cert2.pem"


def test_a_name_pebble_cannot_resolve_fails_with_the_cas_reason(servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    done = certbot_certonly(web, ca, ["nowhere.test"], WEBROOT)
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert "Some challenges have failed" in output
    assert re.search(r"Domain: nowhere\.test\s+Type:\s+connection", output), output
    assert "lookup nowhere.test" in output  # pebble's own reason, passed on by certbot
    assert web.run("test -e /etc/letsencrypt/live/nowhere.test", check=False).returncode == 1
