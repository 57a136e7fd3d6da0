"""Self-checks of the simulated-host fixtures: sshd login with a pinned host key, nginx as the
test user, and a teardown that leaves no process and no directory behind."""
from __future__ import annotations

import time

import paramiko
import pytest

if __package__:
    from .helpers import TestHost, host_factory, http_get, ssh_run
else:
    from helpers import TestHost, host_factory, http_get, ssh_run
from tests.hosts.processes import pid_alive, processes_under, read_pidfile


def _client(host: TestHost, known_hosts: str | None) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    if known_hosts is not None:
        client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect("127.0.0.1", port=host.ssh_port, username=host.user, key_filename=str(host.identity),
                   look_for_keys=False, allow_agent=False, timeout=10)
    return client


def test_sshd_accepts_key_and_pins_host_key(make_host, tmp_path):
    web1, web2 = make_host("web1"), make_host("web2")
    assert web1.ssh_port != web2.ssh_port and web1.base != web2.base

    for host in (web1, web2):
        client = _client(host, str(host.known_hosts))
        try:
            _, stdout, _ = client.exec_command("whoami; sudo -n true && echo sudo-ok", timeout=30)
            assert stdout.read().decode().split() == [host.user, "sudo-ok"]
            assert stdout.channel.recv_exit_status() == 0
        finally:
            client.close()

    # An unknown host key is rejected...
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        _client(web1, None)
    # ...and so is a changed one: web2's key recorded for web1's port.
    forged = tmp_path / "known_hosts"
    key = web2.known_hosts.read_text().split(None, 1)[1]
    forged.write_text(f"[127.0.0.1]:{web1.ssh_port} {key}")
    with pytest.raises(paramiko.BadHostKeyException):
        _client(web1, str(forged))
    # Another host's client key is not authorised here.
    with pytest.raises(paramiko.AuthenticationException):
        client = paramiko.SSHClient()
        client.load_host_keys(str(web1.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect("127.0.0.1", port=web1.ssh_port, username=web1.user, key_filename=str(web2.identity),
                       look_for_keys=False, allow_agent=False, timeout=10)


def test_nginx_prefix_runs_as_the_user(make_host):
    host = make_host()
    site = host.nginx.sites_enabled / "check"
    site.write_text(f"server {{ listen 127.0.0.1:{host.http_port}; server_name localhost;\n"
                    f"  location / {{ return 200 'prefix-ok\\n'; }} }}\n")
    nginx = host.nginx_table()
    rc, out, err = ssh_run(host, f"{nginx['binary']} -t -c {nginx['conf']} && {nginx['binary']} -c {nginx['conf']}")
    assert rc == 0, err
    assert http_get(host.http_port) == (200, "prefix-ok\n")
    pid = host.nginx.pid
    assert pid is not None
    # /usr/sbin is not on a non-root SSH session's PATH: hence nginx_table()["binary"].
    rc, out, _ = ssh_run(host, "command -v nginx || echo no-nginx-on-path")
    assert out.strip() in ("no-nginx-on-path", nginx["binary"])


def test_teardown_leaves_nothing_behind(deploy_user):
    with host_factory(deploy_user) as make:
        host = make()
        # A fake app server (old and new master, as during a gunicorn USR2 upgrade) and nginx,
        # all started over SSH as the user and detached from the session.
        current = host.app_root / "current"
        rc, _, err = ssh_run(host, (
            f"mkdir -p {host.run_dir} {current} && cd {current} && "
            f"(setsid bash -c 'exec -a \"gunicorn: master [old]\" sleep 600' </dev/null >/dev/null 2>&1 & "
            f"echo $! > {host.run_dir}/gunicorn.pid) && "
            f"(setsid bash -c 'exec -a \"gunicorn: master [new]\" sleep 600' </dev/null >/dev/null 2>&1 & "
            f"echo $! > {host.run_dir}/gunicorn.pid.2) && "
            f"{host.nginx_table()['binary']} -c {host.nginx_conf}"))
        assert rc == 0, err
        time.sleep(0.2)
        pids = {
            "gunicorn": read_pidfile(host.run_dir / "gunicorn.pid"),
            "gunicorn.2": read_pidfile(host.run_dir / "gunicorn.pid.2"),
            "nginx": host.nginx.pid,
            "sshd": host.sshd.pid,
        }
        assert all(pid_alive(p) for p in pids.values()), pids
    assert not [name for name, pid in pids.items() if pid_alive(pid)]
    assert not host.base.exists()
    assert processes_under(host.base) == []


def test_teardown_fails_on_a_stray_process(deploy_user):
    with pytest.raises(pytest.fail.Exception, match="left running") as failure:
        with host_factory(deploy_user) as make:
            host = make()
            rc, out, err = ssh_run(host, f"cd {host.base} && (setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!)")
            assert rc == 0, err
            stray = int(out.strip())
            assert pid_alive(stray)
    assert f"pid {stray}" in str(failure.value)
    assert not pid_alive(stray)
    assert not host.base.exists()


def test_sshd_stop_ends_open_sessions(make_host):
    host = make_host()
    client = _client(host, str(host.known_hosts))
    try:
        _, stdout, _ = client.exec_command("echo $$; exec sleep 600", timeout=10)
        session_pid = int(stdout.readline())
        assert pid_alive(session_pid)
        assert host.sshd.stop() is not None
        assert host.sshd.pid is None
        assert not pid_alive(session_pid)
    finally:
        client.close()
