"""``[app.tls]``: every refused setting as one table of cases (exit 2 before any host is touched), then
the good paths.

Each case is the ``[app.tls]`` table (and ``[app]`` keys beside it) as TOML, the key path the error must
name and a fragment of its message. Its stage file is ``<tmp>/inventories/production.toml`` beside
``src/`` and PEM files made once for the module: ``site.pem`` (a certificate for example.com) with
``site.key``, ``other.key`` (another key), ``chain-ca-first.pem`` (the CA before the site's certificate),
``encrypted.key`` and ``garbage.pem``. Behind a front server whose deploys do not serve HTTPS (none today:
tls.DEPLOYED_FRONTS) a valid table is refused, never ignored; one test checks that refusal.
"""
from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wsgideploy import tls
from wsgideploy.inventory import InventoryError, load_stage
from wsgideploy.settings import LETS_ENCRYPT, Tls

APP = '[app]\nname = "hello"\nsource = "src"\nwsgi = "app:app"\nroot = "/srv/hello"\n'
NAMED = 'server_name = "example.com www.example.com"\n'
ACME = '[app.tls]\nmode = "acme"\nemail = "ops@example.com"\n'
FILES = '[app.tls]\nmode = "files"\ncertificate = "site.pem"\nkey = "site.key"\n'


def stage(app_keys: str = "", tls_table: str = "", rest: str = "") -> str:
    return APP + app_keys + tls_table + rest


ERROR_CASES = [
    # (id, stage text, key path, message fragment)
    ("tls not a table", stage('tls = "acme"\n'), "app.tls", "must be a table, not str"),
    ("mode missing", stage(NAMED, '[app.tls]\nemail = "ops@example.com"\n'), "app.tls.mode", "is required"),
    ("mode unknown", stage(NAMED, '[app.tls]\nmode = "manual"\n'), "app.tls.mode",
     "must be one of 'acme', 'files', not 'manual'"),
    ("unknown key suggests hsts", stage(NAMED, ACME + "hst = true\n"), "app.tls.hst", "did you mean 'hsts'?"),
    ("hsts not a boolean", stage(NAMED, ACME + 'hsts = "yes"\n'), "app.tls.hsts", "must be true or false"),
    ("port 0", stage(NAMED, ACME + "port = 0\n"), "app.tls.port", "must be between 1 and 65535, not 0"),
    ("port is listen", stage(NAMED + "listen = 8443\n", ACME + "port = 8443\n"), "app.tls.port",
     "is 8443, the port of app.listen too"),
    ("port 80 is the default listen", stage(NAMED, ACME + "port = 80\n"), "app.tls.port", "app.listen too"),
    ("acme without email", stage(NAMED, '[app.tls]\nmode = "acme"\n'), "app.tls.email",
     'is required in mode = "acme"'),
    ("acme email without a domain", stage(NAMED, '[app.tls]\nmode = "acme"\nemail = "ops"\n'), "app.tls.email",
     "must be an email address, not 'ops'"),
    ("acme directory over http", stage(NAMED, ACME + 'directory = "http://ca.example.com/dir"\n'),
     "app.tls.directory", "must be an https:// URL"),
    ("acme without server_name: the catch-all", stage("", ACME), "app.server_name",
     "is '_', the catch-all (also the default)"),
    ("acme with _ among names", stage('server_name = "example.com _"\n', ACME), "app.server_name", "is '_'"),
    ("acme with an IPv4 address", stage('server_name = "203.0.113.5"\n', ACME), "app.server_name",
     "has '203.0.113.5': [app.tls] mode = \"acme\" certifies DNS names only"),
    ("acme with an IPv6 address", stage('server_name = "2001:db8::5"\n', ACME), "app.server_name",
     "has '2001:db8::5'"),
    ("acme with a wildcard", stage('server_name = "*.example.com"\n', ACME), "app.server_name",
     "has '*.example.com'"),
    ("acme with a leading dot", stage('server_name = ".example.com"\n', ACME), "app.server_name",
     "has '.example.com'"),
    ("acme with a regex", stage('server_name = "~^www[0-9]+$"\n', ACME), "app.server_name", "has '~^www"),
    ("acme with a certificate", stage(NAMED, ACME + 'certificate = "site.pem"\n'), "app.tls.certificate",
     'belongs to mode = "files", not mode = "acme"'),
    ("files without certificate", stage("", '[app.tls]\nmode = "files"\nkey = "site.key"\n'),
     "app.tls.certificate", 'is required in mode = "files"'),
    ("files without key", stage("", '[app.tls]\nmode = "files"\ncertificate = "site.pem"\n'), "app.tls.key",
     'is required in mode = "files"'),
    ("files with email", stage("", FILES + 'email = "ops@example.com"\n'), "app.tls.email",
     'belongs to mode = "acme", not mode = "files"'),
    ("files certificate missing", stage("", FILES.replace("site.pem", "gone.pem")), "app.tls.certificate",
     "is not a local file: {dir}/gone.pem"),
    ("files key missing", stage("", FILES.replace("site.key", "gone.key")), "app.tls.key",
     "is not a local file: {dir}/gone.key"),
    ("files certificate is a folder", stage("", FILES.replace("site.pem", "src")), "app.tls.certificate",
     "is not a local file: {dir}/src"),
    ("files certificate not PEM", stage("", FILES.replace("site.pem", "garbage.pem")), "app.tls.certificate",
     "{dir}/garbage.pem holds no PEM certificate"),
    ("files key not PEM", stage("", FILES.replace("site.key", "garbage.pem")), "app.tls.key",
     "{dir}/garbage.pem holds no unencrypted PEM private key"),
    ("files key encrypted", stage("", FILES.replace("site.key", "encrypted.key")), "app.tls.key",
     "{dir}/encrypted.key holds no unencrypted PEM private key"),
    ("files key of another certificate", stage("", FILES.replace("site.key", "other.key")), "app.tls.key",
     "{dir}/other.key is not the key of the certificate {dir}/site.pem"),
    ("files chain with the CA first", stage("", FILES.replace("site.pem", "chain-ca-first.pem")), "app.tls.key",
     "the site's certificate must come first"),
    ("ca missing", stage(NAMED, ACME + 'ca = "private-ca.pem"\n'), "app.tls.ca",
     "is not a local file: {dir}/private-ca.pem"),
    ("ca not PEM", stage(NAMED, ACME + 'ca = "garbage.pem"\n'), "app.tls.ca", "holds no PEM certificate"),
    ("a host's own server_name breaks the stage's acme",
     stage(NAMED, ACME, '[hosts.web1]\nhostname = "web1.example.com"\napp = { server_name = "192.0.2.5" }\n'),
     "hosts.web1.app.server_name", "has '192.0.2.5'"),
    ("a host's tls table is merged, then checked",
     stage(NAMED, ACME, '[hosts.web1]\nhostname = "w.example.com"\n[hosts.web1.app.tls]\nmode = "files"\n'),
     "hosts.web1.app.tls.email", 'belongs to mode = "acme", not mode = "files" (tls.email is inherited from [app])'),
    ("a host's tls key misspelt", stage(NAMED, ACME, '[hosts.web1]\nhostname = "w.example.com"\n'
                                        '[hosts.web1.app.tls]\nhtss = true\n'),
     "hosts.web1.app.tls.htss", "did you mean 'hsts'?"),
]


