"""The naive fabfile: the deploy as a plain Fabric script writes it, one ``c.run``/``c.put`` per step.

What a person writes on a first try with ``fabric.Connection``: each shell step is its own
remote command (its own SSH round trip), files go up with ``c.put`` (SFTP), and waiting for
gunicorn is a loop of ``c.run`` calls. It does the same work as the floor (benchmarks/floor.sh):
unpack, shared links, a reused or new venv, the app check, the nginx site, ``current``,
gunicorn USR2 (or start) and an HTTP check. Hosts run side by side, one thread per host
(what ``ThreadingGroup`` does, but each host has its own paths here). nginx is Debian's: the site
goes to /etc/nginx through ``sudo``, and systemd reloads it.

    python3 benchmarks/naive_fabfile.py PLAN.json

PLAN.json: ``{"mode": "deploy"|"rollback", "release": id, "source": dir, "keep": 5,
"shared": [...], "python": "python3", "hosts": [{alias, hostname, port, user, identity, known_hosts,
root, name, http_port, sites_available, sites_enabled, config_dir}]}``
(``config_dir`` holds that host's gunicorn.conf.py and nginx.conf). Prints one JSON line with
the seconds each host took; exits 1 if any host failed.
"""
from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fabric import Connection
from paramiko import RejectPolicy

EXCLUDE = {"__pycache__", ".git", ".venv", "venv"}
POLL = 0.05


def connect(host: dict) -> Connection:
    c = Connection(host["hostname"], user=host["user"], port=host["port"],
                   connect_kwargs={"key_filename": host["identity"], "look_for_keys": False,
                                   "allow_agent": False})
    c.client.load_host_keys(host["known_hosts"])
    c.client.set_missing_host_key_policy(RejectPolicy())
    return c


def tarball(source: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source)
            if path.is_file() and not EXCLUDE & set(rel.parts) and path.suffix != ".pyc":
                tar.add(path, arcname=rel.as_posix())
    return buffer.getvalue()


def wait_for(c: Connection, command: str, what: str, timeout: float = 60) -> str:
    """Run ``command`` until it succeeds (one round trip per try); return its output."""
    end = time.monotonic() + timeout
    while True:
        result = c.run(command, warn=True, hide=True)
        if result.ok:
            return result.stdout.strip()
        if time.monotonic() > end:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(POLL)


def start_or_upgrade(c: Connection, root: str) -> None:
    run = f"{root}/shared/run"
    old = c.run(f"cat {run}/gunicorn.pid 2>/dev/null || true", hide=True).stdout.strip()
    alive = bool(old) and c.run(f"kill -0 {old}", warn=True, hide=True).ok
    c.run(f"rm -f {run}/gunicorn.ready.* {run}/gunicorn.pid.2", hide=True)
    if alive:
        c.run(f"kill -USR2 {old}", hide=True)
        new = wait_for(c, f"test -s {run}/gunicorn.pid.2 && cat {run}/gunicorn.pid.2", "the new master")
        wait_for(c, f"test -e {run}/gunicorn.ready.{new}", "the new workers")
        c.run(f"kill -TERM {old}", hide=True)
        wait_for(c, f"! kill -0 {old} 2>/dev/null", "the old master to stop")
        wait_for(c, f"test \"$(cat {run}/gunicorn.pid)\" = {new}", "the new master's pidfile")
    else:
        c.run(f"rm -f {run}/gunicorn.pid", hide=True)
        c.run(f"(cd {root}/current && exec setsid {root}/current/venv/bin/python {root}/current/venv/bin/gunicorn "
              f"-c {root}/current/.bench/gunicorn.conf.py) < /dev/null >> {root}/shared/log/gunicorn.stdout.log 2>&1 &",
              hide=True)
        pid = wait_for(c, f"test -s {run}/gunicorn.pid && cat {run}/gunicorn.pid", "the pidfile")
        wait_for(c, f"test -e {run}/gunicorn.ready.{pid}", "the workers")


def health(c: Connection, port: int) -> None:
    wait_for(c, f"curl -fsS -o /dev/null -H 'Host: localhost' http://127.0.0.1:{port}/", "HTTP 200")


def switch(c: Connection, root: str, release: str) -> None:
    c.run(f"ln -sfn releases/{release} {root}/.current.tmp", hide=True)
    c.run(f"mv -T {root}/.current.tmp {root}/current", hide=True)


