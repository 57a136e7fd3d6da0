"""wsgideploy's Apache TLS site (templates/apache/site.conf.j2 with ``[app.tls]``) on Debian's Apache 2.4, with
a certificate that certbot gets from pebble through the site's own challenge Alias.

As in test_tls_nginx_site, apart from the deploy steps (test_https_deploy), the site is rendered with wsgideploy's own
`render_release_configs` and installed by hand. The app is a stand-in for the ``cgi`` mode: a Python CGI
script at the path the site's ScriptAlias names, answering with its CGI environment as JSON (the app runs
inside Apache: the scheme reaches it as ``HTTPS``, not as a header).

Servers: ``acme`` (pebble) and ``web1`` (``apache2+certbot``: Debian's apache2, mod_wsgi, mod_fcgid, certbot;
mod_ssl is not enabled there, the site loads it). Steps in order, as in the nginx module, plus the
question the deploy steps must answer: which ``Listen`` the HTTPS port needs on a stock Debian Apache.
"""
from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ServerError, ServerLab
from tests.servers.acme import TRUSTED_AT, AcmeCA, certbot_certonly, start_pebble
from tests.servers.fixtures import server_lab, unavailable  # noqa: F401  (server_lab is a fixture)
from tests.servers.machine import Server
from tests.integration.tls_site_checks import (NAME, ROOT_CA, check_redirect_spares_the_challenges, check_tls_version, client,
                                           force_renewal, requests_during, served_serial)
from wsgideploy.layout import Layout
from wsgideploy.render import render_release_configs, template_context
from wsgideploy.settings import App, Tls

ROOT = "/srv/hello"
SITE = "/etc/apache2/sites-enabled/hello.conf"
LISTEN_FILE = "/etc/apache2/conf-enabled/wsgideploy-hello.conf"
CGI_APP = """\
#!/usr/bin/python3
import json, os
keys = ("HTTPS", "REQUEST_SCHEME", "SERVER_NAME", "SERVER_PORT", "PATH_INFO", "QUERY_STRING")
print("Content-Type: application/json")
print()
print(json.dumps({key: os.environ.get(key) for key in keys}))
"""


def install_site(web: Server, https: bool) -> str:
    """Render the cgi site as a deploy would, with its Listen file; apache2ctl -t, then restart: each
    install loads modules Apache did not run (cgi, then ssl, rewrite, headers), and apache.sh restarts
    then too (restart_reason: measured here, a graceful reload after mod_cgid's LoadModule answers 503)."""
    app = App(name="hello", source=Path("/nonexistent"), wsgi="app:app", root=ROOT, server="cgi",
              proxy="apache", server_name=NAME, tls=Tls(mode="acme", email="ops@example.com", hsts=True))
    context = template_context(app, Layout(ROOT), "20261204T000000Z", None, {}, "root", "root", https=https)
    site = render_release_configs(context)["apache.conf"]
    # ports.conf listens on 80; its "Listen 443" is inside <IfModule ssl_module>, which is false when
    # ports.conf is read (mod_ssl is not enabled; the site loads it later): the site's file adds it.
    listen = "Listen 443\n" if https else ""
    web.run(f"printf %s {shlex.quote(listen)} > {LISTEN_FILE} && cat > {SITE} && apache2ctl -t && "
            "systemctl restart apache2", input=site)
    return site


@pytest.fixture(scope="module")
def servers(server_lab: ServerLab) -> Iterator[tuple[AcmeCA, Server]]:  # noqa: F811
    try:
        acme, web = server_lab.boot_servers(["acme", "web1"], fronts=["pebble", "apache2+certbot"])
    except ServerError as exc:
        unavailable(str(exc))
    ca = start_pebble(acme)
    ca.add_host(NAME, web.address)
    script = f"{ROOT}/current/.wsgideploy/app.cgi"
    web.run(f"install -d {ROOT}/current/.wsgideploy && cat > {script} && chmod 0755 {script}", input=CGI_APP)
    web.run("install -d -m 0755 /var/lib/wsgideploy/acme/hello/.well-known/acme-challenge")
    yield ca, web