def make_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
                     issuer_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(issuer_key, hashes.SHA256()))


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The PEM files of the cases, by name (made once: key generation is the slow part)."""
    ca_key, site_key = make_key(), make_key()
    ca = make_certificate("test CA", ca_key, "test CA", ca_key)
    site = make_certificate("example.com", site_key, "test CA", ca_key)
    return {"site.pem": pem(site) + pem(ca), "site.key": key_pem(site_key), "other.key": key_pem(make_key()),
            "chain-ca-first.pem": pem(ca) + pem(site), "encrypted.key": key_pem(site_key, b"secret"),
            "garbage.pem": b"-----BEGIN CERTIFICATE-----\nnot base64\n", "ca.pem": pem(ca)}


@pytest.fixture
def inventory_dir(tmp_path: Path, pem_files: dict[str, bytes]) -> Path:
    directory = tmp_path / "inventories"
    (directory / "src").mkdir(parents=True)
    for name, data in pem_files.items():
        (directory / name).write_bytes(data)
    return directory


def load(directory: Path, text: str):  # type: ignore[no-untyped-def]
    path = directory / "production.toml"
    path.write_text(text)
    return load_stage(path)


@pytest.mark.parametrize("text, key, fragment", [pytest.param(*case[1:], id=case[0]) for case in ERROR_CASES])
def test_a_refused_tls_setting_names_the_file_the_key_and_the_problem(inventory_dir: Path, text: str, key: str,
                                                                     fragment: str) -> None:
    with pytest.raises(InventoryError) as caught:
        load(inventory_dir, text)
    assert (caught.value.path, caught.value.key) == (str(inventory_dir / "production.toml"), key)
    assert fragment.format(dir=inventory_dir) in str(caught.value)


def test_acme_takes_lets_encrypt_port_443_and_no_hsts_by_default(inventory_dir: Path) -> None:
    app = load(inventory_dir, stage(NAMED, ACME)).app
    assert app.tls == Tls(mode="acme", email="ops@example.com", directory=LETS_ENCRYPT, port=443, hsts=False)


def test_acme_with_every_key(inventory_dir: Path) -> None:
    text = stage(NAMED, ACME + 'directory = "https://192.0.2.2:14000/dir"\nport = 8443\nhsts = true\n'
                 'ca = "ca.pem"\n')
    assert load(inventory_dir, text).app.tls == Tls(
        mode="acme", email="ops@example.com", directory="https://192.0.2.2:14000/dir", port=8443, hsts=True,
        ca=inventory_dir / "ca.pem")


def test_files_mode_resolves_the_files_against_the_stage_file_and_needs_no_name(inventory_dir: Path) -> None:
    tls_settings = load(inventory_dir, stage("", FILES)).app.tls
    assert tls_settings == Tls(mode="files", certificate=inventory_dir / "site.pem", key=inventory_dir / "site.key")


def test_files_mode_takes_absolute_paths(inventory_dir: Path) -> None:
    text = stage("", FILES.replace('"site.pem"', f'"{inventory_dir}/site.pem"'))
    assert load(inventory_dir, text).app.tls.certificate == inventory_dir / "site.pem"


def test_no_tls_table_is_http_only(inventory_dir: Path) -> None:
    assert load(inventory_dir, stage(NAMED)).app.tls is None


def test_a_host_overrides_one_tls_key_and_inherits_the_others(inventory_dir: Path) -> None:
    text = stage(NAMED, ACME, '[hosts.web1]\nhostname = "w.example.com"\n[hosts.web1.app.tls]\nhsts = true\n'
                 '[hosts.web2]\nhostname = "v.example.com"\n[hosts.web2.app]\nserver_name = "v.example.com"\n')
    loaded = load(inventory_dir, text)
    web1, web2 = loaded.hosts
    assert loaded.for_host(web1).app.tls == Tls(mode="acme", email="ops@example.com", hsts=True)
    assert loaded.for_host(web2).app.tls == Tls(mode="acme", email="ops@example.com")


def test_acme_on_several_hosts_behind_one_name_is_refused_files_mode_is_not(
        inventory_dir: Path) -> None:
    two = '[hosts.web1]\nhostname = "w.example.com"\n[hosts.web2]\nhostname = "v.example.com"\n'
    with pytest.raises(InventoryError) as caught:
        load(inventory_dir, stage(NAMED, ACME, two))
    assert caught.value.key == "app.tls.mode"
    assert '"acme" on several hosts behind one name (example.com: web1, web2)' in str(caught.value)
    assert 'Use mode = "files"' in str(caught.value)
    loaded = load(inventory_dir, stage(NAMED, FILES, two))
    assert [loaded.for_host(h).app.tls.mode for h in loaded.hosts] == ["files", "files"]  # type: ignore[union-attr]


@pytest.mark.parametrize("names", ["example.com", "example.com www.example.com", "a-b.example.co.uk", "localhost"])
def test_acme_accepts_plain_dns_names(names: str) -> None:
    assert tls.acme_name_problem(names) is None


@pytest.mark.parametrize("server, proxy", [("gunicorn", "nginx"), ("mod_wsgi", "apache"), ("fastcgi", "lighttpd")])
def test_every_front_server_deploys_https(inventory_dir: Path, server: str, proxy: str) -> None:
    loaded = load(inventory_dir, stage(NAMED + f'server = "{server}"\nproxy = "{proxy}"\n', ACME))
    assert loaded.app.tls == Tls(mode="acme", email="ops@example.com")


def test_a_front_server_whose_deploys_do_not_serve_https_refuses_a_valid_table_not_ignores_it(
        inventory_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls, "DEPLOYED_FRONTS", ("apache", "lighttpd"))
    with pytest.raises(InventoryError) as caught:
        load(inventory_dir, stage(NAMED, ACME))
    assert caught.value.key == "app.tls"
    assert "deploys behind nginx do not serve HTTPS yet; behind apache and lighttpd they do" in str(caught.value)


@pytest.mark.parametrize("tls_table, fragment", [
    pytest.param(ACME, "app.server_name: is '_', the catch-all", id="acme without a name"),
    pytest.param(FILES.replace("site.key", "other.key"), "other.key is not the key of the certificate",
                 id="files with another key"),
])
def test_deploy_exits_2_with_one_line_before_connecting(tmp_path: Path, pem_files: dict[str, bytes],
                                                         tls_table: str, fragment: str) -> None:
    (tmp_path / ".git").mkdir()  # the search for stage files stops here
    (tmp_path / "deploy").mkdir()
    for name, data in pem_files.items():
        (tmp_path / "deploy" / name).write_bytes(data)
    # The host is a closed port: a connection attempt would be exit 4, not 2.
    (tmp_path / "deploy" / "production.toml").write_text(
        APP.replace('source = "src"\n', "") + tls_table + '[hosts.web1]\nhostname = "127.0.0.1"\nport = 9\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WSGIDEPLOY_", "FABRIC_"))}
    done = subprocess.run([sys.executable, "-m", "wsgideploy", "-H", "web1", "deploy"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and fragment in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
