"""The gunicorn config and nginx site that the floor and the naive fabfile install.

Hand-written equivalents of wsgideploy's rendered templates for the example app
(templates/gunicorn.conf.py.j2, templates/nginx.site.conf.j2): the same unix socket and
pidfile under ``shared/run``, the same worker count, the same ready marker that a worker
touches once the app has loaded (how an upgrade knows the new master is ready), static
files served by nginx from ``current``, the site on all addresses (the benchmark checks
every host over HTTP from outside it, as wsgideploy's site with no ``listen_address``). Only wsgideploy's own entry module (logging set-up
and ProxyFix around the app) is left out.
"""
from __future__ import annotations

from pathlib import Path

CONFIG_DIR = ".bench"  # inside each release, like wsgideploy's .wsgideploy/
CHECK_ENV = "BENCH_CHECK_RELEASE"
WORKERS = 2


def gunicorn_conf(root: Path | str, app_name: str, wsgi: str = "app:app") -> str:
    """``gunicorn.conf.py`` for an app whose live release is ``<root>/current``."""
    root = str(root)
    return f'''# gunicorn config for {app_name} (benchmark floor / naive fabfile)
import os

chdir = os.environ.get("{CHECK_ENV}") or "{root}/current"
wsgi_app = "{wsgi}"
bind = ["unix:{root}/shared/run/gunicorn.sock"]
pidfile = "{root}/shared/run/gunicorn.pid"
proc_name = "bench-{app_name}"
workers = {WORKERS}
timeout = 30
graceful_timeout = 30
accesslog = "{root}/shared/log/gunicorn.access.log"
errorlog = "{root}/shared/log/gunicorn.error.log"
capture_output = True
control_socket_disable = True


def post_worker_init(worker):
    open("{root}/shared/run/gunicorn.ready.%d" % worker.ppid, "a").close()
'''


def nginx_site(root: Path | str, app_name: str, port: int, static_dir: str = "static") -> str:
    """The nginx site: static files from ``current``, everything else to gunicorn's socket."""
    root = str(root)
    upstream = "bench_" + app_name.replace("-", "_")
    return f'''# nginx site for {app_name} (benchmark floor / naive fabfile)
upstream {upstream} {{
    server unix:{root}/shared/run/gunicorn.sock fail_timeout=0;
}}

server {{
    listen {port};
    server_name localhost;
    client_max_body_size 10m;
    access_log {root}/shared/log/nginx.access.log;
    error_log {root}/shared/log/nginx.error.log;

    location /static/ {{
        alias {root}/current/{static_dir}/;
        expires 1h;
        access_log off;
    }}

    location / {{
        proxy_set_header Host $http_host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_redirect off;
        proxy_pass http://{upstream};
    }}
}}
'''
