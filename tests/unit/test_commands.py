"""What the script builders in ``tasks/commands/`` emit, by equality and containment."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import shlex
import sys
import zipfile
from pathlib import Path

import pytest

from wsgideploy.commands import health, nginx, release, venv
from wsgideploy.commands.shell import PRELUDE, maybe_sudo, script
from wsgideploy.commands.recipe import recipe
from wsgideploy.protocol import parse_facts
from wsgideploy.inventory import Nginx
from wsgideploy.layout import Layout

RID = "20261121T101500Z"
ROOT = "/srv/hello"
LAYOUT = Layout(ROOT)


def body(text: str) -> list[str]:
    """The lines of a script after the prelude."""
    assert text.startswith(PRELUDE)
    return text[len(PRELUDE):].splitlines()


def position(text: str, needle: str) -> int:
    index = text.find(needle)
    assert index >= 0, f"{needle!r} not in script"
    return index


# --- shell helpers ------------------------------------------------------------

def test_script_joins_parts_after_the_prelude_and_skips_empty_ones() -> None:
    assert script("\necho a\n", "", "echo b\n\n") == PRELUDE + "echo a\necho b\n"


@pytest.mark.parametrize("sudo, expected", [(True, "sudo -n nginx -t"), (False, "nginx -t")])
def test_maybe_sudo_adds_non_interactive_sudo_only_when_asked(sudo: bool, expected: str) -> None:
    assert maybe_sudo("nginx -t", sudo) == expected


# --- release --------------------------------------------------------------------

def test_switch_current_makes_a_new_link_then_renames_it_over_current() -> None:
    assert body(release.switch_current(LAYOUT, RID)) == [
        f'[ -d {ROOT}/releases/{RID} ] || fail "release {RID} does not exist on this host"',
        f"ln -sfn releases/{RID} {ROOT}/.current.tmp",
        f"mv -T {ROOT}/.current.tmp {ROOT}/current",
    ]


def test_switch_current_link_is_relative_so_the_root_can_move() -> None:
    assert f"ln -sfn {ROOT}" not in release.switch_current(LAYOUT, RID)


def test_unpack_extracts_into_hidden_partial_dir_and_renames_into_place_last() -> None:
    lines = body(release.unpack(LAYOUT, RID, {}))
    partial = f"{ROOT}/releases/.{RID}.partial"
    assert lines == [
        f'[ ! -e {ROOT}/releases/{RID} ] || fail "release {RID} already exists on this host"',
        f"rm -rf {partial}",
        f"mkdir -p {partial}",
        f'tar -xzf - -C {partial} || fail "the upload of release {RID} did not complete"',
        f"mv -T {partial} {ROOT}/releases/{RID}",
    ]


def test_unpack_links_shared_dirs_and_files_inside_the_partial_dir_before_the_rename() -> None:
    text = release.unpack(LAYOUT, RID, {"instance": "dir", ".env": "file", "conf/app.ini": "file"})
    partial = f"{ROOT}/releases/.{RID}.partial"
    lines = body(text)
    assert lines[-1] == f"mv -T {partial} {ROOT}/releases/{RID}"
    links = [line for line in lines if line.startswith("ln -s ")]
    assert links == [
        f"ln -s {ROOT}/shared/instance {partial}/instance",
        f"ln -s {ROOT}/shared/.env {partial}/.env",
        f"ln -s {ROOT}/shared/conf/app.ini {partial}/conf/app.ini",
    ]
    assert f"(umask 002; mkdir -p {ROOT}/shared/instance)" in lines
    assert f"[ -e {ROOT}/shared/.env ] || : > {ROOT}/shared/.env" in text
    assert f"rm -rf {partial}/conf/app.ini" in lines
    assert position(text, "tar -xzf") < position(text, "ln -s ")


def test_unpack_creates_a_shared_file_without_truncating_an_existing_one() -> None:
    text = release.unpack(LAYOUT, RID, {"db.sqlite3": "file"})
    assert f"[ -e {ROOT}/shared/db.sqlite3 ] || : > {ROOT}/shared/db.sqlite3" in text
    assert f"mkdir -p {ROOT}/shared/db.sqlite3" not in text


def test_link_venv_points_the_release_venv_at_the_shared_venv_relatively() -> None:
    assert release.link_venv(LAYOUT, RID, "py3.11.7-abc") == (
        f"ln -sfn ../../venvs/py3.11.7-abc {ROOT}/releases/{RID}/venv")


def test_prepare_creates_the_layout_and_reports_python_current_and_user() -> None:
    text = release.prepare(LAYOUT, "python3.11")
    assert (f"mkdir -p {ROOT}/releases {ROOT}/shared/run {ROOT}/shared/log {ROOT}/venvs {ROOT}/.deploy"
            in body(text))
    for fact in ("current", "fingerprint", "live_bad", "user"):
        assert f'echo "wsgideploy-fact:{fact}=' in text
    assert "want=python3.11\n" in text and "\nfind_python\n" in text  # the Python: tests/unit/test_interpreter.py
    assert "sudo -n install -d" in text


def test_list_releases_reports_current_and_each_release_dir() -> None:
    text = release.list_releases(LAYOUT)
    assert f"readlink {ROOT}/current" in text
    assert f"for d in {ROOT}/releases/*/; do" in text
    assert 'echo "wsgideploy-fact:release=$(basename "$d")"' in text


# --- facts ----------------------------------------------------------------------

PARSE_FACTS_CASES = [
    ("", {}),
    ("wsgideploy-fact:pid=123\n", {"pid": "123"}),
    ("noise\nwsgideploy-fact:a=1\nmore noise\nwsgideploy-fact:b=2", {"a": "1", "b": "2"}),
    ("wsgideploy-fact:body=a=b=c\n", {"body": "a=b=c"}),
    ("wsgideploy-fact:current=\n", {"current": ""}),
    ("wsgideploy-fact:action=already running\n", {"action": "already running"}),
    ("wsgideploy-fact:release=1\nwsgideploy-fact:release=2\n", {"release": "2"}),
    ("  wsgideploy-fact:indented=1\nprefix wsgideploy-fact:x=1\n", {}),
    ("wsgideploy-fact:pid=1\r\nwsgideploy-fact:ok=yes\r\n", {"pid": "1", "ok": "yes"}),
]


@pytest.mark.parametrize("stdout, expected", PARSE_FACTS_CASES)
def test_parse_facts_reads_only_fact_lines(stdout: str, expected: dict[str, str]) -> None:
    assert parse_facts(stdout) == expected


# --- nginx ----------------------------------------------------------------------

NGINX_COMMAND_CASES = [
    (Nginx(), ("-t",), "sudo -n nginx -t"),
    (Nginx(sudo=False), ("-t",), "nginx -t"),
    (Nginx(sudo=False, conf="/opt/nginx/nginx.conf", binary="/opt/nginx/sbin/nginx"), ("-s", "reload"),
     "/opt/nginx/sbin/nginx -c /opt/nginx/nginx.conf -s reload"),
    (Nginx(conf="/etc/nginx/custom.conf"), ("-t",), "sudo -n nginx -c /etc/nginx/custom.conf -t"),
    (Nginx(sudo=False), (), "nginx"),
    (Nginx(sudo=False), ("-g", "daemon off;"), "nginx -g 'daemon off;'"),
]


@pytest.mark.parametrize("config, args, expected", NGINX_COMMAND_CASES)
def test_nginx_command_adds_sudo_and_conf_as_configured(config: Nginx, args: tuple[str, ...], expected: str) -> None:
    assert nginx.nginx_command(config, *args) == expected


def site_install_body() -> str:
    """site_install of tasks/recipes/site.sh (run for real in tests/unit/test_site_recipe.py)."""
    text = recipe("site")
    start = text.index("\nsite_install() {")
    return text[start:text.index("\n}\n", start) + 3]


def test_install_site_tests_the_config_and_restores_the_backup_on_failure() -> None:
    text = nginx.install_site(Nginx(), "hello", "server_name hello;")
    available = "/etc/nginx/sites-available/hello"
    lines = body(text)
    assert f"SITE_AVAILABLE={available}" in lines and "SITE_ENABLED=/etc/nginx/sites-enabled/hello" in lines
    assert f"SITE_KEPT={available}.wsgideploy-live" in lines
    assert "SITE_TEXT='server_name hello;'" in lines  # the controller's text: root reads no file of the host
    assert "nginx_cmd() { sudo -n nginx \"$@\"; }" in lines and 'as_root() { sudo -n "$@"; }' in lines
    assert 'root_install() { sudo -n install -o root -g root -m 0644 /dev/stdin "$1"; }' in lines
    assert lines[-1] == "site_install"
    install = site_install_body()
    # order: keep the live site, install, test; restore only inside the failure branch
    assert (position(install, "site_keep") < position(install, 'printf \'%s\' "$SITE_TEXT" | root_install "$SITE_AVAILABLE"')
            < position(install, 'as_root ln -sfn "$SITE_AVAILABLE" "$SITE_ENABLED"')
            < position(install, "if ! out=$(site_test 2>&1); then") < position(install, "    site_restore"))
    assert "site_test() { nginx_cmd -t; }" in recipe("nginx")


def test_install_site_without_sudo_never_calls_sudo() -> None:
    config = Nginx(sudo=False, sites_available="/opt/nginx/sa", sites_enabled="/opt/nginx/se",
                   conf="/opt/nginx/nginx.conf", binary="/opt/nginx/sbin/nginx")
    text = nginx.install_site(config, "hello", "/tmp/site.conf")
    assert "sudo" not in text
    assert 'nginx_cmd() { /opt/nginx/sbin/nginx -c /opt/nginx/nginx.conf "$@"; }' in text
    assert "\nSITE_AVAILABLE=/opt/nginx/sa/hello\nSITE_ENABLED=/opt/nginx/se/hello\n" in text


def test_install_site_fails_early_when_the_sites_directories_are_missing() -> None:
    install = site_install_body().splitlines()
    checks = [n for n, line in enumerate(install) if line.lstrip().startswith("[ -d ")]
    assert [install[n].strip() for n in checks] == [
        '[ -d "${SITE_AVAILABLE%/*}" ] || fail "$SITES_LABEL ${SITE_AVAILABLE%/*} does not exist on the host"',
        '[ -d "${SITE_ENABLED%/*}" ] || fail "$SITES_LABEL ${SITE_ENABLED%/*} does not exist on the host"',
    ]
    assert max(checks) < next(n for n, line in enumerate(install) if line.strip() == "site_keep")
    assert "SITES_LABEL='nginx sites directory'" in body(nginx.install_site(Nginx(), "hello", "/tmp/site.conf"))


NO_SYSTEMD = ["systemctl reload", "systemctl start", "systemctl is-active", "active_main_pid nginx"]
RELOAD_CASES = [
    # (config, present, absent)
    # (process.sh, in every script, defines active_main_pid with a systemctl show; only systemd's control calls it)
    (Nginx(control="signal"), ["if sudo -n nginx -s reload 2>/dev/null; then", "out=$(sudo -n nginx 2>&1)"],
     NO_SYSTEMD),
    (Nginx(control="signal", sudo=False, conf="/opt/n.conf"), ["if nginx -c /opt/n.conf -s reload 2>/dev/null"],
     NO_SYSTEMD + ["sudo"]),
    # the unit's state needs no root: only reload and start go through sudo
    (Nginx(control="systemd"), ["nginx_master() { active_main_pid nginx; }",
                                "sudo -n systemctl reload nginx", "sudo -n systemctl start nginx"],
     ["-s reload", "/run/systemd/system", "sudo -n systemctl show"]),
    (Nginx(control="systemd", sudo=False), ["nginx_master() { active_main_pid nginx; }",
                                            '$(systemctl show -p ActiveState -p MainPID "$1" 2>/dev/null || true)'],
     ["sudo"]),
    (Nginx(), ["if [ -d /run/systemd/system ]; then", "sudo -n systemctl reload nginx",
               "sudo -n nginx -s reload"], []),
    (Nginx(conf="/etc/nginx/custom.conf"), ["sudo -n nginx -c /etc/nginx/custom.conf -s reload"],
     NO_SYSTEMD + ["/run/systemd/system"]),
]


@pytest.mark.parametrize("config, present, absent", RELOAD_CASES)
def test_nginx_reload_uses_the_configured_control(config: Nginx, present: list[str], absent: list[str]) -> None:
    text = nginx.reload(config)
    for needle in present:
        assert needle in text
    for needle in absent:
        assert needle not in text


@pytest.mark.parametrize("config", [Nginx(control="signal"), Nginx(control="systemd"), Nginx()])
def test_nginx_reload_reports_reloaded_or_started(config: Nginx) -> None:
    text = nginx.reload(config)
    assert "nginx_report" in text  # run for real in tests/unit/test_nginx_publish.py
    report = recipe("nginx")[recipe("nginx").index("nginx_report() {"):]
    assert "fact nginx reloaded" in report and "fact nginx started" in report


# --- health ---------------------------------------------------------------------

def health_argv(text: str) -> list[str]:
    """The words of the health check command line (the script is one command)."""
    return shlex.split(text[len(PRELUDE):])


def test_health_check_embeds_port_path_host_status_and_timeout() -> None:
    argv = health_argv(health.http_check(8080, "/health", "hello.example.com", 204, 12.5))
    assert argv[:2] == ["python3", "-c"]
    assert json.loads(argv[3]) == {"address": "127.0.0.1", "port": 8080, "path": "/health", "host": "hello.example.com",
                                   "status": 204, "timeout": 12.5}
    assert argv[4:6] == ["||", "fail"]
    assert argv[6] == "health check of http://127.0.0.1:8080/health (Host: hello.example.com) failed"


def test_health_probe_is_valid_python_that_prints_facts() -> None:
    argv = health_argv(health.http_check(80, "/", "localhost", 200, 30))
    compile(argv[2], "probe", "exec")
    assert "wsgideploy-fact:status=" in argv[2]
    assert "wsgideploy-fact:body=" in argv[2]


def test_health_check_path_with_shell_characters_reaches_the_probe_intact() -> None:
    argv = health_argv(health.http_check(80, "/health?a=1&b='x'", "localhost", 200, 30))
    assert json.loads(argv[3])["path"] == "/health?a=1&b='x'"


# --- venv -----------------------------------------------------------------------

KEY = "py3.11.7-0123456789abcdef"


def _run_venv_script(tmp_path, python: str, then: str = "echo AFTER") -> subprocess.CompletedProcess:
    layout = Layout(str(tmp_path))
    (tmp_path / ".deploy").mkdir(exist_ok=True)
    (tmp_path / "venvs").mkdir(exist_ok=True)
    text = venv.ensure_venv(layout, KEY, python, ["gunicorn"]) + then + "\n"
    return subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=30)


def test_ensure_venv_reuses_a_completed_venv_and_runs_what_follows(tmp_path) -> None:
    complete = tmp_path / "venvs" / KEY / ".wsgideploy-complete"
    complete.parent.mkdir(parents=True)
    complete.touch()
    result = _run_venv_script(tmp_path, python="/nonexistent/python")
    assert result.returncode == 0, result.stderr
    assert "wsgideploy-fact:venv=reused" in result.stdout
    assert result.stdout.rstrip().endswith("AFTER"), "steps after a reused venv (the link) must run"


def test_ensure_venv_removes_a_half_built_venv_and_a_failed_build(tmp_path) -> None:
    leftover = tmp_path / "venvs" / KEY / "bin"
    leftover.mkdir(parents=True)  # an earlier build that never completed
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho 'no ensurepip here' >&2\nexit 1\n")
    fake_python.chmod(0o755)
    result = _run_venv_script(tmp_path, python=str(fake_python))
    assert result.returncode == 1
    assert "could not create a virtualenv" in result.stderr and "no ensurepip here" in result.stderr
    assert not (tmp_path / "venvs" / KEY).exists()
    assert "AFTER" not in result.stdout


def test_ensure_venv_marks_success_only_after_pip_install() -> None:
    text = venv.ensure_venv(LAYOUT, KEY, "python3", ["-r", "req.txt", "gunicorn"])
    assert position(text, "/bin/python -m pip install -r req.txt gunicorn") < position(text, "touch ")
    assert position(text, ".wsgideploy-complete ]") < position(text, "-m venv")


def test_ensure_venv_quotes_each_pip_argument() -> None:
    text = venv.ensure_venv(LAYOUT, KEY, "python3", ["-r", "/srv/x/requirements.txt", "gunicorn>=22"])
    assert f"{ROOT}/venvs/{KEY}/bin/python -m pip install -r /srv/x/requirements.txt 'gunicorn>=22' >> " in text


def test_ensure_venv_with_pip_and_a_cache_dir_points_pip_at_the_hosts_wheel_cache() -> None:
    text = venv.ensure_venv(LAYOUT, KEY, "python3", ["gunicorn"], cache_dir=LAYOUT.cache_dir)
    assert f"PIP_CACHE_DIR={ROOT}/.cache/pip PIP_NO_INPUT=1 " in text
    assert f"{ROOT}/venvs/{KEY}/bin/python -m pip install gunicorn >> " in text


def test_ensure_venv_with_pip_and_no_cache_dir_leaves_pips_own_cache() -> None:
    text = venv.ensure_venv(LAYOUT, KEY, "python3", ["gunicorn"])
    assert "PIP_CACHE_DIR" not in text and "uv" not in text


def test_ensure_venv_with_uv_builds_a_venv_without_pip_and_installs_with_uv() -> None:
    text = venv.ensure_venv(LAYOUT, KEY, "python3", ["-r", "/srv/x/requirements.txt", "gunicorn>=22"],
                            installer="uv", cache_dir=LAYOUT.cache_dir)
    assert f"python3 -m venv --without-pip {ROOT}/venvs/{KEY} > " in text
    assert (f'UV_CACHE_DIR={ROOT}/.cache/uv UV_NO_PROGRESS=1 "$uv" pip install --python {ROOT}/venvs/{KEY}/bin/python '
            f"-r /srv/x/requirements.txt 'gunicorn>=22' >> {ROOT}/.deploy/pip-{KEY}.log 2>&1") in text
    assert "bin/pip" not in text and "PIP_" not in text
    assert position(text, '"$uv" pip install') < position(text, "touch ")
    assert position(text, "command -v uv") < position(text, "-m venv")


def test_ensure_venv_refuses_an_unknown_installer() -> None:
    with pytest.raises(ValueError, match="installer must be one of"):
        venv.ensure_venv(LAYOUT, KEY, "python3", ["gunicorn"], installer="conda")


# Real builds, offline: the venv installs a tiny wheel made here (--no-index).

def _probe_wheel(directory) -> str:
    """A minimal wheel of a module ``wsgideploy_probe`` (VALUE = 42); returns its path."""
    files = {
        "wsgideploy_probe.py": "VALUE = 42\n",
        "wsgideploy_probe-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: wsgideploy-probe\nVersion: 1.0\n",
        "wsgideploy_probe-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                "Tag: py3-none-any\n",
    }
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
              f"{len(text.encode())}" for name, text in files.items()]
    files["wsgideploy_probe-1.0.dist-info/RECORD"] = "\n".join(record + ["wsgideploy_probe-1.0.dist-info/RECORD,,"]) + "\n"
    path = directory / "wsgideploy_probe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return str(path)


def _uv_bin_dir() -> str:
    """The directory of a uv binary (a test dependency); skipped locally without it, a failure under CI."""
    try:
        from uv import find_uv_bin
        found = find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
    if not found:
        message = "uv is not installed (pip install -e .[test])"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return str(Path(found).resolve().parent)


def _build_venv(tmp_path, installer: str, key: str = KEY, path_dirs: str = "") -> subprocess.CompletedProcess:
    layout = Layout(str(tmp_path / "app"))
    for sub in (".deploy", "venvs"):
        (tmp_path / "app" / sub).mkdir(parents=True, exist_ok=True)
    wheel = _probe_wheel(tmp_path)
    text = venv.ensure_venv(layout, key, sys.executable, ["--no-index", wheel], installer=installer,
                            cache_dir=layout.cache_dir)
    env = {**os.environ, "PATH": f"{path_dirs}:{os.environ['PATH']}" if path_dirs else os.environ["PATH"]}
    return subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=120, env=env)


def _probe_value(tmp_path, key: str = KEY) -> str:
    python = tmp_path / "app" / "venvs" / key / "bin" / "python"
    return subprocess.run([str(python), "-c", "import wsgideploy_probe; print(wsgideploy_probe.VALUE)"],
                          capture_output=True, text=True, timeout=30).stdout.strip()


def test_ensure_venv_builds_a_real_venv_with_pip(tmp_path) -> None:
    result = _build_venv(tmp_path, "pip")
    assert result.returncode == 0, result.stderr
    assert "wsgideploy-fact:venv=built" in result.stdout and "wsgideploy-fact:installer=pip" in result.stdout
    assert _probe_value(tmp_path) == "42"
    assert (tmp_path / "app" / "venvs" / KEY / ".wsgideploy-complete").is_file()


def test_a_venv_built_with_pip_gets_pip_from_the_wheel_python_bundles_unpacked_once(tmp_path) -> None:
    """No pip installed into each venv (ensurepip was 1.8 s of a 2.5 s build on a 2-core host): the
    bundled pip wheel is unpacked once into .deploy/pip and put on each venv's path; what else ensurepip
    installs (setuptools up to Python 3.11) is installed into the venv as before."""
    assert _build_venv(tmp_path, "pip").returncode == 0
    second = _build_venv(tmp_path, "pip", key="py3-other")
    assert second.returncode == 0, second.stderr
    unpacked = list((tmp_path / "app" / ".deploy" / "pip").iterdir())
    assert [p.name.split("-")[0] for p in unpacked] == ["pip"], "one copy, shared by both venvs"
    for key in (KEY, "py3-other"):
        python = tmp_path / "app" / "venvs" / key / "bin" / "python"
        assert not (python.parent / "pip").exists()
        version = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, text=True, timeout=60)
        assert version.returncode == 0 and f"from {unpacked[0]}/pip " in version.stdout, version
        setuptools = subprocess.run([str(python), "-c", "import setuptools; print(setuptools.__file__)"],
                                    capture_output=True, text=True, timeout=60)
        if sys.version_info < (3, 12):
            assert setuptools.stdout.startswith(str(python.parent.parent)), setuptools
        else:
            assert setuptools.returncode != 0, "ensurepip installs no setuptools from 3.12 on"


def test_ensure_venv_builds_a_real_venv_with_uv_sharing_the_hosts_cache(tmp_path) -> None:
    uv_dir = _uv_bin_dir()
    first = _build_venv(tmp_path, "uv", path_dirs=uv_dir)
    assert first.returncode == 0, first.stderr
    assert "wsgideploy-fact:venv=built" in first.stdout and "wsgideploy-fact:installer=uv" in first.stdout
    assert _probe_value(tmp_path) == "42"
    assert not (tmp_path / "app" / "venvs" / KEY / "bin" / "pip").exists(), "a uv venv has no pip"
    assert (tmp_path / "app" / ".cache" / "uv").is_dir()
    second = _build_venv(tmp_path, "uv", key="py3-other", path_dirs=uv_dir)
    assert second.returncode == 0, second.stderr
    assert _probe_value(tmp_path, "py3-other") == "42"
    again = _build_venv(tmp_path, "uv", path_dirs=uv_dir)
    assert "wsgideploy-fact:venv=reused" in again.stdout


def test_ensure_venv_with_uv_removes_a_failed_build_and_shows_the_log(tmp_path) -> None:
    layout = Layout(str(tmp_path))
    (tmp_path / ".deploy").mkdir()
    (tmp_path / "venvs").mkdir()
    text = venv.ensure_venv(layout, KEY, sys.executable, ["--no-index", "no-such-package-wsgideploy"],
                            installer="uv", cache_dir=layout.cache_dir)
    env = {**os.environ, "PATH": f"{_uv_bin_dir()}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-c", text + "echo AFTER\n"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert "uv pip install failed (full log on the host: " in result.stderr
    assert "no-such-package-wsgideploy" in result.stderr, "the log tail goes to stderr"
    assert not (tmp_path / "venvs" / KEY).exists()
    assert "AFTER" not in result.stdout


def _bare_path() -> str:
    path = "/usr/bin:/bin"
    if shutil.which("uv", path=path + ":/usr/local/sbin:/usr/sbin:/sbin"):
        pytest.skip("uv is installed system-wide here")
    return path


def test_ensure_venv_with_uv_missing_on_the_host_says_how_to_get_it(tmp_path) -> None:
    layout = Layout(str(tmp_path))
    (tmp_path / ".deploy").mkdir()
    text = venv.ensure_venv(layout, KEY, sys.executable, ["gunicorn"], installer="uv")
    result = subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=30,
                            env={"PATH": _bare_path(), "HOME": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.strip() == ('installer = "uv" but uv is not installed on the host: '
                                     'pip install --user uv, or use installer = "pip"')
    assert not (tmp_path / "venvs" / KEY).exists()


def test_ensure_venv_with_uv_finds_it_in_the_users_local_bin(tmp_path) -> None:
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    fake_uv = home / ".local" / "bin" / "uv"
    fake_uv.write_text('#!/bin/sh\necho "UV_CACHE_DIR=$UV_CACHE_DIR $*" > "$HOME/uv-args"\n')
    fake_uv.chmod(0o755)
    layout = Layout(str(tmp_path / "app"))
    (tmp_path / "app" / ".deploy").mkdir(parents=True)
    text = venv.ensure_venv(layout, KEY, sys.executable, ["gunicorn"], installer="uv", cache_dir=layout.cache_dir)
    result = subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=60,
                            env={"PATH": _bare_path(), "HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert (home / "uv-args").read_text().strip() == (
        f"UV_CACHE_DIR={layout.cache_dir}/uv pip install --python {layout.venv(KEY)}/bin/python gunicorn")


