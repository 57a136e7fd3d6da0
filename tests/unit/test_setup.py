"""``setup`` and ``doctor``: the packages of each mode, the scripts (parsed, shellchecked, hostile values
never expanded), the lines a run prints, and the exit codes of bad input. Nothing here needs a server:
a fake connection answers with the facts a host would print, or the scripts run in a local bash in
plan mode (which changes nothing)."""
from __future__ import annotations

import io
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from wsgideploy.commands import setup as commands
from wsgideploy.errors import ExitCode, StepFailed
from wsgideploy.hostrun import HostRun
from wsgideploy.inventory import App, Host, Nginx, Ssh, Stage
from wsgideploy.modes import APP_SERVERS
from wsgideploy.output import Reporter
from wsgideploy.provision import (
    SetupRefused,
    deploy_user_of,
    doctor_host,
    public_key,
    setup_host,
)
from wsgideploy.transport import RemoteResult

from .contract_scripts import shellcheck_findings

BASE = {"python3-venv", "sudo", "logrotate", "acl"}
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEx"


def stage_for(server: str = "gunicorn", proxy: str = "nginx", **app: object) -> Stage:
    fields = {"name": "hello", "source": Path("/nonexistent"), "wsgi": "app:app", "root": "/srv/hello",
              "server": server, "proxy": proxy, **app}
    host = Host(alias="web1", stage="production", hostname="web1.example.com", user="deploy")
    return Stage(name="production", path=Path("production.toml"), app=App(**fields), nginx=Nginx(), ssh=Ssh(),  # type: ignore[arg-type]
                 vars={}, hosts=(host,))


MODES = [(server, front) for server, cls in APP_SERVERS.items() for front in cls.fronts]


@pytest.mark.parametrize(("server", "proxy", "expected"), [
    ("gunicorn", "nginx", {"nginx"}),
    ("uwsgi", "nginx", {"nginx", "build-essential", "python3-dev"}),
    ("gevent", "nginx", {"nginx"}),
    ("fastcgi", "nginx", {"nginx"}),
    ("fastcgi", "lighttpd", {"lighttpd"}),
    ("fastcgi", "apache", {"apache2", "libapache2-mod-fcgid"}),
    ("mod_wsgi", "apache", {"apache2", "libapache2-mod-wsgi-py3"}),
    ("cgi", "apache", {"apache2"}),
])
def test_each_mode_installs_its_front_server_the_base_packages_and_what_its_app_server_needs(
        server: str, proxy: str, expected: set[str]) -> None:
    packages = commands.host_packages(stage_for(server, proxy).app)
    assert set(packages) == expected | BASE
    assert len(packages) == len(set(packages))
    assert packages[0] == {"nginx": "nginx", "apache": "apache2", "lighttpd": "lighttpd"}[proxy]


@pytest.mark.parametrize(("server", "proxy"), MODES)
def test_build_tools_are_installed_only_where_a_mode_compiles(server: str, proxy: str) -> None:
    packages = commands.host_packages(stage_for(server, proxy).app)
    assert ("build-essential" in packages) == (server == "uwsgi")


@pytest.mark.parametrize(("os_id", "version"), [("debian", "12"), ("debian", "13"), ("ubuntu", "22.04"),
                                                ("ubuntu", "24.04"), ("ubuntu", "22.10")])
def test_debian_12_and_ubuntu_22_04_and_later_are_supported(os_id: str, version: str) -> None:
    assert commands.distribution_problem(os_id, version, "x") is None


@pytest.mark.parametrize(("os_id", "version", "pretty"), [
    ("debian", "11", "Debian GNU/Linux 11 (bullseye)"), ("ubuntu", "20.04", "Ubuntu 20.04.6 LTS"),
    ("centos", "7", "CentOS Linux 7 (Core)"), ("unknown", "unknown", "no /etc/os-release"),
    ("debian", "", "Debian GNU/Linux trixie/sid")])
def test_an_unsupported_distribution_is_named_as_detected(os_id: str, version: str, pretty: str) -> None:
    problem = commands.distribution_problem(os_id, version, pretty)
    assert problem is not None
    assert f"detected {pretty} (ID={os_id}, VERSION_ID={version})" in problem
    assert "nothing was changed" in problem


def all_scripts(stage: Stage, plan: bool) -> list[str]:
    items = commands.setup_items(stage, stage.hosts[0], KEY, plan)
    return [commands.system_script(stage.app), commands.doctor_script(stage, stage.hosts[0]),
            *(item.body for item in items), *(item.script for item in items)]


HOSTILE_ROOT = "/srv/o'neil;a&b|c $(touch PWNED) `touch PWNED`"