def deploy(host: dict, plan: dict, archive: bytes, requirements_hash: str) -> None:
    root, release = host["root"], plan["release"]
    rel = f"{root}/releases/{release}"
    c = connect(host)
    try:
        c.run(f"mkdir -p {root}/releases {root}/shared/run {root}/shared/log {root}/venvs {root}/.deploy", hide=True)
        c.run(f"mkdir {root}/.deploy/lock", hide=True)
        try:
            c.put(io.BytesIO(archive), f"{root}/.deploy/{release}.tar.gz")
            c.run(f"mkdir {rel}", hide=True)
            c.run(f"tar -xzf {root}/.deploy/{release}.tar.gz -C {rel}", hide=True)
            c.run(f"rm {root}/.deploy/{release}.tar.gz", hide=True)
            for path in plan["shared"]:
                c.run(f"mkdir -p {root}/shared/{path}", hide=True)
                c.run(f"ln -s {root}/shared/{path} {rel}/{path}", hide=True)
            version = c.run(f"{plan['python']} -c 'import sys; print(\"%d.%d.%d\" % sys.version_info[:3])'",
                            hide=True).stdout.strip()
            venv = f"{root}/venvs/py{version}-{requirements_hash}"
            if not c.run(f"test -f {venv}/.complete", warn=True, hide=True).ok:
                c.run(f"rm -rf {venv}", hide=True)
                c.run(f"{plan['python']} -m venv {venv}", hide=True)
                c.run(f"PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_USE_PEP517=1 "
                      f"{venv}/bin/pip install -r {rel}/requirements.txt gunicorn", hide=True)
                c.run(f"touch {venv}/.complete", hide=True)
            c.run(f"ln -sfn {venv} {rel}/venv", hide=True)
            c.run(f"mkdir -p {rel}/.bench", hide=True)
            for name in ("gunicorn.conf.py", "nginx.conf"):
                c.put(str(Path(host["config_dir"]) / name), f"{rel}/.bench/{name}")
            c.run(f"cd {rel} && BENCH_CHECK_RELEASE={rel} {rel}/venv/bin/gunicorn --check-config "
                  f"-c {rel}/.bench/gunicorn.conf.py", hide=True)
            site = f"{host['sites_available']}/{host['name']}"
            c.run(f"sudo -n cp {rel}/.bench/nginx.conf {site}", hide=True)
            c.run(f"sudo -n ln -sfn {site} {host['sites_enabled']}/{host['name']}", hide=True)
            c.run("sudo -n nginx -t", hide=True)
            if not c.run("sudo -n systemctl reload nginx", warn=True, hide=True).ok:
                c.run("sudo -n systemctl start nginx", hide=True)
            switch(c, root, release)
            start_or_upgrade(c, root)
            health(c, host["http_port"])
            releases = c.run(f"ls -1 {root}/releases", hide=True).stdout.split()
            for old in sorted(releases)[:-plan["keep"]]:
                c.run(f"rm -rf {root}/releases/{old}", hide=True)
        finally:
            c.run(f"rmdir {root}/.deploy/lock", hide=True)
    finally:
        c.close()


def rollback(host: dict) -> None:
    root = host["root"]
    c = connect(host)
    try:
        c.run(f"mkdir {root}/.deploy/lock", hide=True)
        try:
            live = c.run(f"readlink {root}/current", hide=True).stdout.strip().rsplit("/", 1)[-1]
            releases = sorted(c.run(f"ls -1 {root}/releases", hide=True).stdout.split())
            older = [r for r in releases if r < live]
            if not older:
                raise RuntimeError(f"no release before {live}")
            switch(c, root, older[-1])
            start_or_upgrade(c, root)
            health(c, host["http_port"])
        finally:
            c.run(f"rmdir {root}/.deploy/lock", hide=True)
    finally:
        c.close()


def main(argv: list[str]) -> int:
    plan = json.loads(Path(argv[1]).read_text())
    archive, requirements_hash = b"", ""
    if plan["mode"] == "deploy":
        source = Path(plan["source"])
        archive = tarball(source)
        requirements_hash = hashlib.sha256((source / "requirements.txt").read_bytes()).hexdigest()[:16]
    seconds: dict[str, float] = {}
    errors: dict[str, str] = {}
    lock = threading.Lock()

    def one(host: dict) -> None:
        start = time.monotonic()
        try:
            if plan["mode"] == "deploy":
                deploy(host, plan, archive, requirements_hash)
            else:
                rollback(host)
        except Exception as exc:  # report every host's failure, not just the first
            with lock:
                errors[host["alias"]] = f"{type(exc).__name__}: {exc}"
        with lock:
            seconds[host["alias"]] = round(time.monotonic() - start, 3)

    with ThreadPoolExecutor(max_workers=len(plan["hosts"])) as pool:
        list(pool.map(one, plan["hosts"]))
    print(json.dumps({"seconds": seconds, "errors": errors}))
    for alias, error in errors.items():
        print(f"[{alias}] {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