def test_before_its_certificate_the_site_serves_the_app_and_the_challenges_over_http(
        servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    install_site(web, https=False)
    answer = json.loads(client(ca, f"'http://{NAME}/hello?x=1'"))
    assert answer["PATH_INFO"] == "/hello" and answer["HTTPS"] is None and answer["REQUEST_SCHEME"] == "http"
    web.run("echo token-1 > /var/lib/wsgideploy/acme/hello/.well-known/acme-challenge/t1")
    assert client(ca, f"http://{NAME}/.well-known/acme-challenge/t1") == "token-1\n"


def test_certbot_gets_the_certificate_through_the_sites_own_challenge_alias(
        servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    done = certbot_certonly(web, ca, [NAME], "/var/lib/wsgideploy/acme/hello", extra=["--cert-name", "hello"])
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\npebble:\n{ca.validations()}"
    log = web.run("cat /var/log/apache2/hello.access.log").stdout
    assert f"{ca.server.address} - - " in log and "GET /.well-known/acme-challenge/" in log and "Pebble-VA" in log


def test_the_https_site_runs_the_app_with_https_on_and_sends_hsts(servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    install_site(web, https=True)
    ca.server.run(f"cat > {ROOT_CA}", input=ca.issuing_root())
    answer = json.loads(client(ca, f"'https://{NAME}/hello?x=1'"))
    assert (answer["HTTPS"], answer["REQUEST_SCHEME"], answer["SERVER_PORT"]) == ("on", "https", "443")
    assert answer["PATH_INFO"] == "/hello" and answer["QUERY_STRING"] == "x=1"
    headers = client(ca, f"-D - -o /dev/null https://{NAME}/hello")
    assert "strict-transport-security: max-age=31536000" in headers.lower()


def test_http_redirects_to_https_but_serves_the_challenges(servers: tuple[AcmeCA, Server]) -> None:
    check_redirect_spares_the_challenges(servers[0])


@pytest.mark.parametrize("version, offered", [("tls1_1", False), ("tls1_2", True), ("tls1_3", True)])
def test_only_tls_1_2_and_1_3_are_offered(servers: tuple[AcmeCA, Server], version: str, offered: bool) -> None:
    check_tls_version(*servers, version, offered)


def test_a_forced_renewal_reloads_apache_through_its_deploy_hook(servers: tuple[AcmeCA, Server]) -> None:
    ca, web = servers
    live = force_renewal(web, "apache2ctl -t && systemctl reload apache2")
    assert served_serial(ca, web) == live


def test_the_site_runs_cgi_without_a_daemon_so_graceful_reloads_fail_no_request(
        servers: tuple[AcmeCA, Server]) -> None:
    """The site loads mod_cgi, not mod_cgid: every graceful reload restarts mod_cgid's daemon, and a CGI
    request that reached it meanwhile answered 503 (CI: 1 of 224 requests in the renewal below; 3 of 120
    reloads on a booted server). 20 graceful reloads, one a second, under a stream of HTTPS requests from
    ``acme``: none fails."""
    ca, web = servers
    modules = [line.split()[0] for line in web.run("apache2ctl -M 2>/dev/null").stdout.splitlines()[1:]]
    assert "cgi_module" in modules and "cgid_module" not in modules, modules
    def reloads() -> None:
        web.run("sleep 1; for i in $(seq 20); do systemctl reload apache2; sleep 1; done", timeout=120)
    counts = requests_during(ca, f"https://{NAME}/hello", 23, reloads)
    assert counts["bad"] == 0 and counts["ok"] > 40, counts
    print(f"apache graceful reloads under load: {counts['ok']} requests, {counts['bad']} failed")


def test_a_renewal_under_a_request_stream_fails_no_request(servers: tuple[AcmeCA, Server]) -> None:
    """Requests to the app over HTTPS from ``acme`` (a new TLS connection each) for 12 s while a forced
    renewal's deploy hook tests and gracefully reloads Apache: none fails."""
    ca, web = servers
    hook = "apache2ctl -t && systemctl reload apache2"
    def renew() -> None:
        web.run(f"sleep 2 && REQUESTS_CA_BUNDLE={TRUSTED_AT} certbot renew --non-interactive --force-renewal "
                f"--no-random-sleep-on-renew --cert-name hello --deploy-hook {shlex.quote(hook)}", timeout=120)
    counts = requests_during(ca, f"https://{NAME}/hello", 12, renew)
    assert counts["bad"] == 0 and counts["ok"] > 20, counts
    print(f"apache renewal under load: {counts['ok']} requests, {counts['bad']} failed")