@pytest.mark.parametrize("plan", [False, True])
def test_every_script_parses_and_passes_shellcheck_even_over_a_hostile_root(
        plan: bool, bash_syntax: Callable[[str], str | None], monkeypatch: pytest.MonkeyPatch) -> None:
    stage = stage_for()
    # sudoers cannot name such a root (setup refuses it: the next test); the other items can
    monkeypatch.setattr(commands, "sudoers_text", lambda stage, host: "deploy ALL=(root) NOPASSWD: /bin/true\n")
    hostile = replace(stage, app=replace(stage.app, root=HOSTILE_ROOT))
    scripts = all_scripts(stage, plan) + all_scripts(hostile, plan)
    for text in scripts:
        assert bash_syntax(text) is None, text[-400:]
    # unused functions and values of the recipe, and a script quoted whole as a value (as_root's body)
    findings = shellcheck_findings(scripts, ignored=("SC2317", "SC2015", "SC2034", "SC2016"))
    assert not any(findings.values()), [f for f in findings.values() if f]


def run_plan(run: str, values: dict[str, str | int], cwd: Path) -> str:
    """An item's script in a local bash with PLAN=1 (it changes nothing); its stdout."""
    done = subprocess.run(["bash", "-c", commands.item_body(run, values, plan=True)], cwd=cwd,
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_hostile_names_reach_the_host_as_text_and_are_never_run(tmp_path: Path) -> None:
    root = str(tmp_path / "o'neil $(touch PWNED) `touch PWNED2`; touch PWNED3")
    out = run_plan("setup_app_root", {"app_root": root, "deploy_user": "nobody-such-user",
                                      "app_user": "nobody-such-app"}, tmp_path)
    assert "would" not in out  # the facts say what would change; the controller adds "would: "
    assert f"create {root} (nobody-such-user:nobody-such-user, 0750)" in out
    key = KEY + " $(touch PWNED4) 'x"
    out = run_plan("setup_deploy_user", {"deploy_user": "nobody-such-user", "public_key": key}, tmp_path)
    assert "create user nobody-such-user" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_sudoers_item_compares_the_drop_in_with_its_text(tmp_path: Path) -> None:
    dropin = tmp_path / "wsgideploy-hello"
    values: dict[str, str | int] = {"sudoers_file": str(dropin), "sudoers_text": "deploy ALL=(root) NOPASSWD: /bin/true\n"}
    assert "change=write " in run_plan("setup_sudoers", values, tmp_path)
    dropin.write_text("deploy ALL=(root) NOPASSWD: ALL\n")
    assert "change=replace " in run_plan("setup_sudoers", values, tmp_path)


def test_the_drop_in_is_one_file_per_app_with_privileged_commands_only_and_visudo_accepts_it(tmp_path: Path) -> None:
    stage = stage_for()
    text = commands.sudoers_text(stage, stage.hosts[0])
    assert commands.sudoers_file(stage.app) == "/etc/sudoers.d/wsgideploy-hello"
    assert text.startswith("# /etc/sudoers.d/wsgideploy-hello: ")
    assert "ALL=(root) NOPASSWD: ALL" not in text and "*" not in text
    assert re.search(r"^deploy ALL=\(root\) NOPASSWD: WSGIDEPLOY_DEPLOY_HELLO_", text, re.MULTILINE)
    other = commands.sudoers_text(stage_for(name="blog", root="/srv/blog"), stage.hosts[0])
    aliases = re.compile(r"^Cmnd_Alias (\w+)", re.MULTILINE)
    assert not set(aliases.findall(text)) & set(aliases.findall(other))  # two apps' drop-ins load together
    assert "/usr/bin/systemctl reload nginx" in commands.sudo_checks(stage, stage.hosts[0])
    visudo = subprocess.run(["bash", "-c", "command -v visudo || ls /usr/sbin/visudo"], capture_output=True,
                            text=True, check=False).stdout.strip()
    if not visudo:
        pytest.skip("visudo is not installed")
    for name, content in (("hello", text), ("blog", other)):
        (tmp_path / name).write_text(content)
    (tmp_path / "sudoers").write_text(f"#include {tmp_path}/hello\n#include {tmp_path}/blog\n")
    checked = subprocess.run([visudo, "-c", "-q", "-f", str(tmp_path / "sudoers")], capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, checked.stderr


class FakeConnection:
    """Answers each script with the next canned (exit code, stdout, stderr)."""

    def __init__(self, answers: list[tuple[int, str, str]]) -> None:
        self.answers = answers
        self.scripts: list[str] = []

    def run_script(self, body: str, stdin: bytes | None = None, timeout: float | None = None,
                   on_line: Callable[[str], None] | None = None) -> RemoteResult:
        self.scripts.append(body)
        return RemoteResult(*self.answers.pop(0))


def fact(key: str, value: str) -> str:
    return f"wsgideploy-fact:{key}={value}\n"


DEBIAN = (0, fact("os_id", "debian") + fact("os_version", "12") + fact("os_name", "Debian GNU/Linux 12 (bookworm)")
          + fact("login", "root") + fact("init", "systemd"), "")


def host_run(answers: list[tuple[int, str, str]], stage: Stage | None = None) -> tuple[HostRun, io.StringIO]:
    stage = stage or stage_for()
    stream = io.StringIO()
    run = HostRun(stage=stage, host=stage.hosts[0], conn=FakeConnection(answers), out=Reporter(stream=stream))  # type: ignore[arg-type]
    return run, stream


def item_lines(stream: io.StringIO) -> dict[str, str]:
    lines = {}
    for line in stream.getvalue().splitlines():
        match = re.match(r"^\[web1\] (\S+(?: user| root)?)\s+(ok|FAILED)\s+\S+s(?:  (.*))?$", line)
        if match:
            lines[match[1]] = f"{match[2]} {match[3] or ''}".strip()
    return lines


def test_a_plan_prints_one_line_per_item_with_what_would_change() -> None:
    changes = ["install nginx logrotate", "create user deploy (login by key only)", "unchanged",
               "create /srv/hello (deploy:deploy, 0750)", "write /etc/sudoers.d/wsgideploy-hello (checked by visudo)"]
    run, stream = host_run([DEBIAN] + [(0, fact("change", c), "") for c in changes])
    assert setup_host(run, "deploy", KEY, plan=True) is False
    assert item_lines(stream) == {
        "system": "ok Debian GNU/Linux 12 (bookworm), init systemd, as root",
        "packages": "ok would: install nginx logrotate",
        "deploy user": "ok would: create user deploy (login by key only)",
        "app user": "ok unchanged",
        "app root": "ok would: create /srv/hello (deploy:deploy, 0750)",
        "sudoers": "ok would: write /etc/sudoers.d/wsgideploy-hello (checked by visudo)"}
    assert all("PLAN=1" in script for script in run.conn.scripts[1:])  # type: ignore[attr-defined]


def test_a_second_setup_says_unchanged_for_each_item_one_line_each() -> None:
    nothing_missing = (0, DEBIAN[1] + fact("missing_packages", ""), "")
    run, stream = host_run([nothing_missing] + [(0, fact("change", "unchanged"), "")] * 5)
    assert setup_host(run, "deploy", KEY) is True
    assert set(list(item_lines(stream).values())[1:]) == {"ok unchanged"}
    assert len(stream.getvalue().splitlines()) == 6  # no "packages ..." line: apt does not run


def test_the_packages_line_is_announced_when_apt_runs() -> None:
    missing = (0, DEBIAN[1] + fact("missing_packages", "nginx"), "")
    run, stream = host_run([missing] + [(0, fact("change", "unchanged"), "")] * 5)
    setup_host(run, "deploy", KEY)
    assert "[web1] packages     ..." in stream.getvalue()


def test_a_login_without_root_or_sudo_exits_4_and_runs_nothing_more() -> None:
    run, _ = host_run([(1, fact("refused", "alice"), "alice is neither root nor allowed `sudo -n`")])
    with pytest.raises(StepFailed) as failed:
        setup_host(run, "deploy", KEY)
    assert failed.value.code == ExitCode.CONNECT and "sudo -n" in failed.value.message
    assert len(run.conn.scripts) == 1  # type: ignore[attr-defined]


def test_an_unsupported_distribution_exits_2_before_any_change() -> None:
    centos = (0, fact("os_id", "centos") + fact("os_version", "7") + fact("os_name", "CentOS Linux 7 (Core)"), "")
    run, _ = host_run([centos])
    with pytest.raises(StepFailed) as failed:
        setup_host(run, "deploy", KEY)
    assert failed.value.code == ExitCode.USAGE and "detected CentOS Linux 7 (Core)" in failed.value.message
    assert len(run.conn.scripts) == 1  # type: ignore[attr-defined]


def test_packages_that_cannot_be_installed_stop_setup_before_any_user_is_made() -> None:
    run, _ = host_run([DEBIAN, (1, "", "E: Unable to locate package nginx")])
    with pytest.raises(StepFailed) as failed:
        setup_host(run, "deploy", KEY)
    assert failed.value.code == ExitCode.FAILED and failed.value.step == "packages"
    assert len(run.conn.scripts) == 2  # type: ignore[attr-defined]


def test_a_root_that_sudoers_cannot_name_is_refused_before_connecting() -> None:
    stage = stage_for(root="/srv/a b")
    with pytest.raises(SetupRefused, match="no sudoers drop-in can allow this app's root commands"):
        deploy_user_of(stage, stage.hosts[0])


@pytest.mark.parametrize(("user", "app_user", "said"), [
    (None, None, "set user in its table"), ("hello", None, "both 'hello'"), ("root", None, "must not be root"),
    ("deploy", "deploy", "both 'deploy'")])
def test_a_deploy_user_that_cannot_be_set_up_is_a_usage_error(user: str | None, app_user: str | None, said: str) -> None:
    stage = stage_for(app_user=app_user)
    with pytest.raises(SetupRefused, match=re.escape(said)):
        deploy_user_of(stage, replace(stage.hosts[0], user=user))


def test_the_public_key_comes_from_the_pub_file_or_from_the_private_key(tmp_path: Path) -> None:
    with pytest.raises(SetupRefused, match="needs the host's identity"):
        public_key(None, "web1")
    identity = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", str(identity)], check=True)
    expected = " ".join(Path(f"{identity}.pub").read_text().split()[:2])
    assert public_key(str(identity), "web1") == expected
    Path(f"{identity}.pub").unlink()
    assert public_key(str(identity), "web1") == expected
    identity.write_text("not a key")
    with pytest.raises(SetupRefused, match="cannot read the public key"):
        public_key(str(identity), "web1")


def test_doctor_names_each_missing_thing_with_its_fix_and_fails() -> None:
    facts = (fact("check_systemd", "missing PID 1 is sh, not systemd") + fact("check_packages", "missing nginx")
             + fact("check_app_user", "ok hello") + fact("check_app_root", "ok /srv/hello")
             + fact("check_sudoers", "missing no /etc/sudoers.d/wsgideploy-hello"))
    run, stream = host_run([(0, facts, "")])
    with pytest.raises(StepFailed) as failed:
        doctor_host(run)
    assert failed.value.code == ExitCode.FAILED
    assert "missing: packages, sudoers" in failed.value.message
    out = stream.getvalue()
    assert "[web1] packages     MISSING nginx  (fix: wsgideploy -H web1 setup (or: sudo apt-get install nginx))" in out
    assert "[web1] systemd      ok      PID 1 is sh, not systemd (the app runs through pidfiles)" in out


def test_doctor_requires_systemd_only_when_the_app_asks_for_it() -> None:
    facts = "".join(fact(key, "ok x") for _, key in commands.DOCTOR_CHECKS if key != "check_systemd")
    facts += fact("check_systemd", "missing PID 1 is sh, not systemd")
    run, _ = host_run([(0, facts, "")], stage_for(supervisor="systemd"))
    with pytest.raises(StepFailed, match="missing: systemd"):
        doctor_host(run)


@pytest.mark.parametrize(("host_user", "said"), [("", "setup needs the deploy user's name: set user in its table"),
                                                 ('user = "hello"', "the deploy user and the app user are both")])
def test_setup_refuses_a_host_it_cannot_set_up_before_connecting(tmp_path: Path, host_user: str, said: str) -> None:
    identity = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(identity)], check=True)
    (tmp_path / "inventories").mkdir()
    (tmp_path / "inventories" / "test.toml").write_text(
        f'[app]\nname = "hello"\nsource = "{tmp_path}"\nwsgi = "app:app"\nroot = "/srv/hello"\n\n'
        f'[hosts.web1]\nhostname = "192.0.2.1"\nidentity = "{identity}"\n{host_user}\n')
    done = subprocess.run(["wsgideploy", "-H", "web1", "setup"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "WSGIDEPLOY_INVENTORIES": str(tmp_path / "inventories")},
                          check=False)
    assert done.returncode == ExitCode.USAGE, done.stdout + done.stderr
    assert done.stderr.strip().startswith(f"wsgideploy: web1: {said}") and len(done.stderr.splitlines()) == 1
    assert "connect" not in done.stdout


@pytest.mark.parametrize("mode, proxy, added", [
    ("acme", "nginx", ("certbot",)), ("files", "nginx", ()), ("acme", "lighttpd", ("certbot", "lighttpd-mod-openssl")),
    ("files", "lighttpd", ("lighttpd-mod-openssl",)), ("acme", "apache", ("certbot",)),
])
def test_https_adds_certbot_for_acme_and_lighttpds_tls_module(mode: str, proxy: str, added: tuple[str, ...]) -> None:
    from dataclasses import replace
    from wsgideploy.settings import Tls
    server = {"nginx": "gunicorn", "apache": "mod_wsgi", "lighttpd": "fastcgi"}[proxy]
    plain = stage_for(server, proxy).app
    tls = Tls(mode="acme", email="ops@example.com") if mode == "acme" else \
        Tls(mode="files", certificate=Path("/c.pem"), key=Path("/k.pem"))
    assert commands.host_packages(replace(plain, tls=tls)) == commands.host_packages(plain) + added
