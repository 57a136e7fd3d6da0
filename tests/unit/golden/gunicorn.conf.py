# gunicorn config for hello, release 20261121T101500Z.
# Rendered by wsgideploy from templates/gunicorn.conf.py.j2; the next deploy replaces it.
#
# gunicorn is started from /srv/hello/current (see docs/gunicorn.md), so a USR2
# upgrade re-executes into whatever release `current` points at, venv included.
import importlib.util
import os
import sys

# The check before the switch loads the new release from its own directory.
chdir = os.environ.get("WSGIDEPLOY_CHECK_RELEASE") or "/srv/hello/current"
# app:create_app(), with this stage's logging (and ProxyFix behind the proxy): see wsgideploy_entry.py
wsgi_app = "wsgideploy_entry:application"
# On sys.path here, not with `pythonpath`: gunicorn --check-config loads the app before applying that.
sys.path.insert(0, os.path.join(chdir, ".wsgideploy"))
bind = ["unix:/srv/hello/shared/run/gunicorn.sock"]
pidfile = "/srv/hello/shared/run/gunicorn.pid"
proc_name = "wsgideploy-hello"

workers = 4
threads = 1
timeout = 30
graceful_timeout = 30

accesslog = "/srv/hello/shared/log/gunicorn.access.log"
errorlog = "/srv/hello/shared/log/gunicorn.error.log"
loglevel = "info"
# print() in the app goes to the error log instead of being lost.
capture_output = True

# gunicorn >= 25.1: without this the old master removes the new master's
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
    # its arbiter starts: an app that reads .env at import (Django's settings) needs the values now.
    os.environ.update(_env_file_values())


def post_worker_init(worker):
    """Tell wsgideploy that a worker of this master has loaded the app."""
    open(os.path.join(_READY_DIR, "gunicorn.ready.%d" % worker.ppid), "a").close()
