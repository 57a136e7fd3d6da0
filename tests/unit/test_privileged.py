"""What wsgideploy runs as root is declared in one place (tasks/commands/privileged.py), and nothing else
runs as root: every command the scripts of a deploy, a rollback, a start and a stop run through ``sudo -n``
(directly, or through ``as_root``, ``root_install`` and the front servers' root wrappers) is one of the
declared commands, and the sudoers drop-in built from the list passes ``visudo -cf``.

The scripts are built by the deploy's own step builders for the stage of the golden files
(tests/unit/test_golden_deploy.py: examples/hello, gunicorn behind nginx), and for the same app behind
Apache and lighttpd. A call is read from the script text: its words after the wrapper, with the script's
own values (``SITE_AVAILABLE=...``) put in; a word only known at run time (``"$1"``, ``$(...)``) must
stand where a declared command has a word (sudo decides its value, as the drop-in names each one), and
``"$@"`` (any arguments) is never allowed outside a wrapper's definition.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest
from wsgideploy import hostrun, removal, steps
from wsgideploy.commands import certificate, history, lock, privileged, release
from wsgideploy.commands.front import SYSTEM_PATHS, binary_path
from wsgideploy.inventory import Stage, load_stage
from wsgideploy.output import Reporter
from wsgideploy.source import LocalRelease
from wsgideploy.transport import HostConnection

from tests.unit.test_golden_deploy import INVENTORY, RELEASE

ANY = "\x00any"            # a word the script knows only at run time
ALL = "\x00all"            # "$@": any number of words
CALL = re.compile(r"(?:^|(?<=[\s;(|&{!]))(?P<name>[a-z_]+)(?=[ \t])")
DEFINITION = re.compile(r"^(?P<name>[a-z_]+)\(\) \{")
ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>\S.*)$")
VARIABLE = re.compile(r'\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*|[0-9]))')
PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./@%+:,=-]*$")  # a value that reads the same bare or in double quotes


def stage_for(tmp_path: Path, proxy: str = "nginx") -> Stage:
    path = tmp_path / f"{proxy}.toml"
    server = {"nginx": "gunicorn", "apache": "mod_wsgi", "lighttpd": "fastcgi"}[proxy]
    path.write_text(INVENTORY.replace('server_name = "hello.example.com"',
                                      f'server_name = "hello.example.com"\nserver = "{server}"\nproxy = "{proxy}"'))
    return load_stage(path)


def host_run(stage: Stage) -> hostrun.HostRun:
    return hostrun.HostRun(stage, stage.hosts[0], cast(HostConnection, None), cast(Reporter, None),
                           facts={"python_version": "3.11.2", "user": "deploy", "group": "deploy", "current": ""})


def scripts_of_a_deploy_a_rollback_a_start_and_a_stop(stage: Stage) -> dict[str, str]:
    """Each step's own script (a soft step's too, unwrapped), as the deploy and the commands build them."""
    run = host_run(stage)
    rel = LocalRelease(release_id=RELEASE, archive=b"", source_hash="0" * 64, file_count=4, static_dir="static",
                       shared={})
    ctx = run.server_context
    built = {
        "prepare": release.prepare(run.layout, stage.app.python, lock.acquire(run.layout, "token")),
        "upload": steps.upload_step(run, rel).body, "venv": steps.venv_step(run, rel).body,
        "check": steps.check_step(run, rel, "f" * 64).body,
        "site": steps.proxy_site_step(run, RELEASE, rel.static_dir).body,
        "switch": steps.switch_step(run, RELEASE).body, "reload": steps.reload_step(run).body,
        "health": steps.health_step(run).body, "prune": steps.prune_step(run).body,
        "rollback site": steps.proxy_site_step(run, "20261203T100000Z").body,
        "mark bad": history.mark_bad(run.layout, RELEASE),
        "finish": history.append_log(run.layout, "{}") + lock.release(run.layout, "token"),
        "start": run.server.start(ctx), "stop": run.server.stop(ctx),
        "restart": run.server.upgrade(ctx, start_if_stopped=True), "status": run.server.status(ctx),
    }
    for purge in (False, True):  # uninstall's phases after its lock (tasks/removal.py)
        built |= {f"uninstall {step.name}{' --purge' if purge else ''}": step.body
                  for step in removal.removal_steps(run, purge)}
    return built


def code_positions(text: str) -> list[bool]:
    """For each character, whether bash reads it as code: not in quotes (a ``$(...)`` in double quotes is
    code again), not in a comment."""
    code = [True] * len(text)
    stack: list[str] = []  # "'", '"', or "(" inside a $(...) opened in double quotes
    i = 0
    while i < len(text):
        char, state = text[i], stack[-1] if stack else ""
        if state == "'":
            code[i] = False
            if char == "'":
                stack.pop()
        elif state == '"':
            code[i] = False
            if char == "\\":
                code[i + 1:i + 2] = [False]
                i += 1
            elif text.startswith("$(", i):
                stack.append("(")
                i += 2
                continue
            elif char == '"':
                stack.pop()
        elif char == "\\":
            i += 1
        elif char == "#" and (i == 0 or text[i - 1] in " \t\n;"):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            code[i:end] = [False] * (end - i)
            i = end
            continue
        elif char in "'\"":
            code[i] = False
            stack.append(char)
        elif char == "(" and stack:
            stack.append("(")
        elif char == ")" and state == "(":
            stack.pop()
        i += 1
    return code


def command_text(text: str, start: int, code: list[bool]) -> str:
    """The words of one simple command from ``start``: up to an unquoted ; | & ) } newline or redirection."""
    end = start
    while end < len(text) and not (code[end] and text[end] in ";|&)}\n<>"):
        if text.startswith("\\\n", end):  # a continued line
            end += 2
            continue
        if text.startswith("$(", end):  # a command substitution is one word
            depth, end = 1, end + 2
            while end < len(text) and depth:
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                end += 1
            continue
        end += 1
    words = text[start:end].replace("\\\n", " ")
    if end < len(text) and text[end] in "<>":
        words = re.sub(r"\s\d$", "", words)  # the fd of a redirection (2>/dev/null) is no argument
    return words


def words_of(command: str, values: dict[str, str]) -> list[str]:
    """The command's words, its variables replaced by the script's values (`ANY` when unknown)."""
    command = re.sub(r'\$\([^()]*(?:\([^()]*\)[^()]*)*\)', "__ANY__", command)
    command = re.sub(r'"\$[@*]"|\$[@*]', " __ALL__ ", command)

    def value(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("plain")
        known = values.get(name)
        return known if known is not None and PLAIN_VALUE.match(known) else "__ANY__"
    words = shlex.split(VARIABLE.sub(value, command))
    return [ANY if "__ANY__" in word else ALL if word == "__ALL__" else word for word in words]


def root_calls(text: str) -> list[list[str]]:
    """Every command ``text`` runs as root, as words (the program by its short name or path)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            try:
                parsed = shlex.split(match.group("value"))
            except ValueError:
                continue
            if len(parsed) == 1:
                values[match.group("name")] = parsed[0]
    wrappers: dict[str, list[str]] = {"sudo": []}
    code = code_positions(text)
    sites = [(line_start + match.start(), match.group("name"), match.end(), DEFINITION.match(line))
             for line_start, line in line_spans(text) for match in CALL.finditer(line)]
    # First the wrappers (`nginx_cmd() { sudo -n nginx "$@"; }`, wherever the script defines them), then the calls.
    for at, name, end, definition in sites:
        if definition and name == "sudo" and code[at]:
            words = call_words(text, at, end, code, values) or [""]
            if words[-1:] in ([ALL], [ANY]):
                wrappers[definition.group("name")] = words[:-1] + (["1"] if words[-1] == ANY else [])
    calls: list[list[str]] = []
    for at, name, end, definition in sites:
        if not code[at] or name not in wrappers or (definition and definition.group("name") in wrappers):
            continue
        words = call_words(text, at, end, code, values)
        if words is None:
            continue
        prefix = wrappers[name]
        calls.append(prefix[:-1] + words[:1] if prefix[-1:] == ["1"] else prefix + words)
    return calls


