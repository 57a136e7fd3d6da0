"""``setup`` and ``doctor`` on booted Debian 12 servers fresh from the bare image: no front server, no
deploy user, root's key only (the harness's way in). apt reaches Debian only through the lab's proxy.

- ``fresh``: ``setup`` as root, a second ``setup`` that changes nothing, ``doctor`` passing, then
  ``deploy`` of the example app as the deploy user with only the drop-in's sudo rights;
- ``planned``: ``setup --plan`` changes nothing; then, with only a deploy user made by hand,
  ``doctor`` fails naming each missing thing and its fix;
- ``refused``: a setup_user without sudo (exit 4, the fix named), a faked unsupported distribution
  (exit 2, what was detected named); neither changes anything;
- ``viasudo``: packages that cannot be installed (apt pointed at a dead proxy) stop setup before any
  user is made; then setup as a user with passwordless sudo (every root command through ``sudo -n``).
"""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.servers.acme import start_pebble
from tests.servers.deploy_target import DEBIAN_FRONT_TABLES
from tests.servers.fixtures import server_lab, unavailable  # noqa: F401  (fixtures)
from tests.servers.image import ImageError
from tests.servers.lab import ServerLab
from tests.servers.machine import Server, ServerError

from .fabcli import EXAMPLE, fab
from .helpers import copy_app
from .stock import APP_PORT, get
from .test_https_deploy import make_ca_and_certificate

NAMES = ("fresh", "planned", "refused", "viasudo")
ITEMS = ("system", "packages", "deploy user", "app user", "app root", "sudoers")


@pytest.fixture(scope="module")
def servers(server_lab: ServerLab) -> dict[str, Server]:  # noqa: F811
    """Three servers booted in parallel from the bare image (no front-server layer)."""
    try:
        booted = server_lab.boot_servers(list(NAMES))
    except (ServerError, ImageError, RuntimeError) as exc:
        unavailable(f"{type(exc).__name__}: {exc}")
    return dict(zip(NAMES, booted))


def inventory(write_inventory: Any, tmp_path: Path, server: Server, key: Path, **host: Any) -> Path:
    """A stage ``test`` for the example app on ``server``: deploy user ``deploy``, setup as root."""
    source = tmp_path / "app"
    if not source.exists():
        copy_app(EXAMPLE, source, version="1.0.0")
    table = {"hostname": server.address, "port": 22, "user": "deploy", "identity": str(key),
             "known_hosts": str(server.known_hosts), "setup_user": "root", **host}
    app = {"name": "hello", "source": str(source), "wsgi": "app:app", "root": "/srv/hello",
           "server_name": "_", "listen": APP_PORT}
    return write_inventory("test", app=app, hosts={server.name: table}, nginx=dict(DEBIAN_FRONT_TABLES["nginx"]))


def state(server: Server) -> str:
    """What setup would change, as text: packages, users, /srv, the sudoers drop-ins."""
    return server.run("dpkg-query -W -f='${Package} ${Status}\\n' | sort; getent passwd | sort; getent group | sort; "
                      "ls -la /srv /etc/sudoers.d").stdout


def lines_of(output: str, alias: str) -> dict[str, str]:
    """Each item's line of a run's output, by item name."""
    found = {}
    for line in output.splitlines():
        for item in ITEMS:
            if line.startswith(f"[{alias}] {item} "):
                found[item] = line
    return found


def step_lines(output: str, alias: str) -> dict[str, str]:
    """Each step's line of a run's output, by the step's name (its first word)."""
    prefix = f"[{alias}] "
    return {line[len(prefix):].split()[0]: line for line in output.splitlines()
            if line.startswith(prefix) and line[len(prefix):].split()}


