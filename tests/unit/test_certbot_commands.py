"""certbot's script and deploy hook (tasks/commands/certbot.py, tasks/recipes/certbot.sh).

The deploy hooks are data: each front server's table with the hook it must give. The script is run for
real with a fake ``certbot`` first on PATH (it records its arguments and answers as told), so the
arguments, the success lines and the failure's reason are checked without a CA; the booted
test_certbot_recipe runs it against pebble.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from wsgideploy.commands import certbot
from wsgideploy.settings import App, Apache, Lighttpd, Nginx, Tls

AUTO = "if [ -d /run/systemd/system ]; then {systemd}; else {signal}; fi"
HOOKS = [
    # (id, proxy, settings, hook)
    ("nginx debian", "nginx", Nginx(),
     "nginx -t -q && " + AUTO.format(systemd="systemctl reload nginx", signal="nginx -s reload")),
    ("nginx systemd", "nginx", Nginx(control="systemd"), "nginx -t -q && systemctl reload nginx"),
    ("nginx own prefix", "nginx", Nginx(control="auto", conf="/opt/n/nginx.conf", binary="/opt/n/sbin/nginx"),
     "/opt/n/sbin/nginx -c /opt/n/nginx.conf -t -q && /opt/n/sbin/nginx -c /opt/n/nginx.conf -s reload"),
    ("apache debian", "apache", Apache(),
     "apache2ctl -t && " + AUTO.format(systemd="systemctl reload apache2", signal="apache2ctl -k graceful")),
    ("apache signal", "apache", Apache(control="signal", conf="/opt/a/apache2.conf"),
     "apache2ctl -f /opt/a/apache2.conf -t && apache2ctl -f /opt/a/apache2.conf -k graceful"),
    ("lighttpd debian", "lighttpd", Lighttpd(),
     "lighttpd -tt -f /etc/lighttpd/lighttpd.conf && " + AUTO.format(
         systemd="systemctl reload lighttpd", signal="pkill --signal USR1 --pidfile /run/lighttpd.pid")),
    ("lighttpd signal", "lighttpd", Lighttpd(control="signal", pidfile="/run/lt.pid"),
     "lighttpd -tt -f /etc/lighttpd/lighttpd.conf && pkill --signal USR1 --pidfile /run/lt.pid"),
]


@pytest.mark.parametrize("proxy, settings, hook", [pytest.param(*case[1:], id=case[0]) for case in HOOKS])
def test_the_deploy_hook_tests_the_front_servers_config_then_reloads_it(proxy: str, settings: object,
                                                                        hook: str) -> None:
    assert certbot.deploy_hook(proxy, settings) == hook


def test_a_deploy_hook_needs_the_front_servers_own_table() -> None:
    with pytest.raises(ValueError, match="no deploy hook for proxy 'nginx' with Apache settings"):
        certbot.deploy_hook("nginx", Apache())


def app(tls: Tls | None = Tls(mode="acme", email="ops@example.com"), server_name: str = "example.com www.example.com"
        ) -> App:
    return App(name="hello", source=Path("/nonexistent"), wsgi="app:app", root="/srv/hello",
               server_name=server_name, tls=tls)


@pytest.mark.parametrize("tls", [None, Tls(mode="files", certificate=Path("/c"), key=Path("/k"))],
                         ids=["no tls", "files"])
def test_only_acme_apps_get_a_certbot_script(tls: Tls | None) -> None:
    with pytest.raises(ValueError, match="acme"):
        certbot.obtain(app(tls), Nginx())


def test_the_script_parses_and_names_the_values(bash_syntax) -> None:  # type: ignore[no-untyped-def]
    text = certbot.obtain(app(), Nginx())
    assert bash_syntax(text) is None
    assert "CONFIG=/etc/wsgideploy/certbot/hello.ini\n" in text and "WEBROOT=/var/lib/wsgideploy/acme/hello\n" in text
    assert "DOMAINS='example.com www.example.com'\n" in text and "\ncert-name = hello\n" in text
    assert "DIRECTORY=https://acme-v02.api.letsencrypt.org/directory\n" in text
    assert 'as_root() { sudo -n "$@"; }' in text and text.rstrip().endswith("certbot_obtain")


FAKE_CERTBOT = """#!/bin/bash
printf '%s\\n' "$@" > "$FAKE_ARGS"
cat "$FAKE_OUTPUT"
exit "$FAKE_EXIT"
"""


def run_script(tmp_path: Path, output: str, code: int) -> tuple[subprocess.CompletedProcess[str], list[str], Path]:
    """The script for `app()` with its webroot under ``tmp_path``, a fake certbot answering ``output``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "certbot").write_text(FAKE_CERTBOT)
    (bin_dir / "certbot").chmod(0o755)
    (tmp_path / "output").write_text(output)
    webroot = tmp_path / "acme"
    text = (certbot.obtain(app(), Nginx(), sudo=False).replace("/var/lib/wsgideploy/acme/hello", str(webroot))
            .replace(certbot.CONFIG_DIR, str(tmp_path / "etc")))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_ARGS": str(tmp_path / "args"),
           "FAKE_OUTPUT": str(tmp_path / "output"), "FAKE_EXIT": str(code)}
    done = subprocess.run(["bash", "-s"], input=text, env=env, capture_output=True, text=True, timeout=30)
    args = (tmp_path / "args").read_text().splitlines() if (tmp_path / "args").exists() else []
    return done, args, webroot