def call_words(text: str, at: int, end: int, code: list[bool], values: dict[str, str]) -> list[str] | None:
    """The words of the call of a wrapper (or of ``sudo -n``) at ``at``; None for a ``sudo`` without ``-n``."""
    line_start = text.rfind("\n", 0, at) + 1
    rest = command_text(text, line_start + end, code).strip()
    if text.startswith("sudo", at):
        if not rest.startswith("-n "):
            return None
        rest = rest[3:]
    return words_of(rest, values)


def line_spans(text: str) -> list[tuple[int, str]]:
    spans, start = [], 0
    for line in text.split("\n"):
        spans.append((start, line))
        start += len(line) + 1
    return spans


def absolute(words: list[str]) -> list[str]:
    program = words[0]
    return [SYSTEM_PATHS.get(program) or binary_path(program), *words[1:]]


def declared_match(words: list[str], declared: list[tuple[str, ...]]) -> bool:
    return any(len(d) == len(words) and all(w in (ANY, v) for w, v in zip(words, d)) for d in declared)


@pytest.mark.parametrize("proxy", ["nginx", "apache", "lighttpd"])
def test_every_command_a_deploy_a_rollback_a_start_and_a_stop_run_as_root_is_declared(
        tmp_path: Path, proxy: str) -> None:
    stage = stage_for(tmp_path, proxy)
    declared = [c.argv for c in privileged.privileged_commands(stage, stage.hosts[0])]
    found = 0
    for name, text in scripts_of_a_deploy_a_rollback_a_start_and_a_stop(stage).items():
        for words in root_calls(text):
            assert ALL not in words, f"{name}: a root command with any arguments: {words}"
            assert declared_match(absolute(words), declared), (
                f"{name} runs as root `{' '.join(w if w != ANY else '<run time>' for w in words)}`, which "
                "tasks/commands/privileged.py does not declare")
            found += 1
    assert found >= 5, "the scripts were read (the site's install, test and reload, the logrotate snippet)"


