"""Inventory validation: every error path as one table of cases, then the good path.

Each case is a TOML text, the key path the error must name and a fragment of
its message. The text is written to ``<tmp>/inventories/production.toml``
beside a ``src/`` directory (the valid ``source``) and a plain file ``afile``.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from wsgideploy.inventory import (App, Health, Host, InventoryError, Nginx, ProxyFixCounts, Ssh, UnknownHostError,
                             load_inventories, load_stage, missing_identity, resolve_aliases)

PROJECT_DIR = Path(__file__).resolve().parents[2]

REQUIRED = {"name": '"hello"', "source": '"src"', "wsgi": '"app:app"', "root": '"/srv/hello"'}


def app(*, drop: tuple[str, ...] = (), **values: str) -> str:
    """An ``[app]`` table: the required keys (minus ``drop``) plus ``values`` (TOML literals)."""
    items = {**{k: v for k, v in REQUIRED.items() if k not in drop}, **values}
    return "[app]\n" + "".join(f"{k} = {v}\n" for k, v in items.items())


APP = app()
HOST = '[hosts.web1]\nhostname = "web1.example.com"\n'


def host(**values: str) -> str:
    """A ``[hosts.web1]`` table with exactly ``values`` (TOML literals)."""
    return "[hosts.web1]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())


ERROR_CASES = [
    # (id, TOML text, key path, message fragment)
    ("invalid toml", '[app\nname = "hello"\n', "", "is not valid TOML"),
    ("unknown table suggests hosts", APP + '[host.web1]\nhostname = "a.example.com"\n',
     "host", "unknown table (did you mean 'hosts'?)"),
    ("misspelt app table suggests app", '[apps]\nname = "hello"\n', "apps", "did you mean 'app'?"),
    ("app not a table", 'app = "hello"\n', "app", "must be a table"),
    ("nginx not a table", 'nginx = "/etc/nginx"\n' + APP, "nginx", "must be a table"),
    ("top level vars not a table", "vars = 3\n" + APP, "vars", "must be a table"),
    ("hosts as array of tables", APP + '[[hosts]]\nhostname = "a.example.com"\n', "hosts", "must be a table"),
    ("missing app table", "[vars]\nworkers = 2\n", "app", "is required"),
    ("missing app.name", app(drop=("name",)), "app.name", "is required"),
    ("missing app.wsgi", app(drop=("wsgi",)), "app.wsgi", "is required"),
    ("missing app.root", app(drop=("root",)), "app.root", "is required"),
    ("unknown app key suggests wsgi", app(wsgii='"app:app"'), "app.wsgii", "unknown key (did you mean 'wsgi'?)"),
    ("unknown app key suggests listen", app(lisen="80"), "app.lisen", "did you mean 'listen'?"),
    ("listen as string", app(listen='"80"'), "app.listen", "must be an integer, not str"),
    ("listen as bool", app(listen="true"), "app.listen", "must be an integer, not bool"),
    ("listen as float", app(listen="80.0"), "app.listen", "must be an integer, not float"),
    ("listen 0", app(listen="0"), "app.listen", "must be between 1 and 65535, not 0"),
    ("listen 70000", app(listen="70000"), "app.listen", "must be between 1 and 65535, not 70000"),
    ("keep_releases 1", app(keep_releases="1"), "app.keep_releases", "must be between 2 and 1000, not 1"),
    ("shared with dotdot", app(shared='["../data"]'), "app.shared", "'../data' must be a relative path"),
    ("shared nested dotdot", app(shared='["a/../../b"]'), "app.shared", "without '..'"),
    ("shared absolute", app(shared='["/etc/app"]'), "app.shared", "'/etc/app' must be a relative path"),
    ("shared with a space", app(shared='["my data"]'), "app.shared", "must be a relative path"),
    ("shared not a list", app(shared='"instance"'), "app.shared", "must be a list of non-empty strings"),
    ("shared with empty string", app(shared='[""]'), "app.shared", "must be a list of non-empty strings"),
    ("exclude not a list", app(exclude='"docs"'), "app.exclude", "must be a list of non-empty strings"),
    ("server misspelt", app(server='"gunicron"'), "app.server", "did you mean 'gunicorn'?"),
    ("server unknown", app(server='"waitress"'), "app.server", "must be one of 'gunicorn', 'uwsgi'"),
    ("proxy unknown", app(proxy='"caddy"'), "app.proxy", "must be one of 'nginx', 'apache', 'lighttpd', not 'caddy'"),
    ("server and proxy that do not go together", app(proxy='"apache"'), "app.proxy",
     "gunicorn cannot run behind 'apache'; it runs behind 'nginx'"),
    ("proxy misspelt", app(proxy='"ngnix"'), "app.proxy", "did you mean 'nginx'?"),
    ("root relative", app(root='"srv/hello"'), "app.root", "must be an absolute path on the host, not 'srv/hello'"),
    ("root with a space", app(root='"/srv/my app"'), "app.root", "no spaces, quotes or $"),
    ("root not a string", app(root="5"), "app.root", "must be an absolute path on the host, not 5"),
    ("wsgi without callable", app(wsgi='"app"'), "app.wsgi", "must be 'module:app' or 'module:create_app()'"),
    ("wsgi with empty callable", app(wsgi='"app:"'), "app.wsgi", "not 'app:'"),
    ("wsgi with empty module", app(wsgi='":app"'), "app.wsgi", "not ':app'"),
    ("wsgi with dash in module", app(wsgi='"my-app:app"'), "app.wsgi", "not 'my-app:app'"),
    ("wsgi not a string", app(wsgi="3"), "app.wsgi", "must be a string"),
    ("name with uppercase", app(name='"Hello"'), "app.name", "lowercase letters, digits"),
    ("name starting with dash", app(name='"-hello"'), "app.name", "not '-hello'"),
    ("name empty", app(name='""'), "app.name", "not ''"),
    ("server_name empty", app(server_name='""'), "app.server_name", "must be nginx server names"),
    ("python not a string", app(python="3"), "app.python", "must be a command name or path"),
    ("static_url relative", app(static_url='"static"'), "app.static_url", "must be a path such as '/static'"),
    # the audit's (issue 15): each of these was accepted, and uWSGI's "@(exec://...)" runs a command
    ("static_url with uWSGI's exec", app(static_url='"/s@(exec://touch /tmp/x)"'), "app.static_url",
     "must be a path such as '/static'"),
    ("static_url with a hash", app(static_url='"/static#x"'), "app.static_url", "must be a path such as"),
    ("static_url with a CR", app(static_url='"/static\\r\\nX"'), "app.static_url", "must be a path such as"),
    ("static_url going up", app(static_url='"/static/../.."'), "app.static_url", "must be a path such as"),
    ("url_prefix with parentheses", app(url_prefix='"/app(x)"'), "app.url_prefix", "must be '' or a path such as"),
    ("url_prefix with =", app(url_prefix='"/a=b"'), "app.url_prefix", "must be '' or a path such as"),
    ("url_prefix with @", app(url_prefix='"/@app"'), "app.url_prefix", "must be '' or a path such as"),
    ("shared naming the config dir", app(shared='[".wsgideploy"]'), "app.shared", "is wsgideploy's own"),
    ("shared naming the venv", app(shared='["venv/lib"]'), "app.shared", "is wsgideploy's own"),
    ("root in /usr", app(root='"/usr"'), "app.root", "system folder /usr"),
    ("root going up", app(root='"/srv/../etc"'), "app.root", "written plainly"),
    ("nginx sites_available /etc", APP + '[nginx]\nsites_available = "/etc"\n', "nginx.sites_available",
     "must be a folder for these files only"),
    ("apache listen_dir /etc/apache2", APP + '[apache]\nlisten_dir = "/etc/apache2"\n', "apache.listen_dir",
     "must be a folder for these files only"),
    ("logrotate /etc", app(logrotate='"/etc"'), "app.logrotate", "must be a folder for these files only"),
    ("static_dir not a string", app(static_dir="1"), "app.static_dir", "must be a non-empty string"),
    ("health not a table", app(health='"/"'), "app.health", "must be a table, not str"),
    ("health status 700", app(health="{ status = 700 }"), "app.health.status", "must be between 100 and 599, not 700"),
    ("health status as string", app(health='{ status = "200" }'), "app.health.status", "must be an integer"),
    ("health timeout 0", app(health="{ timeout = 0 }"), "app.health.timeout", "must be greater than 0, not 0"),
    ("health timeout negative", app(health="{ timeout = -1.5 }"), "app.health.timeout", "must be greater than 0"),
    ("health timeout as string", app(health='{ timeout = "30" }'), "app.health.timeout", "must be a number, not str"),
    ("health timeout as bool", app(health="{ timeout = true }"), "app.health.timeout", "must be a number, not bool"),
    ("health path relative", app(health='{ path = "health" }'), "app.health.path", "must be a URL path"),
    ("health unknown key", app(health="{ stauts = 200 }"), "app.health.stauts", "unknown key (did you mean 'status'?)"),
    ("source missing", app(source='"missing"'), "app.source", "is not a local directory"),
    ("source is a file", app(source='"afile"'), "app.source", "is not a local directory"),
    ("source empty", app(source='""'), "app.source", "must be a non-empty string"),
    ("nginx.sudo not bool", APP + '[nginx]\nsudo = "yes"\n', "nginx.sudo", "must be true or false, not str"),
    ("nginx.control misspelt", APP + '[nginx]\ncontrol = "systemctl"\n', "nginx.control", "did you mean 'systemd'?"),
    ("nginx.conf relative", APP + '[nginx]\nconf = "nginx.conf"\n', "nginx.conf", "must be an absolute path"),
    ("nginx.sites_available relative", APP + '[nginx]\nsites_available = "sites"\n', "nginx.sites_available",
     "must be an absolute path"),
    ("nginx.binary empty", APP + '[nginx]\nbinary = ""\n', "nginx.binary", "must be a command name or path"),
    ("nginx unknown key", APP + '[nginx]\nsites_avaliable = "/etc/nginx/sites"\n', "nginx.sites_avaliable",
     "did you mean 'sites_available'?"),
    ("ssh timeout 0", APP + "[ssh]\nconnect_timeout = 0\n", "ssh.connect_timeout", "must be greater than 0"),
    ("ssh unknown key", APP + "[ssh]\ncommand_timout = 5\n", "ssh.command_timout", "did you mean 'command_timeout'?"),
    ("host not a table", APP + '[hosts]\nweb1 = "web1.example.com"\n', "hosts.web1", "must be a table"),
    ("host missing hostname", APP + host(port="22"), "hosts.web1.hostname", "is required"),
    ("host hostname misspelt", APP + host(hostnme='"a.example.com"'), "hosts.web1.hostnme",
     "did you mean 'hostname'?"),
    ("hostname with underscore", APP + host(hostname='"web_1.example.com"'), "hosts.web1.hostname",
     "is not a valid hostname or IP address: 'web_1.example.com'"),
    ("hostname starting with dash", APP + host(hostname='"-web1"'), "hosts.web1.hostname", "not a valid hostname"),
    ("hostname with a space", APP + host(hostname='"web 1"'), "hosts.web1.hostname", "not a valid hostname"),
    ("hostname not a string", APP + host(hostname="10"), "hosts.web1.hostname", "must be a string, not int"),
    ("host port 0", APP + host(hostname='"a.example.com"', port="0"), "hosts.web1.port", "between 1 and 65535"),
    ("host user uppercase", APP + host(hostname='"a.example.com"', user='"Deploy"'), "hosts.web1.user",
     "must be a user name, not 'Deploy'"),
    ("host identity empty", APP + host(hostname='"a.example.com"', identity='""'), "hosts.web1.identity",
     "must be a non-empty string"),
    ("host roles not a list", APP + host(hostname='"a.example.com"', roles='"web"'), "hosts.web1.roles",
     "must be a list of non-empty strings"),
    ("host vars not a table", APP + host(hostname='"a.example.com"', vars='"workers=4"'), "hosts.web1.vars",
     "must be a table, not str"),
    ("host alias with a space", APP + '[hosts."web 1"]\nhostname = "a.example.com"\n', "hosts.web 1",
     "an alias uses letters, digits"),
]


@pytest.fixture
def inventory_dir(tmp_path: Path) -> Path:
    """``<tmp>/inventories`` with a ``src/`` directory and a plain file ``afile`` beside it."""
    directory = tmp_path / "inventories"
    (directory / "src").mkdir(parents=True)
    (directory / "afile").write_text("not a directory\n")
    return directory


@pytest.mark.parametrize("text, key, fragment", [pytest.param(*case[1:], id=case[0]) for case in ERROR_CASES])
def test_invalid_inventory_error_names_file_key_and_problem(inventory_dir: Path, text: str, key: str,
                                                            fragment: str) -> None:
    path = inventory_dir / "production.toml"
    path.write_text(text)
    with pytest.raises(InventoryError) as caught:
        load_stage(path)
    exc = caught.value
    message = str(exc)
    assert (exc.path, exc.key) == (str(path), key)
    assert message.startswith(f"{path}: ")
    if key:
        assert f"{path}: {key}: " in message
    assert fragment in message


@pytest.mark.parametrize("text, key, fragment", [pytest.param(*case[1:], id=case[0]) for case in ERROR_CASES])
def test_load_inventories_reports_the_same_error_as_load_stage(inventory_dir: Path, text: str, key: str,
                                                               fragment: str) -> None:
    path = inventory_dir / "production.toml"
    path.write_text(text)
    with pytest.raises(InventoryError) as caught:
        load_inventories(inventory_dir)
    assert (caught.value.path, caught.value.key) == (str(path), key)
    assert fragment in str(caught.value)


def test_unknown_key_without_a_close_match_gets_no_suggestion(inventory_dir: Path) -> None:
    path = inventory_dir / "production.toml"
    path.write_text(app(colour='"blue"'))
    with pytest.raises(InventoryError, match="app.colour: unknown key$"):
        load_stage(path)


def test_unreadable_inventory_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    with pytest.raises(InventoryError) as caught:
        load_stage(path)
    assert caught.value.path == str(path)
    assert str(caught.value) == f"{path}: cannot be read: No such file or directory"


def test_duplicate_alias_across_stage_files_names_the_other_file(inventory_dir: Path) -> None:
    first = inventory_dir / "production.toml"
    second = inventory_dir / "staging.toml"
    first.write_text(APP + HOST)
    second.write_text(APP + HOST)
    with pytest.raises(InventoryError) as caught:
        load_inventories(inventory_dir)
    assert (caught.value.path, caught.value.key) == (str(second), "hosts.web1")
    assert str(caught.value) == f"{second}: hosts.web1: alias is already defined in {first}"


def test_same_alias_is_fine_when_it_appears_once(inventory_dir: Path) -> None:
    (inventory_dir / "production.toml").write_text(APP + HOST)
    (inventory_dir / "staging.toml").write_text(APP + '[hosts.stage1]\nhostname = "198.51.100.5"\n')
    stages = load_inventories(inventory_dir)
    assert sorted(stages) == ["production", "staging"]
    assert [h.alias for h in stages["staging"].hosts] == ["stage1"]
    assert stages["staging"].hosts[0].stage == "staging"


def test_load_inventories_ignores_files_that_are_not_toml(inventory_dir: Path) -> None:
    (inventory_dir / "production.toml").write_text(APP + HOST)
    (inventory_dir / "notes.txt").write_text("[app\n")
    assert list(load_inventories(inventory_dir)) == ["production"]


def test_resolve_unknown_alias_lists_known_hosts_and_suggests_one(inventory_dir: Path) -> None:
    (inventory_dir / "production.toml").write_text(
        APP + HOST + '[hosts.web2]\nhostname = "web2.example.com"\n')
    stages = load_inventories(inventory_dir)
    with pytest.raises(UnknownHostError) as caught:
        resolve_aliases(stages, ["web1", "wbe2"])
    assert str(caught.value) == "unknown host 'wbe2' (did you mean 'web2'?); known hosts: web1, web2"


def test_resolve_unknown_alias_with_no_hosts_says_none(inventory_dir: Path) -> None:
    (inventory_dir / "production.toml").write_text(APP)
    with pytest.raises(UnknownHostError, match="unknown host 'web1'; known hosts: none$"):
        resolve_aliases(load_inventories(inventory_dir), ["web1"])


def test_resolve_aliases_keeps_the_order_given(inventory_dir: Path) -> None:
    (inventory_dir / "production.toml").write_text(
        APP + HOST + '[hosts.web2]\nhostname = "web2.example.com"\n')
    (inventory_dir / "staging.toml").write_text(APP + '[hosts.stage1]\nhostname = "stage1.example.com"\n')
    found = resolve_aliases(load_inventories(inventory_dir), ["stage1", "web2", "web1"])
    assert [(stage.name, h.alias) for stage, h in found] == [
        ("staging", "stage1"), ("production", "web2"), ("production", "web1")]


def test_resolve_aliases_names_each_host_once(inventory_dir: Path) -> None:
    (inventory_dir / "production.toml").write_text(APP + HOST)
    found = resolve_aliases(load_inventories(inventory_dir), ["web1", "web1"])
    assert [h.alias for _, h in found] == ["web1"]


# --- the good path ------------------------------------------------------------

FULL_INVENTORY = """\
[app]
name = "hello"
source = "../examples/hello"
wsgi = "app:create_app()"
server = "gunicorn"
proxy = "nginx"
root = "/srv/hello/"
server_name = "hello.example.com"
listen = 8080
python = "python3.11"
shared = ["instance", ".env"]
exclude = ["docs"]
keep_releases = 3
static_url = "/assets/"
static_dir = "hello/static"
health = { path = "/health", status = 204, timeout = 10 }

