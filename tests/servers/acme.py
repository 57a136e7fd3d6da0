"""An ACME CA on the test bridge: Debian's ``pebble`` on a booted server of its own, for the HTTPS tests.

``ca = start_pebble(lab.boot_server("acme", front="pebble"))`` runs ``pebble.sh`` on that server: pebble as
the systemd unit ``pebble.service``, its directory at ``https://<address>:14000/dir`` (`AcmeCA.directory`)
with a listener certificate made there for the address (Debian's package ships no test certificates).
Validation is real: pebble fetches ``http://<name>/.well-known/acme-challenge/<token>`` on port 80 of the
address that its server's ``/etc/hosts`` gives the name (`AcmeCA.add_host`), because no DNS exists on the
bridge. A name it cannot resolve, or whose server does not serve the token, fails.

An app server trusts the directory's listener with `AcmeCA.trust_on` (the CA's PEM written there, for
``REQUESTS_CA_BUNDLE``), runs certbot (Debian's, from a ``<front>+certbot`` layer: `layers.TOOLS`) with
`certbot_certonly`, and checks what it got against `AcmeCA.issuing_root` (pebble makes a new root at each
start: ``/roots/0`` of the management port).

Measured here: see docs/test-servers.md ("ACME").
"""
from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .machine import Server

SCRIPT = Path(__file__).with_name("pebble.sh")
DIRECTORY_PORT = 14000
MANAGEMENT_PORT = 15000
LISTENER_CA = "/etc/pebble/listener-ca.pem"
TRUSTED_AT = "/etc/ssl/wsgideploy-tests/pebble-listener-ca.pem"


@dataclass(frozen=True)
class AcmeCA:
    """pebble running on `server`; `listener_ca` is the PEM of the CA of its HTTPS listeners."""

    server: Server
    listener_ca: str

    @property
    def directory(self) -> str:
        """The ACME directory URL (by address: names go to the proxy, and none resolves on the bridge)."""
        return f"https://{self.server.address}:{DIRECTORY_PORT}/dir"

    def add_host(self, name: str, address: str) -> None:
        """Make pebble resolve ``name`` to ``address`` (a line in its server's /etc/hosts)."""
        self.server.run(f"printf '%s\\t%s\\n' {shlex.quote(address)} {shlex.quote(name)} >> /etc/hosts")

    def issuing_root(self) -> str:
        """The PEM of the root that pebble's certificates chain to (new at each start of pebble)."""
        url = f"https://{self.server.address}:{MANAGEMENT_PORT}/roots/0"
        return self.server.run(f"curl -sSf --noproxy '*' --cacert {LISTENER_CA} {url}").stdout

    def trust_on(self, server: Server, path: str = TRUSTED_AT) -> str:
        """Write the listener CA to ``path`` on ``server`` (for ``REQUESTS_CA_BUNDLE``); return ``path``."""
        folder = shlex.quote(str(Path(path).parent))
        server.run(f"install -d -m 0755 {folder} && cat > {shlex.quote(path)}", input=self.listener_ca)
        return path

    def validations(self) -> str:
        """pebble's journal (its validations and their outcome), for failure messages."""
        return self.server.run("journalctl -u pebble.service --no-pager -o cat", check=False).stdout


def start_pebble(server: Server) -> AcmeCA:
    """Start pebble on ``server`` (booted over the ``pebble`` layer) and wait until its directory answers."""
    server.run(f"bash -s -- {shlex.quote(server.address)}", input=SCRIPT.read_text(), timeout=60)
    return AcmeCA(server=server, listener_ca=server.run(f"cat {LISTENER_CA}").stdout)


def certbot_certonly(server: Server, ca: AcmeCA, names: Sequence[str], webroot: str,
                     email: str = "admin@example.com", extra: Sequence[str] = (),
                     timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run certbot's webroot method on ``server`` for ``names`` against ``ca`` (its listener trusted);
    the certificate lands in /etc/letsencrypt/live/<first name>/. Does not raise: returns the result."""
    bundle = ca.trust_on(server)
    argv = ["certbot", "certonly", "--non-interactive", "--agree-tos", "--no-eff-email", "--email", email,
            "--server", ca.directory, "--webroot", "--webroot-path", webroot,
            *[arg for name in names for arg in ("-d", name)], *extra]
    command = f"REQUESTS_CA_BUNDLE={shlex.quote(bundle)} {shlex.join(argv)}"
    return server.run(command, check=False, timeout=timeout)