def tls_stage(tmp_path: Path, mode: str, proxy: str = "nginx") -> Stage:
    """The example stage behind ``proxy`` with ``[app.tls]`` (files: a certificate and key made with ``openssl``)."""
    if mode == "acme":
        table = '[app.tls]\nmode = "acme"\nemail = "ops@example.com"\n'
    else:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-subj", "/CN=hello.example.com", "-keyout", str(tmp_path / "site.key"),
                        "-out", str(tmp_path / "site.pem"), "-days", "30"], check=True, capture_output=True)
        table = '[app.tls]\nmode = "files"\ncertificate = "site.pem"\nkey = "site.key"\n'
    path = tmp_path / "tls.toml"
    server = {"nginx": "gunicorn", "apache": "mod_wsgi", "lighttpd": "fastcgi"}[proxy]
    text = INVENTORY.replace('server_name = "hello.example.com"',
                             f'server_name = "hello.example.com"\nserver = "{server}"\nproxy = "{proxy}"')
    path.write_text(text.replace("\n[hosts.web1]", table + "\n[hosts.web1]"))
    return load_stage(path)


@pytest.mark.parametrize("proxy", ["nginx", "apache", "lighttpd"])
@pytest.mark.parametrize("mode", ["acme", "files"])
def test_every_command_the_certificate_steps_run_as_root_is_declared(tmp_path: Path, mode: str, proxy: str) -> None:
    stage = tls_stage(tmp_path, mode, proxy)
    declared = [c.argv for c in privileged.privileged_commands(stage, stage.hosts[0])]
    run = host_run(stage)
    app = stage.app
    if mode == "acme":
        texts = [step.body for step in steps.certificate_steps(run, RELEASE, "static")]
    else:
        texts = [certificate.install_file(app, "certificate"), certificate.install_file(app, "key"),
                 certificate.install_digest(app, "0" * 64)]
    texts.append(steps.health_step(run).body)
    found = 0
    for text in texts:
        for words in root_calls(text):
            assert ALL not in words, f"a root command with any arguments: {words}"
            assert declared_match(absolute(words), declared), (
                f"`{' '.join(w if w != ANY else '<run time>' for w in words)}` runs as root, undeclared")
            found += 1
    assert found >= (6 if mode == "acme" else 7), "the scripts were read"
    dropin = privileged.sudoers_dropin("deploy", privileged.declared_commands(stage, stage.hosts[0]))
    assert "WSGIDEPLOY_DEPLOY_HELLO_TLS" in dropin
    (tmp_path / "wsgideploy-deploy").write_text(dropin)
    checked = subprocess.run(["visudo", "-cf", str(tmp_path / "wsgideploy-deploy")], capture_output=True, text=True,
                             timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr + dropin


def test_the_reader_finds_root_calls_and_their_values() -> None:
    text = ('SITE=/etc/nginx/sites-available/hello\nas_root() { sudo -n "$@"; }\n'
            'nginx_cmd() { sudo -n nginx "$@"; }\n'
            "# as_root rm -rf / in a comment\n"
            'echo "sudo -n is quoted" \'as_root rm -f x\'\n'
            'if sudo -n nginx -s reload 2>/dev/null; then :; fi\n'
            'x=$(as_root cp -p "$SITE" "$SITE.kept") || as_root kill -USR1 "$1"\n'
            'printf "%s" "$T" | as_root install -o root /dev/stdin "$SITE"; nginx_cmd -t\n'
            'sudo -n rm "$@"\n')
    assert root_calls(text) == [["nginx", "-s", "reload"],
                                ["cp", "-p", "/etc/nginx/sites-available/hello",
                                 "/etc/nginx/sites-available/hello.kept"],
                                ["kill", "-USR1", ANY],
                                ["install", "-o", "root", "/dev/stdin", "/etc/nginx/sites-available/hello"],
                                ["nginx", "-t"], ["rm", ALL]]


def test_the_commands_of_the_example_stage_are_exact_absolute_and_never_all(tmp_path: Path) -> None:
    stage = stage_for(tmp_path)
    commands = privileged.privileged_commands(stage, stage.hosts[0], ["worker"])
    for command in commands:
        assert command.argv[0].startswith("/usr/"), command
        assert "ALL" not in command.argv and not any(set("*?[]") & set(word) for word in command.argv), command
        assert command.why
    argvs = {" ".join(c.argv) for c in commands}
    assert "/usr/bin/install -o root -g root -m 0644 /dev/stdin /etc/nginx/sites-available/hello" in argvs
    assert "/usr/bin/install -o root -g root -m 0644 /dev/stdin /etc/logrotate.d/wsgideploy-hello" in argvs
    assert "/usr/sbin/nginx -t" in argvs and "/usr/bin/systemctl reload nginx" in argvs
    assert "/usr/bin/systemctl daemon-reload" in argvs
    for unit in ("wsgideploy-hello@a.service", "wsgideploy-hello@b.service", "wsgideploy-hello-worker.service"):
        for verb in privileged.UNIT_VERBS:
            assert f"/usr/bin/systemctl {verb} {unit}" in argvs
    assert "/usr/bin/install -o root -g root -m 0644 /dev/stdin /etc/systemd/system/wsgideploy-hello@.service" in argvs
    assert ("/usr/bin/install -o root -g root -m 0644 /dev/stdin /etc/systemd/system/wsgideploy-hello-worker.service"
            in argvs)


def test_no_worker_unit_of_one_app_is_another_apps() -> None:
    with pytest.raises(ValueError, match="no '-'"):
        privileged.app_unit_commands("shop", ["a-worker"])  # would be shop-a's worker unit "worker"
    with pytest.raises(ValueError):
        privileged.app_unit_commands("Shop!", [])
    shop = {c.argv for c in privileged.app_unit_commands("shop", ["a_worker"])}
    shop_a = {c.argv for c in privileged.app_unit_commands("shop-a", ["worker"])}
    assert shop & shop_a == {("/usr/bin/systemctl", "daemon-reload")}


def test_a_command_without_arguments_allows_none_in_sudoers() -> None:
    command = privileged.RootCommand(("/usr/sbin/nginx",), "start nginx")
    assert privileged.sudoers_line(command) == '/usr/sbin/nginx ""'
    with pytest.raises(ValueError):
        privileged.sudoers_line(privileged.RootCommand(("/usr/bin/rm", "-f", "/srv/a b"), "a space"))
    with pytest.raises(ValueError):
        privileged.sudoers_line(privileged.RootCommand(("rm", "-f", "/x"), "not absolute"))


@pytest.mark.parametrize("proxy", ["nginx", "apache", "lighttpd"])
def test_the_sudoers_drop_in_passes_visudo_and_names_only_the_declared_commands(tmp_path: Path, proxy: str) -> None:
    stage = stage_for(tmp_path, proxy)
    declared = privileged.declared_commands(stage, stage.hosts[0], ["worker"])
    text = privileged.sudoers_dropin("deploy", declared)
    assert privileged.dropin_path("deploy") == "/etc/sudoers.d/wsgideploy-deploy"
    rule = [line for line in text.splitlines() if line.startswith("deploy ")]
    assert rule == ["deploy ALL=(root) NOPASSWD: " + ", ".join(
        f"WSGIDEPLOY_DEPLOY_HELLO_{concern.split()[1].upper()}" for concern in declared)]
    assert "!requiretty" not in text  # Debian's sudo does not require a tty
    if shutil.which("visudo") is None:
        pytest.skip("visudo is not installed")
    dropin = tmp_path / "wsgideploy-deploy"
    dropin.write_text(text)
    checked = subprocess.run(["visudo", "-cf", str(dropin)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr + text


def test_a_host_s_own_front_table_is_the_one_declared(tmp_path: Path) -> None:
    stage = stage_for(tmp_path)
    custom = replace(stage, nginx=replace(stage.nginx, conf="/opt/nginx/nginx.conf", binary="/opt/nginx/sbin/nginx"))
    argvs = {" ".join(c.argv) for c in privileged.privileged_commands(custom, custom.hosts[0])}
    assert "/opt/nginx/sbin/nginx -c /opt/nginx/nginx.conf -t" in argvs
    assert "/usr/bin/systemctl reload nginx" not in argvs, "a custom main config is never systemd's nginx"