[nginx]
sites_available = "/opt/nginx/sites-available"
sites_enabled = "/opt/nginx/sites-enabled"
binary = "/opt/nginx/sbin/nginx"
conf = "/opt/nginx/nginx.conf"
sudo = false
control = "signal"

[ssh]
connect_timeout = 5
command_timeout = 60.5

[vars]
workers = 3
threads = 2

[hosts.web1]
hostname = "web1.example.com"
port = 2222
user = "deploy"
identity = "~/.ssh/deploy_ed25519"
known_hosts = "keys/known_hosts"
roles = ["web", "migrate"]
vars = { workers = 4 }

[hosts.web2]
hostname = "192.0.2.10"
"""


@pytest.fixture
def full_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".ssh").mkdir()
    (home / ".ssh" / "deploy_ed25519").write_text("a key\n")
    monkeypatch.setenv("HOME", str(home))
    (tmp_path / "examples" / "hello").mkdir(parents=True)
    inventories = tmp_path / "inventories"
    inventories.mkdir()
    path = inventories / "production.toml"
    path.write_text(FULL_INVENTORY)
    return load_stage(path), tmp_path


def test_full_inventory_parses_into_app_with_every_value(full_stage) -> None:
    stage, base = full_stage
    assert stage.app == App(
        name="hello", source=base / "examples" / "hello", wsgi="app:create_app()", root="/srv/hello",
        server="gunicorn", proxy="nginx", server_name="hello.example.com", listen=8080,
        python="python3.11", shared=("instance", ".env"), exclude=("docs",), keep_releases=3,
        static_url="/assets", static_dir="hello/static",
        health=Health(path="/health", status=204, timeout=10.0), proxy_fix=ProxyFixCounts(), framework="none")


def test_full_inventory_parses_nginx_ssh_and_stage_vars(full_stage) -> None:
    stage, base = full_stage
    assert stage.name == "production"
    assert stage.path == base / "inventories" / "production.toml"
    assert stage.nginx == Nginx(sites_available="/opt/nginx/sites-available",
                                sites_enabled="/opt/nginx/sites-enabled", binary="/opt/nginx/sbin/nginx",
                                conf="/opt/nginx/nginx.conf", sudo=False, control="signal")
    assert stage.ssh == Ssh(connect_timeout=5.0, command_timeout=60.5)
    assert isinstance(stage.ssh.connect_timeout, float)
    assert stage.vars == {"workers": 3, "threads": 2}


def test_full_inventory_parses_hosts_with_expanded_and_resolved_paths(full_stage) -> None:
    stage, base = full_stage
    assert stage.hosts == (
        Host(alias="web1", stage="production", hostname="web1.example.com", port=2222, user="deploy",
             identity=str(base / "home" / ".ssh" / "deploy_ed25519"),
             known_hosts=str(base / "inventories" / "keys" / "known_hosts"),
             roles=("web", "migrate"), vars={"workers": 4}),
        Host(alias="web2", stage="production", hostname="192.0.2.10"),
    )


def test_relative_source_resolves_against_the_inventory_directory_not_the_cwd(
        full_stage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    stage = load_stage(tmp_path / "inventories" / "production.toml")
    assert stage.app.source == tmp_path / "examples" / "hello"
    assert stage.app.source.is_absolute()


def test_source_with_tilde_expands_to_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "apps" / "hello").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    path = tmp_path / "production.toml"
    path.write_text(app(source='"~/apps/hello"'))
    assert load_stage(path).app.source == home / "apps" / "hello"


def test_host_vars_override_stage_vars_per_host(full_stage) -> None:
    stage, _ = full_stage
    web1, web2 = stage.hosts
    assert stage.host_vars(web1) == {"workers": 4, "threads": 2}
    assert stage.host_vars(web2) == {"workers": 3, "threads": 2}
    assert stage.vars == {"workers": 3, "threads": 2}  # not mutated by the merge


def test_minimal_inventory_takes_every_default(inventory_dir: Path) -> None:
    path = inventory_dir / "staging.toml"
    path.write_text(APP)
    stage = load_stage(path)
    assert stage.app == App(name="hello", source=inventory_dir / "src", wsgi="app:app", root="/srv/hello",
                            proxy_fix=ProxyFixCounts(x_for=1, x_proto=1), framework="none")  # auto: no manage.py
    assert (stage.app.server, stage.app.proxy, stage.app.listen, stage.app.keep_releases) == (
        "gunicorn", "nginx", 80, 5)
    assert stage.app.health == Health(path="/", status=200, timeout=30.0)
    assert (stage.nginx, stage.ssh, stage.vars, stage.hosts) == (Nginx(), Ssh(), {}, ())
    assert stage.name == "staging"


@pytest.mark.parametrize("wsgi", ["app:app", "app:create_app()", "pkg.wsgi:application",
                                  "pkg:create_app('prod')", "_private:app"])
def test_valid_wsgi_specs_are_accepted(inventory_dir: Path, wsgi: str) -> None:
    path = inventory_dir / "production.toml"
    path.write_text(app(wsgi=f'"{wsgi}"'))
    assert load_stage(path).app.wsgi == wsgi


@pytest.mark.parametrize("hostname", ["web1", "web-1.example.com", "203.0.113.1", "::1", "2001:db8::10"])
def test_valid_hostnames_and_ip_addresses_are_accepted(inventory_dir: Path, hostname: str) -> None:
    path = inventory_dir / "production.toml"
    path.write_text(APP + host(hostname=f'"{hostname}"'))
    assert load_stage(path).hosts[0].hostname == hostname


def test_shipped_production_inventory_is_valid() -> None:
    stage = load_stage(PROJECT_DIR / "inventories" / "production.toml")
    assert stage.name == "production"
    assert stage.app.source.is_dir()
    assert stage.hosts, "the example inventory should define at least one host"


# --- gaps in validation (see the report) ----------------------------------------

def test_root_slash_alone_is_rejected(inventory_dir: Path) -> None:
    path = inventory_dir / "production.toml"
    path.write_text(app(root='"/"'))
    with pytest.raises(InventoryError, match="app.root"):
        load_stage(path)


@pytest.mark.parametrize("static_dir", ["../../etc", "/var/www"])
def test_static_dir_outside_the_release_is_rejected(inventory_dir: Path, static_dir: str) -> None:
    path = inventory_dir / "production.toml"
    path.write_text(app(static_dir=f'"{static_dir}"'))
    with pytest.raises(InventoryError, match="app.static_dir"):
        load_stage(path)


def test_source_defaults_to_the_folder_that_holds_the_inventory_folder(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    path = tmp_path / "deploy" / "production.toml"
    path.write_text('[app]\nname = "hello"\nwsgi = "app:app"\nroot = "/srv/hello"\n')
    assert load_stage(path).app.source == tmp_path.resolve()


def test_a_missing_identity_file_is_an_error_that_names_its_path(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    path = tmp_path / "deploy" / "production.toml"
    path.write_text('[app]\nname = "hello"\nwsgi = "app:app"\nroot = "/srv/hello"\n'
                    '[hosts.web1]\nhostname = "web1.example.com"\nidentity = "keys/deploy_ed25519"\n')
    stage = load_stage(path)  # loading is fine: only the hosts a command selects need their key
    problem = missing_identity(stage, stage.hosts[0])
    assert problem is not None and problem.key == "hosts.web1.identity"
    assert str(tmp_path / "deploy" / "keys" / "deploy_ed25519") in problem.problem
    (tmp_path / "deploy" / "keys").mkdir()
    (tmp_path / "deploy" / "keys" / "deploy_ed25519").write_text("a key\n")
    assert missing_identity(stage, stage.hosts[0]) is None