def test_the_script_makes_the_webroot_and_asks_certbot_for_every_name(tmp_path: Path) -> None:
    done, args, webroot = run_script(tmp_path, "Account registered.\nSuccessfully received certificate.\n", 0)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["Successfully received certificate.", "wsgideploy-fact:tls_ready=yes"]
    assert (webroot / ".well-known" / "acme-challenge").is_dir()
    assert (webroot / "certificate").is_file(), "the marker a deploy reads (certbot.marker_path)"
    config = tmp_path / "etc" / "hello.ini"
    assert args == ["certonly", "--config", str(config)], "fixed arguments: sudoers names the command"
    settings = dict(line.split(" = ", 1) for line in config.read_text().splitlines() if not line.startswith("#"))
    assert settings == {
        "non-interactive": "true", "agree-tos": "true", "no-eff-email": "true", "keep-until-expiring": "true",
        "email": "ops@example.com", "server": "https://acme-v02.api.letsencrypt.org/directory",
        "cert-name": "hello", "authenticator": "webroot", "webroot-path": str(webroot),
        "domains": "example.com, www.example.com", "deploy-hook": certbot.deploy_hook("nginx", Nginx())}


def test_a_failure_leaves_no_marker(tmp_path: Path) -> None:
    done, _, webroot = run_script(tmp_path, "  Domain: example.com\n", 1)
    assert done.returncode == 1 and not (webroot / "certificate").exists()
    assert "tls_ready" not in done.stdout


def test_certbots_root_commands_have_fixed_arguments() -> None:
    argvs = [c.argv for c in certbot.root_commands(app())]
    assert ("/usr/bin/certbot", "certonly", "--config", "/etc/wsgideploy/certbot/hello.ini") in argvs
    assert ("/usr/bin/install", "-o", "root", "-g", "root", "-m", "0644", "/dev/stdin",
            "/var/lib/wsgideploy/acme/hello/certificate") in argvs


def test_a_failure_shows_certbots_reason_lines(tmp_path: Path) -> None:
    output = ("Requesting a certificate for example.com\n\nCertbot failed to authenticate some domains.\n"
              "  Domain: example.com\n  Type:   unauthorized\n  Detail: 1.2.3.4: Invalid response: 404\n\n"
              "Hint: the Certificate Authority failed to download the challenge files.\n")
    done, _, _ = run_script(tmp_path, output, 1)
    assert done.returncode == 1
    assert done.stderr == ("certbot could not get a certificate for example.com www.example.com from "
                           "https://acme-v02.api.letsencrypt.org/directory:\n  Domain: example.com\n"
                           "  Type:   unauthorized\n  Detail: 1.2.3.4: Invalid response: 404\n")


def test_a_failure_without_reason_lines_shows_certbots_last_lines(tmp_path: Path) -> None:
    done, _, _ = run_script(tmp_path, "An unexpected error occurred:\nConnection refused\n", 1)
    assert done.returncode == 1
    assert done.stderr.endswith(":\nAn unexpected error occurred:\nConnection refused\n")


def test_behind_lighttpd_the_hook_first_copies_the_pair_where_www_data_reads_the_key() -> None:
    """lighttpd reads the key again at each reload, after dropping root: certbot's folders are root's (0700)."""
    lighttpd = app()
    lighttpd = App(**{**lighttpd.__dict__, "server": "fastcgi", "proxy": "lighttpd"})
    hook = certbot.renewal_hook(lighttpd, Lighttpd())
    assert hook == (
        "install -d -o root -g root -m 0755 /etc/ssl/wsgideploy/hello && "
        "install -o root -g www-data -m 0640 /etc/letsencrypt/live/hello/privkey.pem "
        "/etc/ssl/wsgideploy/hello/privkey.pem.new && "
        "install -o root -g root -m 0644 /etc/letsencrypt/live/hello/fullchain.pem "
        "/etc/ssl/wsgideploy/hello/fullchain.pem.new && "
        "mv -f /etc/ssl/wsgideploy/hello/privkey.pem.new /etc/ssl/wsgideploy/hello/privkey.pem && "
        "mv -f /etc/ssl/wsgideploy/hello/fullchain.pem.new /etc/ssl/wsgideploy/hello/fullchain.pem && "
        + certbot.deploy_hook("lighttpd", Lighttpd()))
    assert certbot.renewal_hook(app(), Nginx()) == certbot.deploy_hook("nginx", Nginx()), "nginx reads certbot's own"
    assert f"deploy-hook = {hook}\n" in certbot.config_text(lighttpd, Lighttpd())
