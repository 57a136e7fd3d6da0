set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
exec 3>&1
export WSGIDEPLOY_T0=$EPOCHREALTIME
echo "wsgideploy-step:0"
(
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
[ ! -e /srv/hello/releases/20261204T100000Z ] || fail "release 20261204T100000Z already exists on this host"
rm -rf /srv/hello/releases/.20261204T100000Z.partial
mkdir -p /srv/hello/releases/.20261204T100000Z.partial
tar -xzf - -C /srv/hello/releases/.20261204T100000Z.partial || fail "the upload of release 20261204T100000Z did not complete"
mv -T /srv/hello/releases/.20261204T100000Z.partial /srv/hello/releases/20261204T100000Z
)
echo "wsgideploy-step:1"
(
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
if [ -f /srv/hello/venvs/py3.11.2-72f6fca029326486/.wsgideploy-complete ]; then
  echo "wsgideploy-fact:venv=reused"
else
  rm -rf /srv/hello/venvs/py3.11.2-72f6fca029326486
  python3 -m venv --without-pip /srv/hello/venvs/py3.11.2-72f6fca029326486 > /srv/hello/.deploy/pip-py3.11.2-72f6fca029326486.log 2>&1 || {
    tail -n 20 /srv/hello/.deploy/pip-py3.11.2-72f6fca029326486.log >&2; rm -rf /srv/hello/venvs/py3.11.2-72f6fca029326486
    fail 'could not create a virtualenv with python3 (on Debian: apt-get install python3-venv)'
  }
  if setuptools=$(/srv/hello/venvs/py3.11.2-72f6fca029326486/bin/python -c '"""The pip that fills a new venv, without ``python -m venv`` installing pip into every venv (its ensurepip
step was 1.8 s of a 2.5 s venv build on a 2-core host).

Run by the new venv'"'"'s own python (the venv made with ``--without-pip``). It finds the wheels this Python
bundles for ensurepip (Debian: /usr/share/python-wheels, else ensurepip/_bundled), unpacks pip once into
the folder argv[1] names (``pip-<version>/``, kept for the next venvs) and puts that copy on the venv'"'"'s
path with the .pth file argv[2] names (``venv/bin/python -m pip`` works). It prints the other wheel
ensurepip would install (setuptools, up to Python 3.11), or nothing, for the caller to install the way
ensurepip does.
Exit status 1 when this Python bundles no pip wheel: the caller then runs ensurepip.
"""
from __future__ import annotations

import glob
import os
import shutil
import sys
import sysconfig
import zipfile


def newest(folder: str, name: str) -> str | None:
    """The newest ``<name>-<version>-*.whl`` in ``folder``, or None."""
    def version(path: str) -> tuple[int, ...]:
        return tuple(int(part) if part.isdigit() else -1 for part in os.path.basename(path).split("-")[1].split("."))
    found = glob.glob(os.path.join(glob.escape(folder), f"{name}-*.whl"))
    return max(found, key=version) if found else None


def bundled_pip() -> str | None:
    """The pip wheel ensurepip would install: from the distribution'"'"'s folder if it set one, else its own."""
    folders = [sysconfig.get_config_var("WHEEL_PKG_DIR") or ""]
    try:
        import ensurepip
        folders.append(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled"))
    except ImportError:
        pass
    for folder in folders:
        wheel = newest(folder, "pip") if folder else None
        if wheel:
            return wheel
    return None


def unpacked(wheel: str, into: str) -> str:
    """``into/<wheel'"'"'s name>``, the wheel unpacked there once (atomically: a half-unpacked copy is never used)."""
    target = os.path.join(into, os.path.basename(wheel)[:-len(".whl")])
    if os.path.isfile(os.path.join(target, "pip", "__main__.py")):
        return target
    os.makedirs(into, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)  # an incomplete copy
    partial = f"{target}.partial.{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(partial)
    try:
        os.rename(partial, target)
    except OSError:  # another build made it meanwhile
        shutil.rmtree(partial, ignore_errors=True)
    return target


def main() -> int:
    wheel = bundled_pip()
    if wheel is None:
        return 1
    with open(os.path.join(sysconfig.get_path("purelib"), sys.argv[2]), "w", encoding="utf-8") as pth:
        pth.write(unpacked(wheel, sys.argv[1]) + "\n")
    setuptools = newest(os.path.dirname(wheel), "setuptools") if sys.version_info < (3, 12) else None
    if setuptools:
        print(setuptools)
    return 0


if __name__ == "__main__":
    sys.exit(main())
' /srv/hello/.deploy/pip wsgideploy-pip.pth 2>> /srv/hello/.deploy/pip-py3.11.2-72f6fca029326486.log); then
    if [ -n "$setuptools" ]; then
      PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_USE_PEP517=1 /srv/hello/venvs/py3.11.2-72f6fca029326486/bin/python -m pip install --no-index --no-deps "$setuptools" >> /srv/hello/.deploy/pip-py3.11.2-72f6fca029326486.log 2>&1 || {
    tail -n 20 /srv/hello/.deploy/pip-py3.11.2-72f6fca029326486.log >&2; rm -rf /srv/hello/venvs/py3.11.2-72f6fca029326486
    fail 'could not create a virtualenv with python3 (on Debian: apt-get install python3-venv)'
  }
    fi
  else
    /srv/hello/venvs/py3.11.2-72f6fca029326486/bin/python -m ensurepip >> /srv/hello/.deploy/pip-py3.11.2-72f6fca029326486.log 2>&1 || {
    tail -n 20 /srv/hello/.deploy/pip-py3.11.2-72f6fca029326486.log >&2; rm -rf /srv/hello/venvs/py3.11.2-72f6fca029326486
    fail 'could not create a virtualenv with python3 (on Debian: apt-get install python3-venv)'
  }
  fi
  if ! PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_USE_PEP517=1 /srv/hello/venvs/py3.11.2-72f6fca029326486/bin/python -m pip install -r /srv/hello/releases/20261204T100000Z/requirements.txt gunicorn >> /srv/hello/.deploy/pip-py3.11.2-72f6fca029326486.log 2>&1; then
    tail -n 25 /srv/hello/.deploy/pip-py3.11.2-72f6fca029326486.log >&2; rm -rf /srv/hello/venvs/py3.11.2-72f6fca029326486
    if grep -qE 'you need a C compiler|command '"'"'[^'"'"']*gcc'"'"' failed|unable to execute '"'"'[^'"'"']*gcc'"'"'|Python\.h: No such file' /srv/hello/.deploy/pip-py3.11.2-72f6fca029326486.log; then
      fail 'pip install failed: a package compiles on the host, which has no C compiler or no Python headers: apt-get install build-essential python3-dev (Debian), or install it from a wheel built once (find-links in /etc/pip.conf, docs/modes/uwsgi.md) (full log on the host: /srv/hello/.deploy/pip-py3.11.2-72f6fca029326486.log)'
    fi
    fail 'pip install failed (full log on the host: /srv/hello/.deploy/pip-py3.11.2-72f6fca029326486.log)'
  fi
  touch /srv/hello/venvs/py3.11.2-72f6fca029326486/.wsgideploy-complete
  echo "wsgideploy-fact:venv=built"
  echo "wsgideploy-fact:installer=pip"
fi
ln -sfn ../../venvs/py3.11.2-72f6fca029326486 /srv/hello/releases/20261204T100000Z/venv
)
echo "wsgideploy-step:2"
(
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
if ! { mkdir -p /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$ && printf '%s' '# gunicorn config for hello, release 20261204T100000Z.
# Rendered by wsgideploy from templates/gunicorn.conf.py.j2; the next deploy replaces it.
#
# gunicorn is started from /srv/hello/current (see docs/gunicorn.md), so a USR2
# upgrade re-executes into whatever release `current` points at, venv included.
import importlib.util
import os
import sys

# The check before the switch loads the new release from its own directory.
chdir = os.environ.get("WSGIDEPLOY_CHECK_RELEASE") or "/srv/hello/current"
# app:app, with this stage'"'"'s logging (and ProxyFix behind the proxy): see wsgideploy_entry.py
wsgi_app = "wsgideploy_entry:application"
# On sys.path here, not with `pythonpath`: gunicorn --check-config loads the app before applying that.
sys.path.insert(0, os.path.join(chdir, ".wsgideploy"))
bind = ["unix:/srv/hello/shared/run/gunicorn.sock"]
pidfile = "/srv/hello/shared/run/gunicorn.pid"
proc_name = "wsgideploy-hello"

workers = 2
threads = 1
timeout = 30
graceful_timeout = 30

accesslog = "/srv/hello/shared/log/gunicorn.access.log"
errorlog = "/srv/hello/shared/log/gunicorn.error.log"
loglevel = "info"
# print() in the app goes to the error log instead of being lost.
capture_output = True

# gunicorn >= 25.1: without this the old master removes the new master'"'"'s
# control socket when it exits after a USR2 upgrade.
control_socket_disable = True

_READY_DIR = "/srv/hello/shared/run"


def _env_file_values():
    """The variables of shared/.env (secrets stay out of this file and of the command line)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wsgideploy_env.py")
    spec = importlib.util.spec_from_file_location("wsgideploy_env", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load("/srv/hello/shared/.env")


raw_env = ["%s=%s" % item for item in _env_file_values().items()]
if os.environ.get("WSGIDEPLOY_CHECK_RELEASE"):
    # The check (--check-config) loads the app in this process, and gunicorn applies raw_env only when
    # its arbiter starts: an app that reads .env at import (Django'"'"'s settings) needs the values now.
    os.environ.update(_env_file_values())


def post_worker_init(worker):
    """Tell wsgideploy that a worker of this master has loaded the app."""
    open(os.path.join(_READY_DIR, "gunicorn.ready.%d" % worker.ppid), "a").close()
' > /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/gunicorn.conf.py && printf '%s' '"""The WSGI entry point of hello, release 20261204T100000Z: ``wsgideploy_entry:application``.

Rendered by wsgideploy from templates/wsgideploy_entry.py.j2. It sets up logging
for this stage, imports the app (app:app), and, behind an HTTP proxy,
wraps it in werkzeug'"'"'s ProxyFix with the counts of the inventory'"'"'s ``proxy_fix``: a werkzeug
(Flask) app under the default counts, any app under counts the stage file declares.
"""
import logging
import os

_LOG_FILE = os.path.join("/srv/hello/shared/log", "app.log")



def _log_handler():
    """shared/log/app.log, or standard error (the front server'"'"'s error log) for a user that
    cannot write there: CGI runs as Apache'"'"'s own user (www-data) under a stock Apache, and the
    app must still answer."""
    try:
        return logging.FileHandler(_LOG_FILE)
    except OSError:
        return logging.StreamHandler()


# The stage'"'"'s log level, to a file in shared/log. An app that configures logging
# itself keeps its own setup: nothing is done when handlers exist.
if not logging.root.handlers:
    logging.basicConfig(handlers=[_log_handler()], level="INFO",
                        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s")

# The app'"'"'s own package, installed into this release when the app is one (.wsgideploy/site: no
# dependencies, those are in the venv), so that this release runs its own code and metadata.
_HERE = os.path.dirname(os.path.abspath(__file__))  # <release>/.wsgideploy
_SITE = os.path.join(_HERE, "site")
if os.path.isdir(_SITE):
    import site

    site.addsitedir(_SITE)

import app as _app_module  # noqa: E402

application = eval("app", vars(_app_module))  # the app, or the factory'"'"'s app

if os.environ.get("WSGIDEPLOY_STATIC_REPORT") and getattr(application, "has_static_folder", False):
    # The deploy'"'"'s check asks where a Flask app really keeps its static files, to compare them with the
    # folder the front server serves: the check'"'"'s own load, or (under systemd) each load by the new
    # instance'"'"'s unit, which names a file of its slot. Written as the check'"'"'s facts
    # (wsgideploy-fact:<key>=<value> lines, tasks/protocol.py), whole (a worker'"'"'s file renamed over it).
    _report_path = os.environ["WSGIDEPLOY_STATIC_REPORT"]
    try:
        with open("%s.%d" % (_report_path, os.getpid()), "w") as _report:
            for _key, _value in (("folder", os.path.realpath(application.static_folder)),
                                 ("exists", os.path.isdir(application.static_folder)),
                                 ("url", application.static_url_path),
                                 ("release", os.path.realpath(os.path.join(_HERE, "..")))):
                _report.write("wsgideploy-fact:app_static_%s=%s\n" % (_key, " ".join(str(_value).split())))
        os.replace("%s.%d" % (_report_path, os.getpid()), _report_path)
    except OSError:
        pass  # only a report: the app runs without it

# http-unix: one proxy in front sets X-Forwarded-* headers; trust exactly that many.
# The default counts wrap a werkzeug (Flask) app only: another framework reads the headers its own way
# (Django: SECURE_PROXY_SSL_HEADER) and may not have werkzeug at all.
if any(_cls.__module__.partition(".")[0] in ("flask", "werkzeug") for _cls in type(application).__mro__):
    from werkzeug.middleware.proxy_fix import ProxyFix

    application = ProxyFix(application, x_for=1, x_proto=1,
                           x_host=0, x_port=0,
                           x_prefix=0)
' > /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/wsgideploy_entry.py && printf '%s' '# logrotate for hello: every log under /srv/hello/shared/log, as the user that owns them.
# Rendered by wsgideploy on the controller from templates/logrotate.conf.j2, installed by root from
# the deploy'"'"'s script (never copied from the host). copytruncate: the app server and the app keep
# writing to the same file, so no server needs a signal. The front server'"'"'s logs are in its own
# folder, rotated by the distribution'"'"'s snippet.
/srv/hello/shared/log/*.log {
    su hello hello
    daily
    rotate 14
    maxsize 100M
    compress
    delaycompress
    missingok
    notifempty
    copytruncate
}
' > /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/logrotate.conf && printf '%s' '# nginx site for hello: it names no release (a deploy that changes nothing here leaves nginx alone).
# Rendered by wsgideploy from templates/nginx.site.conf.j2; the next deploy replaces it.

upstream wsgideploy_hello {
    server unix:/srv/hello/shared/run/gunicorn.sock fail_timeout=0;
}

server {
    listen 80;
    server_name hello.example.com;
    client_max_body_size 10m;

    # nginx'"'"'s own folder, where Debian'"'"'s logrotate snippet rotates them (nginx opens its logs as root:
    # never in the deploy'"'"'s shared/log).
    access_log /var/log/nginx/hello.access.log;
    error_log /var/log/nginx/hello.error.log;

    # Static files straight from the live release, without the app server. A link in them is followed only
    # to a file of the link'"'"'s owner (never to /etc/passwd, or what the app'"'"'s user wrote).
    location /static/ {
        alias /srv/hello/current/static/;
        disable_symlinks if_not_owner from=/srv/hello/current;
        expires 1h;
        access_log off;
    }

    location / {
        proxy_pass http://wsgideploy_hello;
        proxy_set_header Host $http_host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_redirect off;
    }
}
' > /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/nginx.conf && printf '%s' '"""Load ``<root>/shared/.env`` for the app: used by gunicorn.conf.py and by release hooks.

Copied into every release as ``.wsgideploy/wsgideploy_env.py`` by wsgideploy.
``python wsgideploy_env.py ENV_FILE COMMAND [ARGS...]`` runs COMMAND with the file'"'"'s
variables added to the environment. A missing file adds nothing.

The format is the usual dotenv one: ``KEY=value`` lines, an optional ``export``,
``#`` comments, and values in single quotes (taken literally) or double quotes
(``\\n``, ``\\r``, ``\\"`` and ``\\\\`` unescaped).
"""
import os
import sys


def parse(text):
    """Return the variables of a dotenv text as a dict."""
    values = {}
    for raw in text.split("\n"):  # only \n ends a line; a \r\n line loses its \r below
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'"'"'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"'"'"'"'"':
            value = (value[1:-1].replace("\\\\", "\0").replace('"'"'\\"'"'"', '"'"'"'"'"')
                     .replace("\\n", "\n").replace("\\r", "\r").replace("\0", "\\"))
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if key:
            values[key] = value
    return values


def load(path):
    """The variables of the env file at ``path`` ({} when it does not exist)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return parse(fh.read())
    except FileNotFoundError:
        return {}


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: wsgideploy_env.py ENV_FILE COMMAND [ARGS...]")
    os.environ.update(load(sys.argv[1]))
    os.execvp(sys.argv[2], sys.argv[2:])
' > /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/wsgideploy_env.py && printf '%s' '"""Run one of the app'"'"'s ``[processes]`` (a worker: ``rq worker tasks``, ``celery -A app worker``...).

Copied into every release as ``.wsgideploy/wsgideploy_process.py`` by wsgideploy; its systemd unit
(``wsgideploy-<app>-<name>.service``) runs ``<root>/current/venv/bin/python
<root>/current/.wsgideploy/wsgideploy_process.py NAME``. It reads NAME'"'"'s command from
``processes.json`` beside it (the release'"'"'s own ``[processes]``), adds ``shared/.env`` to the environment,
puts the release'"'"'s venv first on PATH and the release and its own package on PYTHONPATH, enters the release, and replaces itself with the command
(``exec``: the unit'"'"'s main process is the worker, and its stop signal reaches it).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.realpath(__file__))  # <release>/.wsgideploy, whatever `current` becomes
RELEASE = os.path.dirname(HERE)


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: wsgideploy_process.py NAME")
    with open(os.path.join(HERE, "processes.json")) as fh:
        declared = json.load(fh)
    name, commands = argv[1], declared["processes"]
    if name not in commands:
        sys.exit("release %s has no process %r (its [processes]: %s)"
                 % (os.path.basename(RELEASE), name, ", ".join(sorted(commands)) or "none"))
    sys.path.insert(0, HERE)
    import wsgideploy_env
    os.environ.update(wsgideploy_env.load(declared["env_file"]))
    venv = os.path.join(RELEASE, "venv")
    os.environ["VIRTUAL_ENV"] = venv
    os.environ["PATH"] = os.path.join(venv, "bin") + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin")
    os.environ["WSGIDEPLOY_RELEASE"] = os.path.basename(RELEASE)
    # the release and the app'"'"'s own package (installed into the release when the app is one)
    os.environ["PYTHONPATH"] = os.pathsep.join([RELEASE, os.path.join(HERE, "site")])
    os.chdir(RELEASE)
    os.execv("/bin/sh", ["/bin/sh", "-c", "exec " + commands[name]])


if __name__ == "__main__":
    main(sys.argv)
' > /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/wsgideploy_process.py && printf '%s' '{
 "processes": {},
 "env_file": "/srv/hello/shared/.env"
}
' > /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/processes.json && printf '%s' 'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
' > /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/fingerprint && chmod 0644 /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/gunicorn.conf.py /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/wsgideploy_entry.py /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/logrotate.conf /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/nginx.conf /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/wsgideploy_env.py /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/wsgideploy_process.py /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/processes.json /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/fingerprint && mv -f /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/gunicorn.conf.py /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/wsgideploy_entry.py /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/logrotate.conf /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/nginx.conf /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/wsgideploy_env.py /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/wsgideploy_process.py /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/processes.json /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$/fingerprint /srv/hello/releases/20261204T100000Z/.wsgideploy/; }; then
  rm -rf /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$
  fail 'could not write gunicorn.conf.py, wsgideploy_entry.py, logrotate.conf, nginx.conf, wsgideploy_env.py, wsgideploy_process.py, processes.json, fingerprint in /srv/hello/releases/20261204T100000Z/.wsgideploy (is the disk full?)'
fi
rm -rf /srv/hello/releases/20261204T100000Z/.wsgideploy/.wsgideploy-write.$$
rm -f /srv/hello/releases/20261204T100000Z/.wsgideploy/static.facts
export WSGIDEPLOY_STATIC_REPORT=/srv/hello/releases/20261204T100000Z/.wsgideploy/static.facts
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
if [ -d /run/systemd/system ]; then
(
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
name=gunicorn
pidfile=/srv/hello/shared/run/gunicorn.pid
run=/srv/hello/shared/run
marker=gunicorn
logfile=/srv/hello/shared/log/gunicorn.error.log
stdout_log=/srv/hello/shared/log/gunicorn.stdout.log
current=/srv/hello/current
live_config=/srv/hello/current/.wsgideploy
socket=/srv/hello/shared/run/gunicorn.sock
config_dir_name=.wsgideploy
START_TIMEOUT=60
GRACEFUL_TIMEOUT=30
unit_prefix=wsgideploy-hello@
unit_path=/etc/systemd/system/wsgideploy-hello@.service
unit_text='# wsgideploy-hello@.service: hello (gunicorn), written by wsgideploy; the next deploy replaces it.
[Unit]
Description=wsgideploy hello (gunicorn, slot %i)
After=network.target
# A release that keeps crashing stops being restarted after 10 starts in 60 s.
StartLimitIntervalSec=60
StartLimitBurst=10

[Service]
Type=exec
# The app'"'"'s own user ([app] app_user): it reads its release and writes only shared/ (docs/security.md).
# UMask 0002: what it writes there (logs, data) stays writable by its group, which the deploy user is in.
User=hello
UMask=0002
Environment=WSGIDEPLOY_SLOT=%i
Environment="WSGIDEPLOY_CHECK_RELEASE=/srv/hello/slots/%i"
Environment="WSGIDEPLOY_STATIC_REPORT=/srv/hello/shared/run/gunicorn.%i.static"
ExecStart="/srv/hello/slots/%i/venv/bin/python" "/srv/hello/slots/%i/venv/bin/gunicorn" -c "/srv/hello/slots/%i/.wsgideploy/gunicorn.conf.py" --bind "unix:/srv/hello/shared/run/gunicorn.%i.sock" --pid "/srv/hello/shared/run/gunicorn.%i.pid"
Restart=on-failure
RestartSec=1
KillMode=mixed
KillSignal=SIGTERM
TimeoutStartSec=70
TimeoutStopSec=40

[Install]
WantedBy=multi-user.target
'
slots=/srv/hello/slots
sockets=/srv/hello/shared/run/gunicorn
probe='
import json, signal, socket, struct, sys, time
cfg, path = json.loads(sys.argv[1]), sys.argv[2]

STARTING = (502, 503, 504)
_same = [0, 0]
def settled(status):
    if status in STARTING:
        _same[:] = [0, 0]
        return False
    _same[:] = [status, _same[1] + 1 if _same[0] == status else 1]
    return _same[1] >= 3
def verdict(last, status, host):
    head, _, rest = last.partition(": ")
    hint = ""
    if status == 400:
        hint = (" (a 400 is how Django refuses a Host it does not allow: the check sent Host: %s; "
                "add it to ALLOWED_HOSTS)" % host)
    return "%s 3 times in a row: %s%s" % (head, rest, hint)

env = cfg["environ"]

def exchange(payload):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.connect(path)
        sock.sendall(payload)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        sock.close()

def http():
    head = "GET %s HTTP/1.0\r\n" % cfg["path"] + "".join("%s: %s\r\n" % kv for kv in cfg["headers"].items())
    return parse(exchange((head + "\r\n").encode("latin-1")), b"HTTP/")

def uwsgi():
    body = b"".join(struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
                    for k, v in ((k.encode(), v.encode()) for k, v in env.items()))
    return parse(exchange(struct.pack("<BHB", 0, len(body), 0) + body), b"HTTP/")

def fastcgi():
    def record(kind, content):
        return struct.pack("!BBHHBx", 1, kind, 1, len(content), 0) + content
    def length(n):
        return struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)
    params = b"".join(length(len(k)) + length(len(v)) + k + v
                      for k, v in ((k.encode(), v.encode()) for k, v in env.items()))
    data = exchange(record(1, struct.pack("!HB5x", 1, 0)) + record(4, params) + record(4, b"") + record(5, b""))
    out, i = b"", 0
    while i + 8 <= len(data):
        _, kind, _, size, pad = struct.unpack("!BBHHB", data[i:i + 7])
        if kind == 6:
            out += data[i + 8:i + 8 + size]
        i += 8 + size + pad
    return parse(out, b"Status:")

def parse(raw, first):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = 200
    if lines[0].startswith("HTTP/"):
        status = int(lines[0].split()[1])
    for line in lines:
        if line.lower().startswith("status:"):
            status = int(line.split()[1])
    if not raw:
        raise OSError("the connection closed with no response")
    return status, body.decode("utf-8", "replace")

ask = {"http": http, "uwsgi": uwsgi, "fastcgi": fastcgi}[cfg["protocol"]]
# It starts beside the instance (systemd.sh'"'"'s start_slot), so it may wait for the app to load
# (cfg["load_timeout"]) besides its own timeout. Once the instance is ready (SIGWINCH from start_slot: a
# signal ignored by default, so one that comes too early or too late ends nothing) or has answered, its own
# timeout alone counts from then on, as for a check started after the load.
deadline = time.monotonic() + cfg.get("load_timeout", 0) + cfg["timeout"]
def loaded(*_):
    global deadline
    deadline = min(deadline, time.monotonic() + cfg["timeout"])
signal.signal(signal.SIGWINCH, loaded)
# While the socket is not there yet, or no one listens on it, it looks again every 0.01 s for the first
# 2 s (a connection made once the socket is bound waits there until a worker takes it), then every 0.2 s
# like any other retry.
quick = time.monotonic() + 2
last = "no answer"
while True:
    pause = 0.2
    try:
        status, body = ask()
        loaded()
        if status == cfg["status"]:
            print("wsgideploy-fact:own_socket=HTTP %d" % status)
            sys.exit(0)
        last = "HTTP %d (expected %d): %s" % (status, cfg["status"], " ".join(body.split())[:300])
        if settled(status):
            last = verdict(last, status, cfg["headers"]["Host"])
            break
    except (OSError, ValueError, IndexError) as exc:
        last = "%s: %s" % (type(exc).__name__, exc)
        if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)) and time.monotonic() < quick:
            pause = 0.01
    if time.monotonic() > deadline:
        break
    time.sleep(pause)
print("GET %s on %s: %s" % (cfg["path"], path, last), file=sys.stderr)
sys.exit(1)
'
probe_config='{"protocol": "http", "path": "/", "headers": {"Host": "hello.example.com", "User-Agent": "wsgideploy-health", "X-Forwarded-Proto": "http", "X-Forwarded-For": "127.0.0.1"}, "environ": {"REQUEST_METHOD": "GET", "QUERY_STRING": "", "SERVER_NAME": "hello.example.com", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "http", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "0", "HTTP_HOST": "hello.example.com", "HTTP_USER_AGENT": "wsgideploy-health", "REQUEST_URI": "/", "CONTENT_TYPE": "", "CONTENT_LENGTH": "", "PATH_INFO": "/"}, "status": 200, "timeout": 30.0, "load_timeout": 60.0}'
app_user=hello
app_user_always=0
processes=''
unit_dir=/etc/systemd/system
release=/srv/hello/releases/20261204T100000Z
release_id=20261204T100000Z
check_timeout=60
check_run=gunicorn_check
# shellcheck shell=bash
# Shared by every app server's control script: facts, processes through pidfiles, the live release.

# fact KEY VALUE: one wsgideploy-fact line for the controller (see wsgideploy/protocol.py).
fact() { printf 'wsgideploy-fact:%s=%s\n' "$1" "$2"; }
# alive PID: whether PID runs. Read from /proc, not `kill -0`, which fails on another user's process:
# under systemd the app runs as its own user (docs/security.md). A zombie (exited, never reaped: some
# init processes do not reap) is not alive.
# Read with bash's own read, not grep: the waits look every few hundredths of a second.
alive() {
  case ${1:-} in '' | *[!0-9]*) return 1;; esac
  local key state
  { while read -r key state _; do
      if [ "$key" = State: ]; then case $state in Z | X) return 1;; esac; return 0; fi
    done < "/proc/$1/status"; } 2>/dev/null
  return 1
}
# pid_in FILE: the pid a pidfile names, or nothing. Only a positive integer above 1 on its first line
# counts ("-1" would signal every process, "0" the group, 1 is init): nothing is ever cut out of other text.
pid_in() {
  local p=""
  if [ -s "$1" ]; then { read -r p < "$1"; } 2>/dev/null || true; fi
  case $p in '' | *[!0-9]* | 0*) return 0;; esac
  if [ "${#p}" -le 9 ] && [ "$p" -gt 1 ]; then echo "$p"; fi
}
# active_main_pid UNIT: the main pid of systemd's UNIT while it is active (or reloading), else nothing. One
# systemctl for both values (it prints them in its own order).
active_main_pid() {
  local key value state="" pid=""
  while IFS="=" read -r key value; do
    case $key in ActiveState) state=$value;; MainPID) pid=$value;; esac
  done <<WSGIDEPLOY_UNIT_SHOW
$(systemctl show -p ActiveState -p MainPID "$1" 2>/dev/null || true)
WSGIDEPLOY_UNIT_SHOW
  case $state in active | reloading) if [ "${pid:-0}" != 0 ]; then echo "$pid"; fi;; esac
}
# now: whole seconds since the host booted (/proc/uptime). Every wait counts on it, not on bash's
# SECONDS, which follows the wall clock: a clock set during a wait (NTP stepping it after a boot, a
# virtual machine resumed) would end that wait at once.
now() { local up; read -r up _ < /proc/uptime; echo "${up%.*}"; }
# wait_gone PID SECONDS: whether PID is gone within SECONDS. Its callers send KILL when it says no, so
# nothing may cut it short: it says no only once it has counted SECONDS in sleeps of 0.05 s AND the time
# since boot (/proc/uptime, which no clock setting moves) has passed SECONDS. Either alone was seen to
# end a 15 s wait after 0.2 s on CI (first the uptime, then the sleeps), then a KILL of a draining runner.
wait_gone() {
  local left=$(($2 * 20)) end t
  end=$(($(uptime_cs) + $2 * 100))
  while alive "$1"; do
    if [ "$left" -le 0 ]; then
      t=$(uptime_cs)
      case $t in '' | *[!0-9]*) return 1;; esac  # no uptime to read: the count alone
      [ "$t" -lt "$end" ] || return 1
    fi
    sleep 0.05
    left=$((left - 1))
  done
}
# uptime_cs: hundredths of a second since boot (/proc/uptime), or nothing
uptime_cs() { local up; { read -r up _ < /proc/uptime; } 2>/dev/null || return 0; echo "${up/./}"; }
# live_release: the name of the release current names, or nothing
live_release() { : "${current:?}"; readlink "$current" 2>/dev/null | sed 's#.*/##' || true; }
# shellcheck shell=bash
# An app server that wsgideploy controls through its pidfile: what gunicorn, uWSGI, the FastCGI runner
# and the standalone runners share (see docs/modes/). Needs process.sh. Values set by the script before it:
#   name     the server as messages name it ("gunicorn", "the FastCGI runner")
#   pidfile  the pidfile that names the process that serves
#   run      shared/run, where a process that loaded the app touches <marker>.ready.<pid>
#   marker   the prefix of those markers (<marker>.failed.<pid> when loading raised)
#   logfile  the log shown after a failure (also_log, when set: a second one, its last 10 lines)
#   current  the live release's link
# The server's own recipe defines start_master: start it from current, `fact pid`, or fail.
: "${name:?}" "${pidfile:?}" "${run:?}" "${marker:?}" "${logfile:?}" "${current:?}"

show_log() {
  if [ -f "$logfile" ]; then tail -n 30 "$logfile" >&2 || true; fi
  if [ -s "${also_log:-}" ]; then tail -n 10 "$also_log" >&2 || true; fi
}
# The ready and failed markers of processes that are gone.
clean_markers() {
  local m
  for m in "$run/$marker".ready.* "$run/$marker".failed.*; do
    [ -e "$m" ] || continue
    alive "${m##*.}" || rm -f "$m"
  done
}
# wait_ready PID SECONDS: 0 once PID loaded the app (its ready marker), 1 if PID died, 2 on timeout.
# It looks every 0.01 s for the first second (most apps load within it: a deploy waits for the new
# instance here, and looks every 0.05 s lost 25 ms on average), then every 0.05 s; a look starts no
# process but the sleep.
wait_ready() {
  local end up looks=0
  end=$(($(now) + $2))
  while read -r up _ < /proc/uptime && [ "${up%.*}" -lt "$end" ]; do
    [ -e "$run/$marker.ready.$1" ] && return 0
    alive "$1" || return 1
    if [ "$looks" -lt 100 ]; then sleep 0.01; looks=$((looks + 1)); else sleep 0.05; fi
  done
  return 2
}
# wait_pidfile FILE PID SECONDS: 0 once FILE names a process, 1 if PID (the one launched) died
# without writing it, 2 on timeout
wait_pidfile() {
  local end
  end=$(($(now) + $3))
  until [ -s "$1" ]; do
    if ! alive "$2"; then [ -s "$1" ] && return 0; return 1; fi
    [ "$(now)" -lt "$end" ] || return 2
    sleep 0.05
  done
}
# term_pid PID SECONDS: TERM (requests in flight finish), KILL only past SECONDS; prints how it ended
term_pid() {
  kill -TERM "$1" 2>/dev/null || true
  if wait_gone "$1" "$2"; then echo stopped; return 0; fi
  kill -KILL "$1" 2>/dev/null || true
  wait_gone "$1" 5 || fail "$name (pid $1) would not stop"
  echo "killed after $2s"
}

# Start the server unless its pidfile names a live process (a stale pidfile is replaced).
pidfile_start() {
  local pid; pid=$(pid_in "$pidfile")
  if alive "$pid"; then
    fact pid "$pid"
    fact action "already running"
    return 0
  fi
  [ -z "$pid" ] || fact stale_pid "$pid"
  start_master
  fact action started
}
# The part of an upgrade that found the server stopped: start it when start_if_stopped is 1, else fail.
start_stopped() {
  : "${start_if_stopped:?}"
  [ "$start_if_stopped" = 1 ] || fail "$name is not running (use start)"
  start_master
  fact action started
}
# pidfile_stop SECONDS: TERM what the pidfile names, KILL only past SECONDS; then forget_server
# (the server's recipe: remove its pidfile, markers and sockets), also when nothing ran.
pidfile_stop() {
  local pid how; pid=$(pid_in "$pidfile")
  if ! alive "$pid"; then
    forget_server
    fact action "not running"
    return 0
  fi
  how=$(term_pid "$pid" "$1")
  forget_server
  fact pid "$pid"
  fact action "$how"
}
# Report the pid (if alive), a stale pidfile and the live release; changes nothing.
pidfile_status() {
  local pid; pid=$(pid_in "$pidfile")
  if alive "$pid"; then fact pid "$pid"; else fact pid ""; fi
  [ -z "$pid" ] || alive "$pid" || fact stale_pid "$pid"
  fact current "$(live_release)"
}
# shellcheck shell=bash
# Does the app load? Every app server's check imports the app in the new release before the switch.

# load_app SECONDS COMMAND...: run COMMAND (it imports the app) with no input, FLASK_RUN_FROM_CLI=true
# (a stray app.run() is a no-op) and under timeout (KILL 5 s after its TERM: an import that hangs).
# Sets out (its output), code (its exit status) and seconds for check_loaded.
load_app() {
  seconds=$1
  shift
  set +e
  out=$(FLASK_RUN_FROM_CLI=true timeout -k 5 "$seconds" "$@" < /dev/null 2>&1)
  code=$?
  set -e
}
# check_loaded FAILURE: after load_app, fail when the import timed out, or with FAILURE when COMMAND
# failed (the end of its output first, on stderr).
check_loaded() {
  if [ "$code" -eq 124 ] || [ "$code" -eq 137 ]; then
    echo "$out" | tail -n 30 >&2
    fail "importing the app took longer than ${seconds}s (does it block at import time?)"
  elif [ "$code" -ne 0 ]; then
    echo "$out" | tail -n 40 >&2
    fail "$1"
  fi
}
# app_loads FAILURE SECONDS COMMAND...: load_app, then check_loaded.
app_loads() {
  local failure=$1
  shift
  load_app "$@"
  check_loaded "$failure"
}
# shellcheck shell=bash
# gunicorn through its pidfile (see wsgideploy/commands/gunicorn.py and docs/gunicorn.md).
# Needs process.sh and pidfile.sh. Values set by the script before it:
: "${pidfile:?}" "${logfile:?}" "${stdout_log:?}" "${current:?}" "${live_config:?}"
: "${config_dir_name:?}" "${START_TIMEOUT:?}" "${GRACEFUL_TIMEOUT:?}" "${socket:?}"

start_master() {
  [ -e "$current" ] || fail "no release is live yet: run deploy first"
  rm -f "$pidfile" "$pidfile.2"
  # The link to a systemd instance's socket (docs/supervision.md) is not a socket gunicorn can bind.
  if [ -L "$socket" ]; then rm -f "$socket"; fi
  clean_markers
  cd "$current" || fail "cannot enter $current"
  setsid "$current/venv/bin/python" "$current/venv/bin/gunicorn" -c "$live_config/gunicorn.conf.py" \
    < /dev/null >> "$stdout_log" 2>&1 &
  local launched=$! pid
  case $(wait_pidfile "$pidfile" $launched "$START_TIMEOUT"; echo $?) in
    0) ;;
    1) show_log; fail "gunicorn exited at start (log above: $logfile)";;
    *) show_log; fail "gunicorn wrote no pidfile within ${START_TIMEOUT}s";;
  esac
  pid=$(pid_in "$pidfile")
  case $(wait_ready "$pid" "$START_TIMEOUT"; echo $?) in
    0) ;;
    1) show_log; fail "gunicorn exited while loading the app (log above: $logfile)";;
    *) show_log; kill -TERM "$pid" 2>/dev/null || true; fail "gunicorn workers did not load the app within ${START_TIMEOUT}s";;
  esac
  fact pid "$pid"
}

# gunicorn_upgrade: USR2, wait until the new master's workers are ready,
# then TERM the old master. If the new master never gets ready, it is stopped and the old one serves on.
# A stopped server is started when start_if_stopped is 1, an error otherwise.
gunicorn_upgrade() {
  local old new end
  old=$(pid_in "$pidfile")
  if ! alive "$old"; then
    start_stopped; return 0
  fi
  clean_markers
  rm -f "$pidfile.2"
  kill -USR2 "$old"
  end=$(($(now) + START_TIMEOUT))
  while [ ! -s "$pidfile.2" ]; do
    alive "$old" || fail "the running gunicorn (pid $old) exited during the upgrade"
    [ "$(now)" -lt "$end" ] || fail "gunicorn did not start a new master within ${START_TIMEOUT}s; pid $old still serves"
    sleep 0.1
  done
  new=$(pid_in "$pidfile.2")
  case $(wait_ready "$new" "$START_TIMEOUT"; echo $?) in
    0) ;;
    1) show_log; fail "the new gunicorn master exited while loading the app; pid $old still serves the previous release";;
    *) show_log; kill -TERM "$new" 2>/dev/null || true
       fail "the new gunicorn workers did not get ready within ${START_TIMEOUT}s; pid $old still serves the previous release";;
  esac
  kill -TERM "$old"
  wait_gone "$old" $((GRACEFUL_TIMEOUT + 10)) || fail "the old gunicorn master (pid $old) did not stop"
  # The new master renames its pidfile once it sees the old one gone, on its next loop (up to 1 s
  # away); a SIGCHLD (harmless: it reaps no one) wakes that loop now.
  end=$(($(now) + 15))
  while [ "$(pid_in "$pidfile")" != "$new" ] && [ "$(now)" -lt "$end" ]; do
    kill -CHLD "$new" 2>/dev/null || true
    sleep 0.05
  done
  [ "$(pid_in "$pidfile")" = "$new" ] || fail "the new gunicorn master (pid $new) did not take over the pidfile"
  clean_markers
  fact old_pid "$old"
  fact pid "$new"
  fact action upgraded
}

# Stop gunicorn gracefully (TERM); KILL only past GRACEFUL_TIMEOUT + 5 s.
gunicorn_stop() { pidfile_stop $((GRACEFUL_TIMEOUT + 5)); }
forget_server() {
  rm -f "$pidfile"
  clean_markers
}

# gunicorn_check: load the app (of release_id, in the folder release, within check_timeout s) with
# `gunicorn --check-config` inside the new release. WSGIDEPLOY_CHECK_RELEASE makes the config's chdir
# that release (current still names the live one, or nothing on a first deploy). Needs app_check.sh.
gunicorn_check() {
  : "${release:?}" "${release_id:?}" "${check_timeout:?}"
  cd "$release" || fail "cannot enter $release"
  WSGIDEPLOY_CHECK_RELEASE="$release" app_loads "the app does not load in release $release_id (traceback above)" \
    "$check_timeout" "$release/venv/bin/python" "$release/venv/bin/gunicorn" --check-config \
    -c "$release/$config_dir_name/gunicorn.conf.py"
}

# Under systemd (systemd.sh): unit_ready PID SECONDS, as wait_ready (the master's workers loaded the
# app); stop_setsid_master: stop a master that an earlier version started with setsid, once the live
# link names the unit's socket. Not with TERM: a master told to stop unlinks its socket's path, which
# is now that link. KILL the master (it does nothing more), then TERM its workers: each finishes the
# request it has and exits, and no new master replaces them.
unit_ready() { wait_ready "$1" "$2"; }
unit_prepare() { :; }
stop_setsid_master() {
  local master workers w
  master=$(pid_in "$pidfile")
  alive "$master" || { forget_server; return 0; }
  workers=$(pgrep -P "$master" || true)
  kill -KILL "$master" 2>/dev/null || true
  wait_gone "$master" 5 || fail "the gunicorn master (pid $master) would not stop"
  for w in $workers; do kill -TERM "$w" 2>/dev/null || true; done
  for w in $workers; do
    wait_gone "$w" $((GRACEFUL_TIMEOUT + 5)) || kill -KILL "$w" 2>/dev/null || true
  done
  forget_server
}
# shellcheck shell=bash
# The app's own user (docs/security.md): under systemd the app server and [processes] run as
# [app] app_user (default: the app's name), not as the deploy user. `wsgideploy setup` creates that
# user and its group and puts the deploy user in the group; this recipe, run by the deploy user at
# the start of every deploy, gives the group what the app writes and nothing else:
#   shared/, shared/run (sockets), shared/log (the app server's logs): group <app>, setgid, g+w;
#   what the deploy user already made in run/ and log/ (logs of an earlier version): group <app>, g+w.
# Releases, venvs and configs stay the deploy user's, read-only to the app.
# Needs process.sh (fact). Values set by the script before it:
#   app_user          the user the app runs as
#   app_user_always   1: on every host (mod_wsgi, supervisor = "systemd"); 0: where systemd runs
#   shared, run, log  <root>/shared and its run and log folders (app_access only)
: "${app_user:?}" "${app_user_always:?}"

# app_user_applies: whether the app runs as app_user on this host
app_user_applies() { [ "$app_user_always" = 1 ] || [ -d /run/systemd/system ]; }

# require_app_user: fail, naming setup, unless app_user exists
require_app_user() {
  id -u "$app_user" >/dev/null 2>&1 \
    || fail "the app runs as the user $app_user ([app] app_user, default the app's name), which does not exist on this host: run \`wsgideploy setup\` for this host (it creates it), or set [app] app_user to an existing user"
}

# app_user_report: read-only (plan): facts app_user and app_group, or app_user_missing
app_user_report() {
  if id -u "$app_user" >/dev/null 2>&1; then
    fact app_user "$app_user"
    fact app_group "$(id -gn "$app_user")"
  else
    fact app_user_missing "$app_user"
  fi
}

# group_dir DIR GROUP: DIR (owned by the deploy user) in GROUP, setgid and group-writable
group_dir() {
  local now; now=$(stat -c '%G %a' "$1")  # one stat for both
  [ "${now% *}" = "$2" ] || chgrp "$2" "$1"
  [ "${now##* }" = 2775 ] || chmod 2775 "$1"
}

# in_session_group GROUP: whether this session may chgrp to GROUP: root, or GROUP among the session's
# groups (id -nG; a group added since the login counts from the next one)
in_session_group() {
  [ "$EUID" = 0 ] && return 0
  case " $(id -nG) " in *" $1 "*) return 0;; esac
  return 1
}

# app_access: check that the app user exists and that the deploy user shares its group, then arrange
# the shared folders; facts app_user and app_group. Fails (changing nothing) with the fix when either is missing.
app_access() {
  local me group
  me=$(id -un)
  [ "$app_user" != "$me" ] || fail "the app would run as the deploy user $me, which can change its code; set [app] app_user to another user (docs/security.md)"
  : "${shared:?}" "${run:?}" "${log:?}"
  require_app_user
  group=$(id -gn "$app_user")
  in_session_group "$group" \
    || fail "$me is not in the group $group of the app user $app_user: run \`wsgideploy setup\` for this host (it adds it), or \`sudo usermod -aG $group $me\`, then deploy again"
  mkdir -p "$run" "$log"
  group_dir "$shared" "$group"
  group_dir "$run" "$group"
  group_dir "$log" "$group"
  find "$run" "$log" -mindepth 1 -maxdepth 1 -user "$me" ! -type l \( ! -group "$group" -o ! -perm -g+w \) \
    -exec chgrp "$group" {} + -exec chmod g+w {} +
  fact app_user "$app_user"
  fact app_group "$group"
}
# shellcheck shell=bash
# The app server under systemd: two instances of one template unit, one per slot (a, b), each on a
# socket of its own; the front server reaches the live one through a link (see docs/supervision.md).
# Needs process.sh, pidfile.sh and the server's own recipe (its unit_ready, and start_master,
# forget_server and its stop for a master that an earlier version started with setsid).
# Values set by the script before it:
#   unit_prefix   wsgideploy-<app>@ (an instance is <unit_prefix><slot>.service)
#   unit_path     /etc/systemd/system/wsgideploy-<app>@.service
#   unit_text     the unit file, rendered by the controller
#   slots         <root>/slots: slots/a and slots/b name the release each instance runs
#   sockets       the socket of a slot is <sockets>.<slot>.sock; <sockets>.sock links to the live one
#   current       the live release's link
#   probe, probe_config  the health check of an instance on its own socket (python3 -c "$probe")
#   pidfile       where a master that an earlier version started with setsid names itself
#   processes     the names of [processes] (worker units wsgideploy-<app>-<name>.service), space-separated;
#                 process_unit_<name> each one's unit file; unit_dir where unit files go
#   START_TIMEOUT how long an instance may take to load the app
#   app_user      the user the units run as (User=; app_user.sh's require_app_user)
# and for systemd_stage and systemd_unstage: release (the new release's folder); for systemd_stage, the
# server's check values and check_run (its check function: it says why an instance did not start).
# The server's recipe defines unit_ready PID SECONDS and unit_prepare (what the release needs before an
# instance runs it: nothing, or the FastCGI runner made executable).
: "${unit_prefix:?}" "${unit_path:?}" "${unit_text:?}" "${slots:?}" "${sockets:?}" "${current:?}"
: "${probe:?}" "${probe_config:?}" "${START_TIMEOUT:?}" "${pidfile:?}" "${processes?}" "${unit_dir:?}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
unit_of() { echo "$unit_prefix$1.service"; }
# The slot whose socket the live link names (a or b), or nothing.
live_slot() {
  local target; target=$(readlink "$sockets.sock" 2>/dev/null) || return 0
  case $target in *.a.sock) echo a;; *.b.sock) echo b;; esac
}
other_slot() { if [ "$1" = a ]; then echo b; else echo a; fi; }
unit_active() { systemctl is-active --quiet "$(unit_of "$1")"; }
# The quick forms first: enable/disable without systemctl's implicit daemon-reload (the links count from
# the next boot), stop without waiting for the instance to finish its requests; the plain forms where a
# sudoers drop-in of an earlier `setup` allows only those.
unit_enable() { as_root systemctl enable --quiet --no-reload "$1" 2>/dev/null || as_root systemctl enable --quiet "$1"; }
unit_disable() { as_root systemctl disable --quiet --no-reload "$1" 2>/dev/null || as_root systemctl disable --quiet "$1"; }
unit_stop_nowait() { as_root systemctl stop --no-block "$1" 2>/dev/null || as_root systemctl stop "$1"; }
# unit_busy UNIT: whether UNIT is running or about to (active, reloading, or activating: also while
# systemd waits to restart it after a crash); inactive, failed and unknown units are not.
unit_busy() {
  case "$(systemctl is-active "$1" 2>/dev/null || true)" in active | activating | deactivating | reloading | refreshing) return 0;; esac
  return 1
}
main_pid() { systemctl show -p MainPID --value "$(unit_of "$1")" 2>/dev/null || echo 0; }
# unit_state UNIT: ActiveState/SubState, and the restart count
unit_state() {
  echo "$(systemctl show -p ActiveState --value "$1" 2>/dev/null)/$(systemctl show -p SubState --value "$1" 2>/dev/null)"
}
restarts() { systemctl show -p NRestarts --value "$1" 2>/dev/null || echo 0; }
journal_tail() { journal_unit "$(unit_of "$1")"; }

process_unit() { echo "${unit_prefix%@}-$1.service"; }
journal_unit() {
  echo "the last lines of $1's journal:" >&2
  as_root journalctl -u "$1" -n 20 --no-pager -o cat 2>/dev/null | sed 's/^/  /' >&2 || true
}
# install_unit FILE TEXT: install TEXT as FILE, owned by root, unless FILE already says that;
# 0 when it was installed, 1 when it was already so.
install_unit() {
  if [ -f "$1" ] && printf '%s' "$2" | cmp -s - "$1"; then return 1; fi
  printf '%s' "$2" | as_root install -o root -g root -m 0644 /dev/stdin "$1" \
    || fail "cannot install $1 as root (sudo -n refused; see docs/security.md)"
}
# Install the app's unit files that differ (then daemon-reload); fact unit=installed|unchanged.
unit_install() {
  local changed=0 p var
  require_app_user
  install_unit "$unit_path" "$unit_text" && changed=1
  for p in $processes; do
    var="process_unit_$p"
    install_unit "$unit_dir/$(process_unit "$p")" "${!var}" && changed=1
  done
  if [ $changed = 0 ]; then fact unit unchanged; return 0; fi
  as_root systemctl daemon-reload || fail "systemctl daemon-reload failed"
  fact unit installed
}
# processes_restart: every [processes] unit enabled and (re)started onto the live release.
processes_restart() {
  local p unit
  for p in $processes; do
    unit=$(process_unit "$p")
    unit_enable "$unit" || fail "systemctl enable $unit failed"
    as_root systemctl restart "$unit" || { journal_unit "$unit"; fail "systemctl restart $unit failed"; }
  done
  if [ -n "$processes" ]; then fact processes "$processes"; fi
}

# wait_queue_empty SOCKET SECONDS: until no connection waits to be accepted on the listening SOCKET
# (after the live link moved away from it, none arrives: a stop then drops nothing).
wait_queue_empty() {
  local end queued
  end=$(($(now) + $2))
  while [ "$(now)" -lt "$end" ]; do
    queued=$(ss -xlnH src "$1" 2>/dev/null | awk '{ n += $3 } END { print n + 0 }')
    [ "$queued" = 0 ] && return 0
    sleep 0.05
  done
  return 1
}

# start_slot SLOT TARGET: run TARGET (a release folder) in SLOT's instance, ready and answering its
# health check on its own socket; on failure the instance is stopped and its journal shown.
start_slot() {
  local slot=$1 target=$2 unit pid probing rc=0
  unit=$(unit_of "$slot")
  # an instance an earlier deploy retired may still finish its requests: this stop waits for it
  retired_wait "$slot"
  if unit_busy "$unit"; then as_root systemctl stop "$unit" || fail "systemctl stop $unit failed"; fi
  ln -sfn "$target" "$slots/.$slot.tmp"
  mv -T "$slots/.$slot.tmp" "$slots/$slot"
  rm -f "$sockets.$slot.sock"
  as_root systemctl reset-failed "$unit" 2>/dev/null || true
  as_root systemctl start "$unit" || { journal_tail "$slot"; fail "systemctl start $unit failed"; }
  # The health check starts now, beside the instance's start (its Python's own start is off the wait): it
  # asks once the socket is there, and the answer comes once a worker has loaded the app.
  python3 -c "$probe" "$probe_config" "$sockets.$slot.sock" & probing=$!
  pid=$(main_pid "$slot")
  # shellcheck disable=SC2034  # read by the server's unit_ready
  slot_dir="$slots/$slot"
  unit_ready "$pid" "$START_TIMEOUT" || rc=$?
  if [ "$rc" != 0 ]; then
    kill -TERM "$probing" 2>/dev/null || true
    wait "$probing" 2>/dev/null || true
    journal_tail "$slot"; show_log; as_root systemctl stop "$unit" || true
    case $rc in
      1) fail "$unit exited while loading the app (journal above); nothing was switched";;
      *) fail "$unit did not get ready within ${START_TIMEOUT}s (journal above); nothing was switched";;
    esac
  fi
  # loaded: from now on its own timeout alone counts. WINCH, whose default action is to be ignored: one
  # that comes before the probe's handler is in place, or while it exits (Python puts the default back
  # then), ends nothing.
  kill -WINCH "$probing" 2>/dev/null || true
  if ! wait "$probing"; then
    journal_tail "$slot"; as_root systemctl stop "$unit" || true
    fail "$unit failed its health check on its own socket (above); nothing was switched"
  fi
  fact pid "$pid"
}

# retire SLOT [ACTIVE]: stop SLOT's instance without waiting for it: it finishes the requests it has (up to its
# graceful timeout) after the deploy returns. The stop is sent by a job of its own (retire_job), once no
# connection waits on SLOT's socket any more: a stop closes the socket, and drops what waits there. That
# may take as long as a request, so the deploy does not wait for the job either. The job holds a lock on
# $slots/.retiring.SLOT, taken before it starts: the next start of that slot, `stop` and `uninstall` wait
# for it (retired_wait), then for the unit's stop. An instance that is not active is stopped all the same:
# systemd may be about to restart it after a crash (activating, auto-restart), and a stop cancels that.
# ACTIVE 1: the caller saw it active during this script, and it is not asked again (one systemctl less).
retire() {
  if [ "${2:-}" != 1 ] && ! unit_active "$1"; then
    if unit_busy "$(unit_of "$1")"; then as_root systemctl stop "$(unit_of "$1")" || fail "systemctl stop $(unit_of "$1") failed"; fi
    return 0
  fi
  exec 9> "$slots/.retiring.$1"
  flock -n 9 || true  # nothing holds it: this slot's start waited for the job before
  # the job keeps fd 9 (the lock); nothing of it may hold the session's output open (fd 3: the facts)
  retire_job "$1" </dev/null >/dev/null 2>&1 3>&- 4>&- &
  exec 9>&-
  fact retired "$(unit_of "$1")"
}

# retire_job SLOT: (in the background) the stop of retire, once SLOT's socket has no connection waiting
# (at most 10 s). A failed stop goes to the journal (the instance then stops at the slot's next start).
retire_job() {
  wait_queue_empty "$sockets.$1.sock" 10 || true
  unit_stop_nowait "$(unit_of "$1")" \
    || logger -t wsgideploy "systemctl stop $(unit_of "$1") failed: it stops at the slot's next start"
}

# retired_wait SLOT: until the job retiring SLOT's instance (retire_job) has sent its stop, at most 20 s.
retired_wait() {
  [ -e "$slots/.retiring.$1" ] || return 0
  flock -w 20 "$slots/.retiring.$1" true 2>/dev/null || true
}

# retire_setsid: a master that an earlier version started with setsid (its pidfile): moved under the
# unit by stopping it once the live link names the new instance.
retire_setsid() {
  local pid; pid=$(pid_in "$pidfile")
  alive "$pid" || return 0
  wait_queue_empty "$sockets.sock" 10 || true
  stop_setsid_master
  fact migrated "pid $pid (started with setsid) stopped; the unit serves"
}

# staged_for SLOT TARGET: the main pid of SLOT's instance if it is the one systemd_stage started for TARGET
# (a release folder, its real path) and still runs; else nothing.
staged_for() {
  local staged=""
  read -r staged 2>/dev/null < "$slots/.staged" || true
  [ "$staged" = "$1 $2" ] && [ "$(readlink -f "$slots/$1")" = "$2" ] || return 0
  active_main_pid "$(unit_of "$1")"
}

# systemd_stage: the build's check under systemd. The idle slot's instance starts with the new release,
# ready and answering its health check on its own socket, before anything switches; the go-live then
# only moves the live link to it (systemd_upgrade): the app loads once per deploy. When the instance
# does not start, the server's own check ($check_run) loads the app to say why, as it does without
# systemd; if the app loads there, the instance starts once more (fact started_after_check), and if
# that fails too, its journal and log are shown. A Flask app's static report, written by the instance
# (WSGIDEPLOY_STATIC_REPORT in the unit), is copied for the check's facts.
systemd_stage() {
  : "${release:?}" "${check_run:?}" "${app_user:?}"
  # (not "code": the check's load_app sets that one)
  local live new real err="" start_code=0
  real=$(readlink -f "$release") || fail "no release at $release"
  mkdir -p "$slots"
  unit_install
  unit_prepare
  live=$(live_slot)
  new=$(other_slot "$live")
  rm -f "$sockets.$new.static"
  clean_markers
  # named before the start, so that systemd_unstage finds it even when this script is cut short
  printf '%s %s\n' "$new" "$real" > "$slots/.staged"
  exec 4>&1  # the facts of start_slot go on to stdout, its errors into err
  err=$( (start_slot "$new" "$real") 2>&1 1>&4 ) || start_code=$?
  if [ "$start_code" != 0 ]; then
    "$check_run"  # the app does not load: the mode's own words, and the step fails here
    # It loads as the deploy user. An app that writes into its release when it loads (Flask's
    # os.makedirs(app.instance_path)) cannot as its own user, and finds what that check made: once more.
    start_code=0
    err=$( (start_slot "$new" "$real") 2>&1 1>&4 ) || start_code=$?
    if [ "$start_code" != 0 ]; then printf '%s\n' "$err" >&2; exit "$start_code"; fi
    fact started_after_check "$app_user"
  fi
  exec 4>&-
  if [ -n "${WSGIDEPLOY_STATIC_REPORT:-}" ] && [ -f "$sockets.$new.static" ]; then
    cp "$sockets.$new.static" "$WSGIDEPLOY_STATIC_REPORT"
  fi
  fact staged "$new"
}

# systemd_unstage: stop the instance systemd_stage started (or was starting) for release, a build that
# will not go live, unless the live link names it.
systemd_unstage() {
  : "${release:?}"
  local staged slot
  staged=$(cat "$slots/.staged" 2>/dev/null || true)
  slot=${staged%% *}
  [ -n "$staged" ] && [ "${staged#* }" = "$(readlink -f "$release" 2>/dev/null || true)" ] || return 0
  [ "$slot" != "$(live_slot)" ] || return 0
  rm -f "$slots/.staged"
  unit_busy "$(unit_of "$slot")" || return 0
  as_root systemctl stop "$(unit_of "$slot")" || true
  fact unstaged "$(unit_of "$slot")"
}

# systemd_upgrade: serve the release current names from the idle slot, checked on its own
# socket before the live link moves to it (or already started there by systemd_stage); then the
# other instance stops. A failure before the link moves leaves the live instance serving, untouched.
systemd_upgrade() {
  : "${start_if_stopped:?}"
  local target live new live_active enabling staged_pid
  target=$(readlink -f "$current" 2>/dev/null || true)
  if [ -z "$target" ] || [ ! -d "$target" ]; then fail "no release is live yet: run deploy first"; fi
  mkdir -p "$slots"
  unit_install
  live=$(live_slot)
  live_active=0
  if [ -n "$live" ] && unit_active "$live"; then live_active=1; fi
  if [ "$live_active" = 0 ] && ! alive "$(pid_in "$pidfile")"; then
    [ "$start_if_stopped" = 1 ] || fail "the app server is not running (use start)"
  fi
  new=$(other_slot "$live")
  clean_markers
  staged_pid=$(staged_for "$new" "$target")
  if [ -n "$staged_pid" ]; then
    fact pid "$staged_pid"
  else
    start_slot "$new" "$target"
  fi
  rm -f "$slots/.staged"
  ln -sfn "${sockets##*/}.$new.sock" "$sockets.sock.tmp"
  mv -T "$sockets.sock.tmp" "$sockets.sock"
  # the new instance enabled and the old one disabled side by side (each is a sudo and a systemctl)
  unit_enable "$(unit_of "$new")" & enabling=$!
  if [ -n "$live" ]; then
    unit_disable "$(unit_of "$live")" || true
    retire "$live" "$live_active"
  fi
  wait "$enabling" || fail "systemctl enable $(unit_of "$new") failed"
  retire_setsid
  clean_markers
  processes_restart
  fact slot "$new"
  fact action "$([ -n "$live" ] && echo upgraded || echo started)"
}

# systemd_start: start the live slot's instance unless it runs (an upgrade from nothing otherwise).
systemd_start() {
  local live p; live=$(live_slot)
  if [ -n "$live" ] && unit_active "$live" && [ "$(readlink -f "$slots/$live")" = "$(readlink -f "$current")" ]; then
    fact pid "$(main_pid "$live")"
    fact action "already running"
    for p in $processes; do as_root systemctl start "$(process_unit "$p")" || fail "systemctl start $(process_unit "$p") failed"; done
    return 0
  fi
  start_if_stopped=1 systemd_upgrade
}

# systemd_stop: stop both instances (each finishes its requests) and keep them from starting at boot.
# A unit is stopped when it is busy (unit_busy), not only when active: one that systemd is about to
# restart after a crash is "activating", and would come back after this stop if it were skipped.
systemd_stop() {
  local slot was="" p unit
  for p in $processes; do
    unit=$(process_unit "$p")
    unit_disable "$unit" 2>/dev/null || true
    if unit_busy "$unit"; then as_root systemctl stop "$unit" || fail "systemctl stop $unit failed"; fi
  done
  for slot in a b; do
    retired_wait "$slot"
    if unit_active "$slot"; then was="$was $(main_pid "$slot")"; fi
    unit_disable "$(unit_of "$slot")" 2>/dev/null || true
    if unit_busy "$(unit_of "$slot")"; then as_root systemctl stop "$(unit_of "$slot")" || fail "systemctl stop $(unit_of "$slot") failed"; fi
  done
  if alive "$(pid_in "$pidfile")"; then stop_setsid_master; was="$was setsid"; fi
  fact pid "${was# }"
  fact action "$([ -n "$was" ] && echo stopped || echo "not running")"
}

# systemd_status: the live instance's unit, state, main pid and restart count; the live release.
systemd_status() {
  local live unit p
  live=$(live_slot)
  fact current "$(live_release)"
  for p in $processes; do
    unit=$(process_unit "$p")
    fact "process_$p" "$(unit_state "$unit"), $(restarts "$unit") restarts"
  done
  if [ -z "$live" ]; then
    fact unit ""; fact state "not installed"; fact pid ""
    return 0
  fi
  unit=$(unit_of "$live")
  fact unit "$unit"
  fact state "$(unit_state "$unit")"
  fact restarts "$(restarts "$unit")"
  fact user "$(systemctl show -p User --value "$unit" 2>/dev/null || true)"
  fact enabled "$(systemctl is-enabled "$unit" 2>/dev/null || true)"
  if unit_active "$live"; then fact pid "$(main_pid "$live")"; else fact pid ""; fi
}
systemd_stage

)
else
(
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
name=gunicorn
pidfile=/srv/hello/shared/run/gunicorn.pid
run=/srv/hello/shared/run
marker=gunicorn
logfile=/srv/hello/shared/log/gunicorn.error.log
stdout_log=/srv/hello/shared/log/gunicorn.stdout.log
current=/srv/hello/current
live_config=/srv/hello/current/.wsgideploy
socket=/srv/hello/shared/run/gunicorn.sock
config_dir_name=.wsgideploy
START_TIMEOUT=60
GRACEFUL_TIMEOUT=30
release=/srv/hello/releases/20261204T100000Z
release_id=20261204T100000Z
check_timeout=60
# shellcheck shell=bash
# Shared by every app server's control script: facts, processes through pidfiles, the live release.

# fact KEY VALUE: one wsgideploy-fact line for the controller (see wsgideploy/protocol.py).
fact() { printf 'wsgideploy-fact:%s=%s\n' "$1" "$2"; }
# alive PID: whether PID runs. Read from /proc, not `kill -0`, which fails on another user's process:
# under systemd the app runs as its own user (docs/security.md). A zombie (exited, never reaped: some
# init processes do not reap) is not alive.
# Read with bash's own read, not grep: the waits look every few hundredths of a second.
alive() {
  case ${1:-} in '' | *[!0-9]*) return 1;; esac
  local key state
  { while read -r key state _; do
      if [ "$key" = State: ]; then case $state in Z | X) return 1;; esac; return 0; fi
    done < "/proc/$1/status"; } 2>/dev/null
  return 1
}
# pid_in FILE: the pid a pidfile names, or nothing. Only a positive integer above 1 on its first line
# counts ("-1" would signal every process, "0" the group, 1 is init): nothing is ever cut out of other text.
pid_in() {
  local p=""
  if [ -s "$1" ]; then { read -r p < "$1"; } 2>/dev/null || true; fi
  case $p in '' | *[!0-9]* | 0*) return 0;; esac
  if [ "${#p}" -le 9 ] && [ "$p" -gt 1 ]; then echo "$p"; fi
}
# active_main_pid UNIT: the main pid of systemd's UNIT while it is active (or reloading), else nothing. One
# systemctl for both values (it prints them in its own order).
active_main_pid() {
  local key value state="" pid=""
  while IFS="=" read -r key value; do
    case $key in ActiveState) state=$value;; MainPID) pid=$value;; esac
  done <<WSGIDEPLOY_UNIT_SHOW
$(systemctl show -p ActiveState -p MainPID "$1" 2>/dev/null || true)
WSGIDEPLOY_UNIT_SHOW
  case $state in active | reloading) if [ "${pid:-0}" != 0 ]; then echo "$pid"; fi;; esac
}
# now: whole seconds since the host booted (/proc/uptime). Every wait counts on it, not on bash's
# SECONDS, which follows the wall clock: a clock set during a wait (NTP stepping it after a boot, a
# virtual machine resumed) would end that wait at once.
now() { local up; read -r up _ < /proc/uptime; echo "${up%.*}"; }
# wait_gone PID SECONDS: whether PID is gone within SECONDS. Its callers send KILL when it says no, so
# nothing may cut it short: it says no only once it has counted SECONDS in sleeps of 0.05 s AND the time
# since boot (/proc/uptime, which no clock setting moves) has passed SECONDS. Either alone was seen to
# end a 15 s wait after 0.2 s on CI (first the uptime, then the sleeps), then a KILL of a draining runner.
wait_gone() {
  local left=$(($2 * 20)) end t
  end=$(($(uptime_cs) + $2 * 100))
  while alive "$1"; do
    if [ "$left" -le 0 ]; then
      t=$(uptime_cs)
      case $t in '' | *[!0-9]*) return 1;; esac  # no uptime to read: the count alone
      [ "$t" -lt "$end" ] || return 1
    fi
    sleep 0.05
    left=$((left - 1))
  done
}
# uptime_cs: hundredths of a second since boot (/proc/uptime), or nothing
uptime_cs() { local up; { read -r up _ < /proc/uptime; } 2>/dev/null || return 0; echo "${up/./}"; }
# live_release: the name of the release current names, or nothing
live_release() { : "${current:?}"; readlink "$current" 2>/dev/null | sed 's#.*/##' || true; }
# shellcheck shell=bash
# An app server that wsgideploy controls through its pidfile: what gunicorn, uWSGI, the FastCGI runner
# and the standalone runners share (see docs/modes/). Needs process.sh. Values set by the script before it:
#   name     the server as messages name it ("gunicorn", "the FastCGI runner")
#   pidfile  the pidfile that names the process that serves
#   run      shared/run, where a process that loaded the app touches <marker>.ready.<pid>
#   marker   the prefix of those markers (<marker>.failed.<pid> when loading raised)
#   logfile  the log shown after a failure (also_log, when set: a second one, its last 10 lines)
#   current  the live release's link
# The server's own recipe defines start_master: start it from current, `fact pid`, or fail.
: "${name:?}" "${pidfile:?}" "${run:?}" "${marker:?}" "${logfile:?}" "${current:?}"

show_log() {
  if [ -f "$logfile" ]; then tail -n 30 "$logfile" >&2 || true; fi
  if [ -s "${also_log:-}" ]; then tail -n 10 "$also_log" >&2 || true; fi
}
# The ready and failed markers of processes that are gone.
clean_markers() {
  local m
  for m in "$run/$marker".ready.* "$run/$marker".failed.*; do
    [ -e "$m" ] || continue
    alive "${m##*.}" || rm -f "$m"
  done
}
# wait_ready PID SECONDS: 0 once PID loaded the app (its ready marker), 1 if PID died, 2 on timeout.
# It looks every 0.01 s for the first second (most apps load within it: a deploy waits for the new
# instance here, and looks every 0.05 s lost 25 ms on average), then every 0.05 s; a look starts no
# process but the sleep.
wait_ready() {
  local end up looks=0
  end=$(($(now) + $2))
  while read -r up _ < /proc/uptime && [ "${up%.*}" -lt "$end" ]; do
    [ -e "$run/$marker.ready.$1" ] && return 0
    alive "$1" || return 1
    if [ "$looks" -lt 100 ]; then sleep 0.01; looks=$((looks + 1)); else sleep 0.05; fi
  done
  return 2
}
# wait_pidfile FILE PID SECONDS: 0 once FILE names a process, 1 if PID (the one launched) died
# without writing it, 2 on timeout
wait_pidfile() {
  local end
  end=$(($(now) + $3))
  until [ -s "$1" ]; do
    if ! alive "$2"; then [ -s "$1" ] && return 0; return 1; fi
    [ "$(now)" -lt "$end" ] || return 2
    sleep 0.05
  done
}
# term_pid PID SECONDS: TERM (requests in flight finish), KILL only past SECONDS; prints how it ended
term_pid() {
  kill -TERM "$1" 2>/dev/null || true
  if wait_gone "$1" "$2"; then echo stopped; return 0; fi
  kill -KILL "$1" 2>/dev/null || true
  wait_gone "$1" 5 || fail "$name (pid $1) would not stop"
  echo "killed after $2s"
}

# Start the server unless its pidfile names a live process (a stale pidfile is replaced).
pidfile_start() {
  local pid; pid=$(pid_in "$pidfile")
  if alive "$pid"; then
    fact pid "$pid"
    fact action "already running"
    return 0
  fi
  [ -z "$pid" ] || fact stale_pid "$pid"
  start_master
  fact action started
}
# The part of an upgrade that found the server stopped: start it when start_if_stopped is 1, else fail.
start_stopped() {
  : "${start_if_stopped:?}"
  [ "$start_if_stopped" = 1 ] || fail "$name is not running (use start)"
  start_master
  fact action started
}
# pidfile_stop SECONDS: TERM what the pidfile names, KILL only past SECONDS; then forget_server
# (the server's recipe: remove its pidfile, markers and sockets), also when nothing ran.
pidfile_stop() {
  local pid how; pid=$(pid_in "$pidfile")
  if ! alive "$pid"; then
    forget_server
    fact action "not running"
    return 0
  fi
  how=$(term_pid "$pid" "$1")
  forget_server
  fact pid "$pid"
  fact action "$how"
}
# Report the pid (if alive), a stale pidfile and the live release; changes nothing.
pidfile_status() {
  local pid; pid=$(pid_in "$pidfile")
  if alive "$pid"; then fact pid "$pid"; else fact pid ""; fi
  [ -z "$pid" ] || alive "$pid" || fact stale_pid "$pid"
  fact current "$(live_release)"
}
# shellcheck shell=bash
# Does the app load? Every app server's check imports the app in the new release before the switch.

# load_app SECONDS COMMAND...: run COMMAND (it imports the app) with no input, FLASK_RUN_FROM_CLI=true
# (a stray app.run() is a no-op) and under timeout (KILL 5 s after its TERM: an import that hangs).
# Sets out (its output), code (its exit status) and seconds for check_loaded.
load_app() {
  seconds=$1
  shift
  set +e
  out=$(FLASK_RUN_FROM_CLI=true timeout -k 5 "$seconds" "$@" < /dev/null 2>&1)
  code=$?
  set -e
}
# check_loaded FAILURE: after load_app, fail when the import timed out, or with FAILURE when COMMAND
# failed (the end of its output first, on stderr).
check_loaded() {
  if [ "$code" -eq 124 ] || [ "$code" -eq 137 ]; then
    echo "$out" | tail -n 30 >&2
    fail "importing the app took longer than ${seconds}s (does it block at import time?)"
  elif [ "$code" -ne 0 ]; then
    echo "$out" | tail -n 40 >&2
    fail "$1"
  fi
}
# app_loads FAILURE SECONDS COMMAND...: load_app, then check_loaded.
app_loads() {
  local failure=$1
  shift
  load_app "$@"
  check_loaded "$failure"
}
# shellcheck shell=bash
# gunicorn through its pidfile (see wsgideploy/commands/gunicorn.py and docs/gunicorn.md).
# Needs process.sh and pidfile.sh. Values set by the script before it:
: "${pidfile:?}" "${logfile:?}" "${stdout_log:?}" "${current:?}" "${live_config:?}"
: "${config_dir_name:?}" "${START_TIMEOUT:?}" "${GRACEFUL_TIMEOUT:?}" "${socket:?}"

start_master() {
  [ -e "$current" ] || fail "no release is live yet: run deploy first"
  rm -f "$pidfile" "$pidfile.2"
  # The link to a systemd instance's socket (docs/supervision.md) is not a socket gunicorn can bind.
  if [ -L "$socket" ]; then rm -f "$socket"; fi
  clean_markers
  cd "$current" || fail "cannot enter $current"
  setsid "$current/venv/bin/python" "$current/venv/bin/gunicorn" -c "$live_config/gunicorn.conf.py" \
    < /dev/null >> "$stdout_log" 2>&1 &
  local launched=$! pid
  case $(wait_pidfile "$pidfile" $launched "$START_TIMEOUT"; echo $?) in
    0) ;;
    1) show_log; fail "gunicorn exited at start (log above: $logfile)";;
    *) show_log; fail "gunicorn wrote no pidfile within ${START_TIMEOUT}s";;
  esac
  pid=$(pid_in "$pidfile")
  case $(wait_ready "$pid" "$START_TIMEOUT"; echo $?) in
    0) ;;
    1) show_log; fail "gunicorn exited while loading the app (log above: $logfile)";;
    *) show_log; kill -TERM "$pid" 2>/dev/null || true; fail "gunicorn workers did not load the app within ${START_TIMEOUT}s";;
  esac
  fact pid "$pid"
}

# gunicorn_upgrade: USR2, wait until the new master's workers are ready,
# then TERM the old master. If the new master never gets ready, it is stopped and the old one serves on.
# A stopped server is started when start_if_stopped is 1, an error otherwise.
gunicorn_upgrade() {
  local old new end
  old=$(pid_in "$pidfile")
  if ! alive "$old"; then
    start_stopped; return 0
  fi
  clean_markers
  rm -f "$pidfile.2"
  kill -USR2 "$old"
  end=$(($(now) + START_TIMEOUT))
  while [ ! -s "$pidfile.2" ]; do
    alive "$old" || fail "the running gunicorn (pid $old) exited during the upgrade"
    [ "$(now)" -lt "$end" ] || fail "gunicorn did not start a new master within ${START_TIMEOUT}s; pid $old still serves"
    sleep 0.1
  done
  new=$(pid_in "$pidfile.2")
  case $(wait_ready "$new" "$START_TIMEOUT"; echo $?) in
    0) ;;
    1) show_log; fail "the new gunicorn master exited while loading the app; pid $old still serves the previous release";;
    *) show_log; kill -TERM "$new" 2>/dev/null || true
       fail "the new gunicorn workers did not get ready within ${START_TIMEOUT}s; pid $old still serves the previous release";;
  esac
  kill -TERM "$old"
  wait_gone "$old" $((GRACEFUL_TIMEOUT + 10)) || fail "the old gunicorn master (pid $old) did not stop"
  # The new master renames its pidfile once it sees the old one gone, on its next loop (up to 1 s
  # away); a SIGCHLD (harmless: it reaps no one) wakes that loop now.
  end=$(($(now) + 15))
  while [ "$(pid_in "$pidfile")" != "$new" ] && [ "$(now)" -lt "$end" ]; do
    kill -CHLD "$new" 2>/dev/null || true
    sleep 0.05
  done
  [ "$(pid_in "$pidfile")" = "$new" ] || fail "the new gunicorn master (pid $new) did not take over the pidfile"
  clean_markers
  fact old_pid "$old"
  fact pid "$new"
  fact action upgraded
}

# Stop gunicorn gracefully (TERM); KILL only past GRACEFUL_TIMEOUT + 5 s.
gunicorn_stop() { pidfile_stop $((GRACEFUL_TIMEOUT + 5)); }
forget_server() {
  rm -f "$pidfile"
  clean_markers
}

# gunicorn_check: load the app (of release_id, in the folder release, within check_timeout s) with
# `gunicorn --check-config` inside the new release. WSGIDEPLOY_CHECK_RELEASE makes the config's chdir
# that release (current still names the live one, or nothing on a first deploy). Needs app_check.sh.
gunicorn_check() {
  : "${release:?}" "${release_id:?}" "${check_timeout:?}"
  cd "$release" || fail "cannot enter $release"
  WSGIDEPLOY_CHECK_RELEASE="$release" app_loads "the app does not load in release $release_id (traceback above)" \
    "$check_timeout" "$release/venv/bin/python" "$release/venv/bin/gunicorn" --check-config \
    -c "$release/$config_dir_name/gunicorn.conf.py"
}

# Under systemd (systemd.sh): unit_ready PID SECONDS, as wait_ready (the master's workers loaded the
# app); stop_setsid_master: stop a master that an earlier version started with setsid, once the live
# link names the unit's socket. Not with TERM: a master told to stop unlinks its socket's path, which
# is now that link. KILL the master (it does nothing more), then TERM its workers: each finishes the
# request it has and exits, and no new master replaces them.
unit_ready() { wait_ready "$1" "$2"; }
unit_prepare() { :; }
stop_setsid_master() {
  local master workers w
  master=$(pid_in "$pidfile")
  alive "$master" || { forget_server; return 0; }
  workers=$(pgrep -P "$master" || true)
  kill -KILL "$master" 2>/dev/null || true
  wait_gone "$master" 5 || fail "the gunicorn master (pid $master) would not stop"
  for w in $workers; do kill -TERM "$w" 2>/dev/null || true; done
  for w in $workers; do
    wait_gone "$w" $((GRACEFUL_TIMEOUT + 5)) || kill -KILL "$w" 2>/dev/null || true
  done
  forget_server
}
gunicorn_check

)
fi
unset WSGIDEPLOY_STATIC_REPORT
if [ -f /srv/hello/releases/20261204T100000Z/.wsgideploy/static.facts ]; then grep -E '^wsgideploy-fact:app_static_(folder|exists|url|release)=' /srv/hello/releases/20261204T100000Z/.wsgideploy/static.facts || true; fi
for p in /srv/hello/shared/log; do
  [ -e "$p" ] || continue
  find "$p" -user "$(id -un)" ! -type l ! -perm -g+w -exec chmod g+w {} +
done
)
echo "wsgideploy-step:3"
(
set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
RELOAD_TIMEOUT=10
NGINX_CONF=''
SITE_AVAILABLE=/etc/nginx/sites-available/hello
SITE_ENABLED=/etc/nginx/sites-enabled/hello
SITE_KEPT=/etc/nginx/sites-available/hello.wsgideploy-live
SITE_TEXT='# nginx site for hello: it names no release (a deploy that changes nothing here leaves nginx alone).
# Rendered by wsgideploy from templates/nginx.site.conf.j2; the next deploy replaces it.

upstream wsgideploy_hello {
    server unix:/srv/hello/shared/run/gunicorn.sock fail_timeout=0;
}

server {
    listen 80;
    server_name hello.example.com;
    client_max_body_size 10m;

    # nginx'"'"'s own folder, where Debian'"'"'s logrotate snippet rotates them (nginx opens its logs as root:
    # never in the deploy'"'"'s shared/log).
    access_log /var/log/nginx/hello.access.log;
    error_log /var/log/nginx/hello.error.log;

    # Static files straight from the live release, without the app server. A link in them is followed only
    # to a file of the link'"'"'s owner (never to /etc/passwd, or what the app'"'"'s user wrote).
    location /static/ {
        alias /srv/hello/current/static/;
        disable_symlinks if_not_owner from=/srv/hello/current;
        expires 1h;
        access_log off;
    }

    location / {
        proxy_pass http://wsgideploy_hello;
        proxy_set_header Host $http_host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_redirect off;
    }
}
'
SITES_LABEL='nginx sites directory'
SITE_TEST_LABEL='nginx -t'
# shellcheck shell=bash
# Shared by every app server's control script: facts, processes through pidfiles, the live release.

# fact KEY VALUE: one wsgideploy-fact line for the controller (see wsgideploy/protocol.py).
fact() { printf 'wsgideploy-fact:%s=%s\n' "$1" "$2"; }
# alive PID: whether PID runs. Read from /proc, not `kill -0`, which fails on another user's process:
# under systemd the app runs as its own user (docs/security.md). A zombie (exited, never reaped: some
# init processes do not reap) is not alive.
# Read with bash's own read, not grep: the waits look every few hundredths of a second.
alive() {
  case ${1:-} in '' | *[!0-9]*) return 1;; esac
  local key state
  { while read -r key state _; do
      if [ "$key" = State: ]; then case $state in Z | X) return 1;; esac; return 0; fi
    done < "/proc/$1/status"; } 2>/dev/null
  return 1
}
# pid_in FILE: the pid a pidfile names, or nothing. Only a positive integer above 1 on its first line
# counts ("-1" would signal every process, "0" the group, 1 is init): nothing is ever cut out of other text.
pid_in() {
  local p=""
  if [ -s "$1" ]; then { read -r p < "$1"; } 2>/dev/null || true; fi
  case $p in '' | *[!0-9]* | 0*) return 0;; esac
  if [ "${#p}" -le 9 ] && [ "$p" -gt 1 ]; then echo "$p"; fi
}
# active_main_pid UNIT: the main pid of systemd's UNIT while it is active (or reloading), else nothing. One
# systemctl for both values (it prints them in its own order).
active_main_pid() {
  local key value state="" pid=""
  while IFS="=" read -r key value; do
    case $key in ActiveState) state=$value;; MainPID) pid=$value;; esac
  done <<WSGIDEPLOY_UNIT_SHOW
$(systemctl show -p ActiveState -p MainPID "$1" 2>/dev/null || true)
WSGIDEPLOY_UNIT_SHOW
  case $state in active | reloading) if [ "${pid:-0}" != 0 ]; then echo "$pid"; fi;; esac
}
# now: whole seconds since the host booted (/proc/uptime). Every wait counts on it, not on bash's
# SECONDS, which follows the wall clock: a clock set during a wait (NTP stepping it after a boot, a
# virtual machine resumed) would end that wait at once.
now() { local up; read -r up _ < /proc/uptime; echo "${up%.*}"; }
# wait_gone PID SECONDS: whether PID is gone within SECONDS. Its callers send KILL when it says no, so
# nothing may cut it short: it says no only once it has counted SECONDS in sleeps of 0.05 s AND the time
# since boot (/proc/uptime, which no clock setting moves) has passed SECONDS. Either alone was seen to
# end a 15 s wait after 0.2 s on CI (first the uptime, then the sleeps), then a KILL of a draining runner.
wait_gone() {
  local left=$(($2 * 20)) end t
  end=$(($(uptime_cs) + $2 * 100))
  while alive "$1"; do
    if [ "$left" -le 0 ]; then
      t=$(uptime_cs)
      case $t in '' | *[!0-9]*) return 1;; esac  # no uptime to read: the count alone
      [ "$t" -lt "$end" ] || return 1
    fi
    sleep 0.05
    left=$((left - 1))
  done
}
# uptime_cs: hundredths of a second since boot (/proc/uptime), or nothing
uptime_cs() { local up; { read -r up _ < /proc/uptime; } 2>/dev/null || return 0; echo "${up/./}"; }
# live_release: the name of the release current names, or nothing
live_release() { : "${current:?}"; readlink "$current" 2>/dev/null | sed 's#.*/##' || true; }
# shellcheck shell=bash
# A front server's site: install it so that a config the server rejects never stays on disk, and keep
# the live one to put back when the server cannot run the new one (nginx.sh, lighttpd.sh).
#
# The script defines before this file:
#   as_root CMD...     CMD, as root when the inventory says so
#   root_install DEST  stdin as DEST, root's, mode 0644
# and the server's recipe defines site_test (its test of the whole config, e.g. `nginx -t`).
# Values (set when a script installs a site): SITE_AVAILABLE (the site file), SITE_ENABLED (its link),
# SITE_KEPT (where the live site is kept meanwhile, beside it: root's folder), SITE_TEXT (the new site,
# rendered on the controller and sent in this script: root never installs a file the deploy user or
# the app can write), SITES_LABEL (what the sites folders are called in a message) and SITE_TEST_LABEL
# (the test command, in a message). Every root command here has fixed arguments, declared in
# tasks/commands/privileged.py.

# site_is_live: whether the enabled site is SITE_TEXT byte for byte, so that a deploy which changes nothing
# in it leaves the running front server alone (no test, no reload). The site names no release, and new
# certificate files change its digest line. Read as the deploy user: sites are 0644.
site_is_live() {
  [ -L "$SITE_ENABLED" ] && [ "$(readlink "$SITE_ENABLED")" = "$SITE_AVAILABLE" ] \
    && printf '%s' "$SITE_TEXT" | cmp -s - "$SITE_AVAILABLE"
}

# site_keep: a copy of the live site (SITE_AVAILABLE, enabled as SITE_ENABLED) to go back to
site_keep() {
  : "${SITE_AVAILABLE:?}" "${SITE_ENABLED:?}" "${SITE_KEPT:?}"
  kept_site=0
  kept_link=0
  if [ -e "$SITE_AVAILABLE" ]; then as_root cp -p "$SITE_AVAILABLE" "$SITE_KEPT"; kept_site=1; fi
  if [ -L "$SITE_ENABLED" ]; then kept_link=1; fi
  # The script may end before the server runs the new site: the copy goes with it.
  trap site_drop_kept EXIT
}

# site_drop_kept: the kept copy of the live site goes (the server runs the new site, or the script ends);
# a root command only when there is one (none on a first deploy; none left once dropped or put back)
site_drop_kept() { if [ -e "$SITE_KEPT" ] || [ -L "$SITE_KEPT" ]; then as_root rm -f "$SITE_KEPT"; fi; }

# site_restore: the kept site back as it was (or no site, when there was none)
site_restore() {
  if [ "$kept_site" = 1 ]; then as_root mv -f "$SITE_KEPT" "$SITE_AVAILABLE"
  else as_root rm -f "$SITE_AVAILABLE"; fi
  if [ "$kept_link" = 1 ]; then as_root ln -sfn "$SITE_AVAILABLE" "$SITE_ENABLED"; else as_root rm -f "$SITE_ENABLED"; fi
}

# site_install: keep the live site, install SITE_TEXT as the site, enable it and test the whole
# config (site_test). A rejected site is taken back, so the config on disk is the one that runs, and
# the script fails with the server's own error.
site_install() {
  : "${SITE_AVAILABLE:?}" "${SITE_ENABLED:?}" "${SITE_TEXT:?}" "${SITES_LABEL:?}" "${SITE_TEST_LABEL:?}"
  local out
  [ -d "${SITE_AVAILABLE%/*}" ] || fail "$SITES_LABEL ${SITE_AVAILABLE%/*} does not exist on the host"
  [ -d "${SITE_ENABLED%/*}" ] || fail "$SITES_LABEL ${SITE_ENABLED%/*} does not exist on the host"
  site_keep
  printf '%s' "$SITE_TEXT" | root_install "$SITE_AVAILABLE" || fail "could not install $SITE_AVAILABLE as root"
  as_root ln -sfn "$SITE_AVAILABLE" "$SITE_ENABLED"
  if ! out=$(site_test 2>&1); then
    site_restore
    echo "$out" >&2
    fail "$SITE_TEST_LABEL rejected the new site; the previous config was put back and" \
      "${SITE_TEST_LABEL%% *} was not reloaded"
  fi
}
# shellcheck shell=bash
# nginx: apply the config on disk and check that it took; put the previous site back when it did not.
#
# A reload is a signal: nginx accepts it at once and loads the config afterwards, so a config that
# `nginx -t` passes can still fail to load (a port that another program holds: `nginx -t` never
# binds, the reloading master does). The master then logs [emerg] and keeps serving the old config,
# with its old workers. So a reload counts only once the master has a new child (a new worker
# generation); an [emerg]/[alert]/[crit] line in its error log since the signal, the master's exit,
# or RELOAD_TIMEOUT seconds without new workers make it a failure that says why.
#
# Nothing here reads as root: the error log and the pidfile are found in the main config file, which
# anyone may read, and read as the deploy user (Debian's are www-data:adm 0640: the group adm reads
# them). A log it cannot read only makes the reload's failure message shorter.
#
# The script defines before this file (per control, see wsgideploy/commands/nginx.py):
#   as_root CMD...       CMD, as root when the inventory says so
#   nginx_cmd ARGS...    the nginx binary with the configured -c, as root (with fixed arguments only:
#                        tasks/commands/privileged.py lists them)
#   nginx_query ARGS...  the same binary as the deploy user (-V)
#   nginx_master         the master's pid, or nothing when nginx is not running
#   nginx_signal_reload  ask the running nginx to reload; nginx_start: start it
# and `pid_in` comes from process.sh, site_install, site_restore and site_drop_kept from site.sh.
# Value: NGINX_CONF, the -c config (empty: nginx's built-in --conf-path).
: "${RELOAD_TIMEOUT:?}"
NGINX_CONF=${NGINX_CONF:-}

# running PID: whether PID is a live process. Not `kill -0`: the master is root's, the deploy user's
# signal to it is refused (EPERM) even while it runs. A zombie is not running.
running() { [ -n "${1:-}" ] && [ -e "/proc/$1" ] && ! grep -qs '^State:[[:space:]]*[ZX]' "/proc/$1/status"; }

# children PID: the pids whose parent is PID, one line
children() {
  local stat_file stat pid ppid
  for stat_file in /proc/[0-9]*/stat; do
    # a builtin: no process per entry; braces, so that a process gone since the glob prints nothing
    { read -r stat < "$stat_file"; } 2>/dev/null || continue
    # the fields after the name's last ')' are: state ppid ...
    read -r _ ppid _ <<< "${stat##*) }"
    [ "$ppid" = "$1" ] || continue
    pid=${stat_file#/proc/}
    printf '%s ' "${pid%/stat}"
  done
}

# has_new_child MASTER BEFORE: whether MASTER has a child that is not in the list BEFORE
has_new_child() {
  local pid
  for pid in $(children "$1"); do
    case " $2 " in *" $pid "*) ;; *) return 0 ;; esac
  done
  return 1
}

# built_in NAME: the value of nginx's --NAME= build option (nginx -V), e.g. conf-path
built_in() { nginx_query -V 2>&1 | tr ' ' '\n' | sed -n "s/^--$1=//p" | head -n 1; }

# main_directive NAME: the first NAME directive of nginx's main config file (error_log, pid)
main_directive() {
  local conf=${NGINX_CONF:-$(built_in conf-path)}
  [ -r "$conf" ] || return 0
  sed -n "s/^[[:space:]]*$1[[:space:]]\{1,\}\([^[:space:];]\{1,\}\).*/\1/p" "$conf" | head -n 1
}

# configured_error_log: the main error_log of the config on disk, else the built-in one (where the
# master writes its [emerg] lines)
configured_error_log() {
  local log
  log=$(main_directive error_log)
  [ -n "$log" ] || log=$(built_in error-log-path)
  case "$log" in /*) echo "$log" ;; *) ;; esac
}

# log_size FILE: its size in bytes, 0 when there is none: the mark to read new lines from
log_size() {
  if [ -n "$1" ]; then stat -c %s "$1" 2>/dev/null || echo 0; else echo 0; fi
}

# errors_since FILE MARK: the last three [emerg], [alert] or [crit] lines written after MARK
errors_since() {
  [ -n "$1" ] || return 0
  tail -c "+$(($2 + 1))" "$1" 2>/dev/null | grep -E '\[(emerg|alert|crit)\]' | tail -n 3 || true
}

# unreadable_hint FILE: why nginx's own lines are missing from a failure, when FILE cannot be read
unreadable_hint() {
  if [ -n "$1" ] && [ ! -r "$1" ]; then
    echo "($1 is not readable by $(id -un): nginx's own error lines are there; the group adm reads them)"
  fi
}

# wait_log_quiet FILE END: wait until FILE has not grown for a second (or now reaches END). A
# failed reload goes on after its first [emerg]: nginx tries a busy port five times, half a second
# apart, then logs "still could not bind()"; a second reload sent before it is done is lost in it.
wait_log_quiet() {
  local size last
  last=$(log_size "$1")
  while [ "$(now)" -lt "$2" ]; do
    sleep 1
    size=$(log_size "$1")
    [ "$size" != "$last" ] || return 0
    last=$size
  done
}

# nginx_running: whether an nginx master runs
nginx_running() {
  local master
  master=$(nginx_master)
  [ -n "$master" ] && running "$master"
}

# nginx_reload_verified MASTER: reload and wait for new workers; on failure print why and return 1
nginx_reload_verified() {
  local master=$1 log mark before end errors
  log=$(configured_error_log)
  mark=$(log_size "$log")
  before=$(children "$master")
  nginx_signal_reload || return 1
  end=$(($(now) + RELOAD_TIMEOUT))
  while :; do
    if has_new_child "$master" "$before"; then return 0; fi
    errors=$(errors_since "$log" "$mark")
    if [ -n "$errors" ]; then
      wait_log_quiet "$log" "$end"
      printf 'nginx did not load the new config (%s):\n%s\n' "$log" "$(errors_since "$log" "$mark")"
      return 1
    fi
    if ! running "$master"; then echo "the nginx master (pid $master) exited during the reload"; return 1; fi
    if [ "$(now)" -ge "$end" ]; then
      echo "nginx started no new workers within ${RELOAD_TIMEOUT}s of the reload signal"
      unreadable_hint "$log"
      return 1
    fi
    sleep 0.1
  done
}

# nginx_start_verified: start nginx and check that it runs; on failure print why and return 1
nginx_start_verified() {
  local log mark out
  log=$(configured_error_log)
  mark=$(log_size "$log")
  if ! out=$(nginx_start 2>&1); then
    printf '%s\n' "$out"
    errors_since "$log" "$mark"
    return 1
  fi
  if ! nginx_running; then echo "nginx started, then was not running"; errors_since "$log" "$mark"; return 1; fi
}

# nginx_apply: make nginx run the config on disk (reload the running master, or start one).
# Sets nginx_action (reloaded, started) and, on failure, nginx_error; returns 1 on failure.
nginx_apply() {
  local master
  master=$(nginx_master)
  nginx_error=""
  if [ -n "$master" ] && running "$master"; then
    nginx_action=reloaded
    nginx_error=$(nginx_reload_verified "$master") || return 1
  else
    nginx_action=started
    nginx_error=$(nginx_start_verified) || return 1
  fi
  if ! nginx_running; then nginx_error="nginx is not running after it was $nginx_action"; return 1; fi
}

# nginx_report: the fact the step's line shows
nginx_report() {
  if [ "$nginx_action" = started ]; then fact nginx started
  else fact nginx reloaded; fi
}

# nginx_apply_or_fail: nginx_apply, and on failure end the script with nginx's error
nginx_apply_or_fail() {
  if ! nginx_apply; then printf '%s\n' "$nginx_error" >&2; fail "nginx could not be $nginx_action"; fi
  nginx_report
}

# site_test: nginx's test of the whole config, for site_install (site.sh)
site_test() { nginx_cmd -t; }

# nginx_publish: apply the site just installed (and tested with nginx -t). When nginx does not take
# it, or is not running after, put the kept site back, reload or start nginx with it, and fail with
# nginx's own error: a deploy never leaves nginx stopped, nor a site on disk that nginx does not run.
nginx_publish() {
  local first_error back
  if nginx_apply; then
    site_drop_kept
    nginx_report
    return 0
  fi
  first_error=$nginx_error
  site_restore
  if nginx_apply; then
    back="the previous site was put back and nginx $nginx_action with it"
  else
    back="the previous site was put back, and nginx could not be $nginx_action with it either: $nginx_error"
  fi
  printf '%s\n' "$first_error" >&2
  fail "nginx did not apply the new site; $back"
}

# nginx_pidfile: the pidfile of the config on disk (its pid directive, else the built-in path)
nginx_pidfile() {
  local file prefix
  file=$(main_directive pid)
  [ -n "$file" ] || file=$(built_in pid-path)
  case "$file" in
    /*) echo "$file" ;;
    ?*) prefix=$(built_in prefix)
        echo "${prefix%/}/$file" ;;
    *) ;;
  esac
}
as_root() { sudo -n "$@"; }
root_install() { sudo -n install -o root -g root -m 0644 /dev/stdin "$1"; }
nginx_cmd() { sudo -n nginx "$@"; }
nginx_query() { nginx "$@"; }
if [ -d /run/systemd/system ]; then
nginx_master() { active_main_pid nginx; }
nginx_signal_reload() { sudo -n systemctl reload nginx || { echo "systemctl reload nginx failed"; return 1; }; }
nginx_start() { sudo -n systemctl start nginx || { echo "systemctl start nginx failed"; return 1; }; }
else
nginx_master() { pid_in "$(nginx_pidfile)"; }
nginx_signal_reload() {
  if sudo -n nginx -s reload 2>/dev/null; then return 0; fi
  echo 'sudo -n nginx -s reload failed'; return 1
}
nginx_start() {
  local out
  out=$(sudo -n nginx 2>&1) || { echo "$out"; echo "nginx was not running and did not start"; return 1; }
}
fi
if site_is_live && nginx_running; then fact nginx unchanged
else site_install; nginx_publish; fi
)