def test_setup_as_a_user_without_sudo_exits_4_naming_the_fix_and_changes_nothing(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    server = servers["refused"]
    key = shlex.quote(Path(f"{server_lab.ssh_key}.pub").read_text().strip())
    server.run(f"useradd -m -s /bin/bash plain && install -d -m 700 -o plain -g plain ~plain/.ssh && "
               f"echo {key} > ~plain/.ssh/authorized_keys && chown plain: ~plain/.ssh/authorized_keys")
    before = state(server)
    result = fab(inventory(write_inventory, tmp_path, server, server_lab.ssh_key, setup_user="plain"),
                 "-H", "refused", "setup", expect=4)
    assert "plain is neither root nor allowed `sudo -n`" in result.stdout + result.stderr
    assert 'setup_user = "root"' in result.stdout + result.stderr
    assert state(server) == before


def test_setup_on_an_unsupported_distribution_exits_2_naming_it_and_changes_nothing(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    server = servers["refused"]
    server.run("rm /etc/os-release && printf '%s\\n' 'NAME=\"CentOS Linux\"' 'ID=centos' 'VERSION_ID=\"7\"' "
               "'PRETTY_NAME=\"CentOS Linux 7 (Core)\"' > /etc/os-release")
    before = state(server)
    result = fab(inventory(write_inventory, tmp_path, server, server_lab.ssh_key), "-H", "refused", "setup", expect=2)
    out = result.stdout + result.stderr
    assert "unsupported distribution: detected CentOS Linux 7 (Core) (ID=centos, VERSION_ID=7)" in out
    assert state(server) == before


def test_setup_plan_on_a_fresh_server_says_what_it_would_change_and_changes_nothing(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    server = servers["planned"]
    before = state(server)
    result = fab(inventory(write_inventory, tmp_path, server, server_lab.ssh_key), "-H", "planned", "setup", "--plan")
    print(result.stdout)
    lines = lines_of(result.stdout, "planned")
    assert set(lines) == set(ITEMS), result.stdout
    assert "would: install nginx" in lines["packages"]
    assert "would: create user deploy" in lines["deploy user"]
    assert "would: create system user hello" in lines["app user"]
    assert "would: create /srv/hello" in lines["app root"]
    assert "would: write /etc/sudoers.d/wsgideploy-hello" in lines["sudoers"]
    assert state(server) == before


def test_doctor_on_a_server_with_only_a_deploy_user_fails_naming_each_fix(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    server = servers["planned"]
    key = shlex.quote(Path(f"{server_lab.ssh_key}.pub").read_text().strip())
    server.run(f"useradd -m -s /bin/bash deploy && install -d -m 700 -o deploy -g deploy ~deploy/.ssh && "
               f"echo {key} > ~deploy/.ssh/authorized_keys && chown deploy: ~deploy/.ssh/authorized_keys")
    result = fab(inventory(write_inventory, tmp_path, server, server_lab.ssh_key), "-H", "planned", "doctor", expect=1)
    print(result.stdout)
    missing = [line for line in result.stdout.splitlines() if " MISSING " in line]
    assert len(missing) == 4, result.stdout  # packages, app user, app root, sudoers
    assert all("(fix: wsgideploy -H planned setup" in line for line in missing), result.stdout
    assert "sudo apt-get install nginx" in result.stdout
    assert "doctor FAILED on planned" in result.stdout


def test_setup_as_root_prepares_a_fresh_server_and_a_second_run_changes_nothing(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    server = servers["fresh"]
    stage = inventory(write_inventory, tmp_path, server, server_lab.ssh_key)
    first = fab(stage, "-H", "fresh", "setup", timeout=900)
    print(first.stdout)
    lines = lines_of(first.stdout, "fresh")
    assert set(lines) == set(ITEMS), first.stdout
    assert all("changed: " in lines[item] for item in ITEMS[1:]), first.stdout

    assert server.run("systemctl is-active nginx").stdout.strip() == "active"
    assert server.run("getent passwd hello | cut -d: -f7").stdout.strip() == "/usr/sbin/nologin"
    assert set(server.run("id -nG deploy").stdout.split()) >= {"deploy", "hello", "adm"}
    assert "sudo" not in server.run("id -nG hello").stdout.split()
    assert server.run("stat -c '%U:%G %a' /srv/hello /srv/hello/shared").stdout.split("\n")[:2] == [
        "deploy:deploy 750", "deploy:hello 2775"]
    assert server.run("stat -c '%U:%G %a' /etc/sudoers.d/wsgideploy-hello").stdout.strip() == "root:root 440"
    assert "ALL=(root) NOPASSWD: ALL" not in server.run("cat /etc/sudoers.d/wsgideploy-hello").stdout
    assert server.run("ls -A /etc/sudoers.d").stdout.split() == ["README", "wsgideploy-hello"]

    second = fab(stage, "-H", "fresh", "setup")
    print(second.stdout)
    lines = lines_of(second.stdout, "fresh")
    assert all(lines[item].endswith("unchanged") for item in ITEMS[1:]), second.stdout
    assert "setup ok (unchanged): 1 host" in second.stdout


def test_doctor_passes_after_setup(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    result = fab(inventory(write_inventory, tmp_path, servers["fresh"], server_lab.ssh_key), "-H", "fresh", "doctor")
    print(result.stdout)
    assert " MISSING " not in result.stdout
    assert "doctor ok: 1 host" in result.stdout


def test_deploy_works_right_after_setup_with_only_the_dropin_sudo_rights(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    server = servers["fresh"]
    assert server.run("sudo -n -l -U deploy").stdout.count("NOPASSWD: ALL") == 0
    result = fab(inventory(write_inventory, tmp_path, server, server_lab.ssh_key), "-H", "fresh", "deploy",
                 expect=None, timeout=900)
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    status, body = get(server.address, APP_PORT, "/info")
    assert status == 200, body
    assert "stays open" not in result.stdout
    assert_root_closed(server, "hello", "/srv/hello")
    assert get(server.address, APP_PORT, "/static/style.css")[0] == 200  # nginx passes through to the static files


def test_a_drop_in_of_an_earlier_setup_without_the_quick_forms_still_deploys(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    """A drop-in that an earlier `setup` wrote has no `stop --no-block` and no `enable/disable --no-reload`:
    sudo refuses them, and each falls back to the plain form that the drop-in allows."""
    server = servers["fresh"]
    dropin = "/etc/sudoers.d/wsgideploy-hello"
    saved = server.run(f"cat {dropin}").stdout
    server.run(f"sed -i '/--no-block\\|--no-reload/d' {dropin} && visudo -c -q")
    try:
        left = server.run(f"cat {dropin}").stdout
        assert "--no-block" not in left and "--no-reload" not in left and "systemctl stop wsgideploy-hello@a" in left
        stage = inventory(write_inventory, tmp_path, server, server_lab.ssh_key)
        app_py = tmp_path / "app" / "app.py"
        app_py.write_text(app_py.read_text().replace('VERSION = "1.0.0"', 'VERSION = "1.0.1"'))
        result = fab(stage, "-H", "fresh", "deploy", expect=None, timeout=900)
        assert result.returncode == 0, result.stdout + result.stderr
        status, body = get(server.address, APP_PORT, "/info")
        assert status == 200 and '"version":"1.0.1"' in body.replace(" ", ""), body
    finally:
        server.run(f"install -m 0440 -o root -g root /dev/stdin {dropin} && visudo -c -q", input=saved)


CONNECT = "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])"


def as_user(server: Server, user: str, command: str) -> int:
    return server.run(f"runuser -u {user} -- {command}", check=False).returncode


def assert_root_closed(server: Server, app_user: str, root: str) -> None:
    """The root is the app's group's and the deploy user's; nginx's www-data passes through to the socket
    and nothing else; any other user reaches nothing below it (issue 15: the releases, the logs, the
    deploy's records and the socket were every local user's)."""
    assert server.run(f"stat -c '%U:%G %a' {root}").stdout.strip() == f"deploy:{app_user} 750"
    assert "user:www-data:--x" in server.run(f"getfacl -cp {root}").stdout.split()
    socket = f"{root}/shared/run/gunicorn.sock"
    assert as_user(server, "www-data", f"python3 -c '{CONNECT}' {socket}") == 0
    assert as_user(server, "www-data", f"ls {root}") != 0  # passes, never lists
    assert as_user(server, "nobody", f"cat {root}/.deploy/log.jsonl") != 0
    assert as_user(server, "nobody", f"python3 -c '{CONNECT}' {socket}") != 0
    assert as_user(server, "nobody", f"cat {root}/current/app.py") != 0
    assert as_user(server, "nobody", f"ls {root}/shared/log") != 0
    assert as_user(server, app_user, f"cat {root}/current/app.py") == 0


def add_user_with_key(server: Server, lab: ServerLab, user: str, sudo: bool = False) -> None:
    key = shlex.quote(Path(f"{lab.ssh_key}.pub").read_text().strip())
    server.run(f"useradd -m -s /bin/bash {user} && install -d -m 700 -o {user} -g {user} ~{user}/.ssh && "
               f"echo {key} > ~{user}/.ssh/authorized_keys && chown {user}: ~{user}/.ssh/authorized_keys")
    if sudo:
        server.run(f"echo '{user} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/90-{user} && chmod 0440 /etc/sudoers.d/90-{user}")


def test_packages_that_cannot_be_installed_stop_setup_before_any_user_is_made(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    server = servers["viasudo"]
    server.run("printf 'Acquire::http::Proxy \"http://127.0.0.1:9\";\nAcquire::https::Proxy \"http://127.0.0.1:9\";\n'"
               " > /etc/apt/apt.conf.d/99-dead-proxy")
    before = state(server)
    result = fab(inventory(write_inventory, tmp_path, server, server_lab.ssh_key), "-H", "viasudo", "setup", expect=1)
    print(result.stdout)
    assert "[viasudo] packages     FAILED" in result.stdout
    assert "nothing else was changed" in result.stdout
    assert "deploy user" not in result.stdout
    server.run("rm /etc/apt/apt.conf.d/99-dead-proxy")
    assert state(server) == before


def test_setup_as_a_user_with_passwordless_sudo_runs_every_root_command_through_sudo(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    server = servers["viasudo"]
    add_user_with_key(server, server_lab, "admin", sudo=True)
    stage = inventory(write_inventory, tmp_path, server, server_lab.ssh_key, setup_user="admin")
    result = fab(stage, "-H", "viasudo", "setup", timeout=900)
    print(result.stdout)
    assert "[viasudo] connect      ok" in result.stdout and "admin@" in result.stdout
    assert "init systemd, as admin" in result.stdout
    assert server.run("stat -c '%U:%G %a' /etc/sudoers.d/wsgideploy-hello").stdout.strip() == "root:root 440"
    assert "setup ok (unchanged)" in fab(stage, "-H", "viasudo", "setup").stdout


def test_setup_repairs_what_was_changed_by_hand_and_doctor_names_it_before(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    server = servers["fresh"]
    server.run("chmod 0755 /srv/hello/shared && chmod g-s /srv/hello/shared && chgrp deploy /srv/hello/shared "
               "&& gpasswd -d deploy adm >/dev/null && rm /etc/sudoers.d/wsgideploy-hello")
    stage = inventory(write_inventory, tmp_path, server, server_lab.ssh_key)
    doctor = fab(stage, "-H", "fresh", "doctor", expect=1)
    print(doctor.stdout)
    assert "/srv/hello/shared is deploy:deploy 755, not deploy:hello 2775" in doctor.stdout
    assert "[fresh] sudoers      MISSING no /etc/sudoers.d/wsgideploy-hello" in doctor.stdout
    assert "[fresh] app user     MISSING deploy is not in the group adm" in doctor.stdout
    repaired = fab(stage, "-H", "fresh", "setup")
    print(repaired.stdout)
    lines = lines_of(repaired.stdout, "fresh")
    assert "changed: set /srv/hello/shared to deploy:hello 2775 (was deploy:deploy 755)" in lines["app root"]
    assert "changed: add deploy to group adm" in lines["app user"]
    assert "changed: write /etc/sudoers.d/wsgideploy-hello" in lines["sudoers"]
    assert lines["packages"].endswith("unchanged") and lines["deploy user"].endswith("unchanged")
    assert "doctor ok" in fab(stage, "-H", "fresh", "doctor").stdout


def test_a_second_app_of_the_same_deploy_user_gets_its_own_drop_in_and_both_deploy(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    server = servers["viasudo"]
    source = copy_app(EXAMPLE, tmp_path / "app", version="1.0.0")
    host = {"hostname": server.address, "port": 22, "user": "deploy", "identity": str(server_lab.ssh_key),
            "known_hosts": str(server.known_hosts), "setup_user": "admin"}
    nginx = dict(DEBIAN_FRONT_TABLES["nginx"])
    for name, port in (("hello", APP_PORT), ("blog", APP_PORT + 1)):
        app = {"name": name, "source": str(source), "wsgi": "app:app", "root": f"/srv/{name}", "server_name": "_",
               "listen": port}
        stage = write_inventory(name, app=app, hosts={f"{name}-web": host}, nginx=nginx)  # an alias per stage
        fab(stage, "-H", f"{name}-web", "setup", timeout=900)
        fab(stage, "-H", f"{name}-web", "deploy", timeout=900)
        assert get(server.address, port, "/info")[0] == 200
    assert server.run("ls -A /etc/sudoers.d").stdout.split() == [
        "90-admin", "README", "wsgideploy-blog", "wsgideploy-hello"]
    assert server.run("visudo -c -q && echo ok").stdout.strip() == "ok"  # both files load together
    assert "wsgideploy-hello" not in server.run("cat /etc/sudoers.d/wsgideploy-blog").stdout
    assert get(server.address, APP_PORT, "/info")[0] == 200  # the first app still answers
    assert_root_closed(server, "blog", "/srv/blog")
    assert as_user(server, "blog", "ls /srv/hello") != 0 and as_user(server, "hello", "ls /srv/blog") != 0


def test_uninstall_removes_one_app_with_only_the_dropin_sudo_rights_and_the_other_keeps_serving(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    """After the test above: ``blog`` goes (its units, nginx site, logrotate snippet, releases and venvs, as the
    deploy user with the drop-in's rights only), ``hello`` keeps serving; a second uninstall finds nothing;
    ``--purge`` removes the root with shared/. Under CI, without --yes, nothing is touched (exit 2)."""
    server = servers["viasudo"]
    source = copy_app(EXAMPLE, tmp_path / "app", version="1.0.0")
    host = {"hostname": server.address, "port": 22, "user": "deploy", "identity": str(server_lab.ssh_key),
            "known_hosts": str(server.known_hosts), "setup_user": "admin"}
    app = {"name": "blog", "source": str(source), "wsgi": "app:app", "root": "/srv/blog", "server_name": "_",
           "listen": APP_PORT + 1}
    stage = write_inventory("blog", app=app, hosts={"blog-web": host}, nginx=dict(DEBIAN_FRONT_TABLES["nginx"]))
    files = ("/etc/systemd/system/wsgideploy-blog@.service", "/etc/nginx/sites-available/blog",
             "/etc/nginx/sites-enabled/blog", "/etc/logrotate.d/wsgideploy-blog")
    present = "for f in " + " ".join(files) + "; do [ -e $f ] && echo $f; done; true"
    assert server.run(present).stdout.split() == list(files), "the deploy installed them"
    assert get(server.address, APP_PORT + 1, "/info")[0] == 200

    refused = fab(stage, "-H", "blog-web", "uninstall", expect=2, env={"CI": "true"})
    assert "pass --yes" in refused.stderr and get(server.address, APP_PORT + 1, "/info")[0] == 200

    done = fab(stage, "-H", "blog-web", "uninstall", "--yes", timeout=300)
    print(done.stdout)
    lines = step_lines(done.stdout, "blog-web")
    assert "gunicorn stopped" in lines["stop"] and "nginx site removed, nginx reloaded" in lines["site"]
    assert lines["units"].endswith("1 removed") and "removed /etc/logrotate.d/wsgideploy-blog" in lines["logrotate"]
    assert "kept /srv/blog/shared" in done.stdout and "--purge" in done.stdout
    assert server.run(present).stdout.split() == []
    assert server.run("ls -A /srv/blog").stdout.split() == ["shared"]
    assert server.run("systemctl list-units --all --plain --no-legend 'wsgideploy-blog*'").stdout.strip() == ""
    assert server.run("ss -Hltn 'sport = :%d'" % (APP_PORT + 1)).stdout.strip() == "", "nginx no longer listens"
    assert get(server.address, APP_PORT, "/info")[0] == 200, "the other app keeps serving"
    assert server.run("systemctl is-active nginx").stdout.strip() == "active"

    again = fab(stage, "-H", "blog-web", "uninstall", "--yes")
    lines = step_lines(again.stdout, "blog-web")
    assert "none installed" in lines["site"] and "none installed" in lines["units"], again.stdout

    purged = fab(stage, "-H", "blog-web", "uninstall", "--purge", "--yes")
    assert "removed /srv/blog" in step_lines(purged.stdout, "blog-web")["files"], purged.stdout
    assert server.run("test -e /srv/blog && echo yes || echo no").stdout.strip() == "no"
    assert get(server.address, APP_PORT, "/info")[0] == 200


def test_https_files_mode_deploys_with_only_the_dropin_sudo_rights(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    """The certificate's root commands (tasks/commands/certificate.py) as sudo matches them: `setup` writes
    them into the app's drop-in, and a deploy as the deploy user, with no other rights, installs the pair and
    serves HTTPS (its health check verifies the chain and the name against the test's own CA)."""
    server = servers["fresh"]
    source = copy_app(EXAMPLE, tmp_path / "app", version="1.0.0")
    keys = tmp_path / "keys"
    keys.mkdir()
    ca_file, chain, key = make_ca_and_certificate(keys, "secure.test")
    host = {"hostname": server.address, "port": 22, "user": "deploy", "identity": str(server_lab.ssh_key),
            "known_hosts": str(server.known_hosts), "setup_user": "root"}
    app = {"name": "secure", "source": str(source), "wsgi": "app:app", "root": "/srv/secure",
           "server_name": "secure.test", "listen": APP_PORT + 5,
           "tls": {"mode": "files", "certificate": str(chain), "key": str(key), "ca": str(ca_file), "port": 8443}}
    stage = write_inventory("secure", app=app, hosts={"secure-web": host}, nginx=dict(DEBIAN_FRONT_TABLES["nginx"]))
    fab(stage, "-H", "secure-web", "setup", timeout=900)
    dropin = server.run("cat /etc/sudoers.d/wsgideploy-secure").stdout
    assert "/etc/ssl/wsgideploy/secure/privkey.pem.new" in dropin and "NOPASSWD: ALL" not in dropin
    done = fab(stage, "-H", "secure-web", "deploy", expect=None, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "certificate and key installed" in done.stdout and "HTTPS 200" in done.stdout, done.stdout
    assert server.run("stat -c '%U:%G %a' /etc/ssl/wsgideploy/secure/privkey.pem").stdout.strip() == "root:root 600"


def test_https_acme_deploys_with_only_the_dropin_sudo_rights(
        servers: dict[str, Server], server_lab: ServerLab, write_inventory: Any, tmp_path: Path) -> None:  # noqa: F811
    """acme the same way: `setup` installs certbot and writes its commands (`certbot certonly --config
    <the app's file>`...) into the drop-in; the deploy gets the certificate from pebble (on a server of its
    own) through sudo with those rights only, and serves HTTPS."""
    server = servers["fresh"]
    try:
        [acme] = server_lab.boot_servers(["acme"], fronts=["pebble"])
    except ServerError as exc:
        unavailable(str(exc))
    ca = start_pebble(acme)
    ca.add_host("acme.test", server.address)
    server.run("cat > /usr/local/share/ca-certificates/pebble-listener.crt && update-ca-certificates >/dev/null",
               input=ca.listener_ca)
    root = tmp_path / "pebble-root.pem"
    root.write_text(ca.issuing_root())
    source = copy_app(EXAMPLE, tmp_path / "app", version="1.0.0")
    host = {"hostname": server.address, "port": 22, "user": "deploy", "identity": str(server_lab.ssh_key),
            "known_hosts": str(server.known_hosts), "setup_user": "root"}
    app = {"name": "certified", "source": str(source), "wsgi": "app:app", "root": "/srv/certified",
           "server_name": "acme.test", "listen": 80,
           "tls": {"mode": "acme", "email": "ops@example.com", "directory": ca.directory, "ca": str(root)}}
    stage = write_inventory("certified", app=app, hosts={"certified-web": host},
                            nginx=dict(DEBIAN_FRONT_TABLES["nginx"]))
    fab(stage, "-H", "certified-web", "setup", timeout=900)
    assert server.run("command -v certbot").stdout.strip() == "/usr/bin/certbot"
    dropin = server.run("cat /etc/sudoers.d/wsgideploy-certified").stdout
    assert "/usr/bin/certbot certonly --config /etc/wsgideploy/certbot/certified.ini" in dropin
    done = fab(stage, "-H", "certified-web", "deploy", expect=None, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "certificate for acme.test" in done.stdout and "HTTPS 200" in done.stdout, done.stdout
