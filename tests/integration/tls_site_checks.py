"""What the three TLS site modules (test_tls_{nginx,apache,lighttpd}_site.py) check the same way, from the
``acme`` server (pebble resolves ``hello.test`` there) with pebble's issuing root as the clients' only trust:
the redirect that spares the challenges, the TLS versions offered, the served certificate's serial, and a
forced renewal through a deploy hook."""
from __future__ import annotations

import shlex
from collections.abc import Callable

from tests.servers.acme import TRUSTED_AT, AcmeCA
from tests.servers.machine import Server

NAME = "hello.test"
ROOT_CA = "/root/pebble-root.pem"  # on acme: pebble's issuing root, the clients' only trust


def client(ca: AcmeCA, arguments: str, check: bool = True) -> str:
    """curl on ``acme``, trusting pebble's root only; stdout."""
    return ca.server.run(f"curl -sS --noproxy '*' --cacert {ROOT_CA} {arguments}", check=check).stdout


def check_redirect_spares_the_challenges(ca: AcmeCA) -> None:
    """HTTP answers 301 to the same path and query over HTTPS, except the challenge (token ``t1``)."""
    headers = client(ca, f"-D - -o /dev/null 'http://{NAME}/some/path?q=1'")
    assert headers.startswith("HTTP/1.1 301"), headers
    assert f"Location: https://{NAME}/some/path?q=1" in headers, headers
    assert client(ca, f"http://{NAME}/.well-known/acme-challenge/t1") == "token-1\n"


def check_tls_version(ca: AcmeCA, web: Server, version: str, offered: bool) -> None:
    """A handshake with ``version`` only (``tls1_1``...) succeeds exactly when ``offered``; a refusal is the
    site's own (``protocol version``). SECLEVEL=0: the client itself would refuse TLS 1.1 at Debian's default
    security level."""
    done = ca.server.run(f"openssl s_client -connect {web.address}:443 -servername {NAME} -{version} "
                         f"-cipher DEFAULT@SECLEVEL=0 < /dev/null", check=False, timeout=30)
    output = done.stdout[-800:] + done.stderr[-800:]
    assert (done.returncode == 0) == offered, output
    if not offered:
        assert "alert protocol version" in output, output


def served_serial(ca: AcmeCA, web: Server) -> str:
    """The serial of the certificate served on 443 for the name ("" when no handshake succeeds)."""
    return ca.server.run(f"openssl s_client -connect {web.address}:443 -servername {NAME} < /dev/null "
                         "2>/dev/null | openssl x509 -noout -serial", check=False).stdout.strip()


def force_renewal(web: Server, hook: str = "") -> str:
    """``certbot renew --force-renewal`` of ``hello`` on ``web`` (with ``hook`` as its deploy hook, else the
    stored one); the serial of the new certificate, which differs from the one before."""
    live = "openssl x509 -noout -serial -in /etc/letsencrypt/live/hello/cert.pem"
    before = web.run(live).stdout.strip()
    done = web.run(f"REQUESTS_CA_BUNDLE={TRUSTED_AT} certbot renew --non-interactive --force-renewal "
                   "--no-random-sleep-on-renew --cert-name hello"
                   + (f" --deploy-hook {shlex.quote(hook)}" if hook else ""), check=False, timeout=120)
    assert done.returncode == 0, f"{done.stdout}{done.stderr}"
    renewed = web.run(live).stdout.strip()
    assert renewed != before, "certbot did not renew"
    return renewed


def requests_during(ca: AcmeCA, url: str, seconds: int, action: Callable[[], object], http_errors_fail: bool = True,
                    cacert: str = ROOT_CA) -> dict[str, int]:
    """GETs of ``url`` from ``acme``, a new connection each, trusting ``cacert`` only, for ``seconds`` (a stream
    that ends by itself), while ``action`` runs here; the counts of ``ok`` and ``bad`` requests (with
    ``http_errors_fail``, an HTTP error status is bad too)."""
    curl = f"curl -s{'f' if http_errors_fail else ''} --noproxy '*' --cacert {cacert} -o /dev/null {shlex.quote(url)}"
    stream = (f"ok=0; bad=0; end=$((SECONDS+{seconds})); while [ $SECONDS -lt $end ]; do "
              f"if {curl}; then ok=$((ok+1)); else bad=$((bad+1)); fi; done; echo \"ok=$ok bad=$bad\"")
    ca.server.run(f"rm -f /root/stream.txt; setsid bash -c {shlex.quote(stream)} > /root/stream.txt 2>&1 < /dev/null &")
    action()
    ca.server.run("for i in $(seq 300); do grep -q ok= /root/stream.txt && exit 0; sleep 0.1; done; exit 1",
                  timeout=60)
    return {key: int(value) for key, value in
            (item.split("=") for item in ca.server.run("cat /root/stream.txt").stdout.split())}
