"""Several hosts behind one name (docs/https.md, "Fleets"), on two booted Debian 12 servers with Debian's nginx.

files mode is the way that works for a fleet: the controller uploads the same certificate and key to every
host, and each host serves it and passes its health check over HTTPS. acme on several hosts behind one name
cannot work (the CA validates the name on whichever host it reaches): the stage is refused with exit 2
before any host is touched, naming files mode.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from tests.servers.deploy_target import DeployTarget
from tests.servers.fixtures import booted, server_lab  # noqa: F401  (server_lab is a fixture)

from .fabcli import EXAMPLE, fab
from .helpers import copy_app
from .test_https_deploy import make_ca_and_certificate

NAME = "www.fleet.test"


def served_serial(host: DeployTarget) -> str:
    return host.run(f"openssl s_client -connect 127.0.0.1:443 -servername {NAME} < /dev/null 2>/dev/null "
                    "| openssl x509 -noout -serial").strip()


def test_files_mode_serves_one_certificate_from_every_host_and_acme_is_refused(
        server_lab, write_inventory, tmp_path: Path) -> None:  # noqa: F811
    hosts = [target.with_app("fleet") for target in booted(server_lab, ["web1", "web2"], front="nginx")]
    source = copy_app(EXAMPLE, tmp_path / "app", version="1.0.0")
    keys = tmp_path / "keys"
    keys.mkdir()
    ca_file, chain, key = make_ca_and_certificate(keys, NAME)
    app = {**hosts[0].app_table(source), "server_name": NAME, "listen": 8098}
    tables = {host.alias: host.host_table() for host in hosts}

    acme = {"mode": "acme", "email": "ops@example.com"}
    refused = fab(write_inventory("test", app={**app, "tls": acme}, hosts=tables, nginx=hosts[0].front_table()),
                  "test", "deploy", expect=2)
    assert f'"acme" on several hosts behind one name ({NAME}: web1, web2)' in refused.stderr, refused.stderr
    assert not hosts[0].exists("releases") or hosts[0].listdir("releases") == []

    tls = {"mode": "files", "certificate": str(chain), "key": str(key), "ca": str(ca_file)}
    inventory = write_inventory("test", app={**app, "tls": tls}, hosts=tables, nginx=hosts[0].front_table())
    done = fab(inventory, "test", "deploy")
    out = done.stdout + done.stderr
    for host in hosts:
        assert f"[{host.alias}] key          ok" in out and f"[{host.alias}] health       ok" in out, out
    expected = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", str(chain)], check=True,
                              capture_output=True, text=True).stdout.strip()
    assert [served_serial(host) for host in hosts] == [expected, expected]
    assert hosts[0].live_release() == hosts[1].live_release(), "one release id for every host of a run"
