"""``[app.tls] mode = "files"`` on a booted Debian 12 server with Debian's nginx, with a CA that the test makes
with openssl.

The pieces apart from a deploy (test_https_deploy deploys files mode): the local files pass the loader's checks
(`tls.build_tls`), `certificate.install_file`'s scripts install them from standard input as root (the key
0600), the nginx site is rendered for files mode and installed by hand. A client that trusts the test's
CA only gets the site over HTTPS with HSTS and is redirected from HTTP; a client without it is refused. A
new pair of files replaces the served certificate at the next reload.
"""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from tests.servers import ServerError, ServerLab
from tests.servers.fixtures import server_lab, unavailable  # noqa: F401  (server_lab is a fixture)
from tests.integration.standin import start_echo
from tests.servers.machine import Server
from wsgideploy.commands.certificate import install_file
from wsgideploy.commands.https_check import https_check
from wsgideploy.layout import Layout
from wsgideploy.render import render_release_configs, template_context
from wsgideploy.settings import App
from wsgideploy.tls import build_tls

NAME = "hello.test"
CLIENT = f"curl -sS --noproxy '*' --resolve {NAME}:443:127.0.0.1 --resolve {NAME}:80:127.0.0.1"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(folder: Path) -> None:
    openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=wsgideploy tests: files-mode CA",
            cwd=folder)


def make_site_certificate(folder: Path, stem: str) -> None:
    """``<stem>.pem`` (the chain: the site's certificate, then the CA's) and ``<stem>.key``, for hello.test."""
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", f"/CN={NAME}", cwd=folder)
    (folder / f"{stem}.ext").write_text(f"subjectAltName=DNS:{NAME}\nbasicConstraints=critical,CA:FALSE\n"
                                        "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", f"{stem}.ext", "-out", f"{stem}.leaf.pem", cwd=folder)
    (folder / f"{stem}.pem").write_bytes((folder / f"{stem}.leaf.pem").read_bytes() + (folder / "ca.pem").read_bytes())


def files_app(folder: Path, stem: str) -> App:
    """The app with ``[app.tls]`` built by the loader's own rules from the local files (they must pass)."""
    def error(key: str, problem: str) -> Exception:
        return AssertionError(f"app.{key}: {problem}")
    tls = build_tls({"mode": "files", "certificate": f"{stem}.pem", "key": f"{stem}.key", "hsts": True},
                    server_name=NAME, listen=80, base=folder, error=error)
    return App(name="hello", source=Path("/nonexistent"), wsgi="app:app", root="/srv/hello", server_name=NAME,
               tls=tls)


def upload(web: Server, app: App) -> None:
    """What a deploy would do: each file on standard input of `install_file`'s script."""
    assert app.tls is not None and app.tls.certificate is not None and app.tls.key is not None
    for which, path in (("certificate", app.tls.certificate), ("key", app.tls.key)):
        web.run(f"bash -c {shlex.quote(install_file(app, which, sudo=False))}", input=path.read_text())


@pytest.fixture(scope="module")
def web(server_lab: ServerLab, tmp_path_factory: pytest.TempPathFactory) -> Server:  # noqa: F811
    try:
        server = server_lab.boot_server("web1", front="nginx")
    except ServerError as exc:
        unavailable(str(exc))
    start_echo(server, "/srv/hello/shared/run/gunicorn.sock")
    return server


@pytest.fixture(scope="module")
def local_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("files-mode")
    make_ca(folder)
    make_site_certificate(folder, "site")
    return folder


def served_serial(web: Server) -> str:
    return web.run(f"openssl s_client -connect 127.0.0.1:443 -servername {NAME} < /dev/null 2>/dev/null "
                   "| openssl x509 -noout -serial").stdout.strip()


def test_the_files_are_installed_as_root_with_the_key_0600(web: Server, local_files: Path) -> None:
    upload(web, files_app(local_files, "site"))
    modes = web.run("stat -c '%n %U:%G %a' /etc/ssl/wsgideploy/hello/fullchain.pem "
                    "/etc/ssl/wsgideploy/hello/privkey.pem").stdout.splitlines()
    assert modes == ["/etc/ssl/wsgideploy/hello/fullchain.pem root:root 644",
                     "/etc/ssl/wsgideploy/hello/privkey.pem root:root 600"]
    assert web.run("cat /etc/ssl/wsgideploy/hello/privkey.pem").stdout == (local_files / "site.key").read_text()
    assert web.run("ls /etc/ssl/wsgideploy/hello").stdout.split() == ["fullchain.pem", "privkey.pem"]


def test_nginx_serves_the_files_to_a_client_that_trusts_the_tests_ca(web: Server, local_files: Path) -> None:
    app = files_app(local_files, "site")
    context = template_context(app, Layout(app.root), "20261204T000000Z", None, {})
    web.run("cat > /etc/nginx/sites-enabled/hello && nginx -t -q && systemctl reload nginx",
            input=render_release_configs(context)["nginx.conf"])
    web.run("cat > /root/files-ca.pem", input=(local_files / "ca.pem").read_text())
    headers = web.run(f"{CLIENT} --cacert /root/files-ca.pem -D - -o /dev/null https://{NAME}/").stdout
    assert headers.startswith("HTTP/1.1 200")
    assert "strict-transport-security: max-age=31536000" in headers.lower()
    refused = web.run(f"{CLIENT} -o /dev/null https://{NAME}/", check=False)
    assert refused.returncode == 60, "a client without the test's CA must refuse the certificate"
    redirect = web.run(f"{CLIENT} -D - -o /dev/null 'http://{NAME}/a?b=1'").stdout
    assert redirect.startswith("HTTP/1.1 301") and f"Location: https://{NAME}/a?b=1" in redirect


def test_the_https_health_check_verifies_the_site_and_reports_the_days_left(web: Server, local_files: Path) -> None:
    ca = (local_files / "ca.pem").read_text()
    done = web.run(https_check(443, "/", NAME, 200, 10, ca_pem=ca), check=False)
    assert done.returncode == 0, done.stderr
    assert "wsgideploy-fact:status=200" in done.stdout
    assert "wsgideploy-fact:tls_days_left=1" in done.stdout  # openssl -days 2, made moments ago
    wrong = web.run(https_check(443, "/", "other.test", 200, 10, ca_pem=ca), check=False)
    assert wrong.returncode == 1 and "TLS: Hostname mismatch" in wrong.stderr
    untrusted = web.run(https_check(443, "/", NAME, 200, 10), check=False)
    assert untrusted.returncode == 1 and "TLS: self-signed certificate in certificate chain" in untrusted.stderr


def test_new_files_replace_the_served_certificate_at_the_next_reload(web: Server, local_files: Path) -> None:
    before = served_serial(web)
    make_site_certificate(local_files, "renewed")
    upload(web, files_app(local_files, "renewed"))
    web.run("nginx -t -q && systemctl reload nginx")
    renewed = web.run("openssl x509 -noout -serial -in /etc/ssl/wsgideploy/hello/fullchain.pem").stdout.strip()
    assert renewed != before and served_serial(web) == renewed
