"""Render the configs a release needs from the Jinja2 templates in ``templates/``."""
from __future__ import annotations

import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import jinja2

from .commands.certificate import site_tls
from .commands.logs import log_owner
from .inventory import App
from .layout import Layout
from .modes import app_server, front_server
from .template_cache import bytecode_cache

# The bundled templates: package data of the wheel (`wsgideploy/templates`), which is
# `templates/` at the top of the repository in an editable install.
TEMPLATES_DIR = Path(str(resources.files("wsgideploy.templates")))

# Defaults for the free ``[vars]`` the bundled templates use.
DEFAULT_VARS: dict[str, Any] = {
    "workers": 2,
    "threads": 1,
    "timeout": 30,
    "graceful_timeout": 30,
    "client_max_body_size": "10m",
}


# Copied into every release as they are (not rendered).
VERBATIM_FILES = ("wsgideploy_env.py", "wsgideploy_process.py")


@lru_cache(maxsize=16)
def environment(overrides: Path | None = None) -> jinja2.Environment:
    """A strict Jinja2 environment: an undefined variable is an error, not ''.

    Templates in ``overrides`` (the inventory's ``app.templates``) replace the
    bundled ones of the same name. One environment per folder for the whole process, so a template is
    compiled once, not once per host and step (Jinja2 keeps the compiled templates and reloads one whose
    file changed; its environments are safe to share between the threads of hosts), and kept compiled between
    runs in the user's cache folder (`template_cache`).
    """
    search = ([str(overrides)] if overrides else []) + [str(TEMPLATES_DIR)]
    return jinja2.Environment(loader=jinja2.FileSystemLoader(search),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, bytecode_cache=bytecode_cache())


def template_context(app: App, layout: Layout, release_id: str, static_dir: str | None,
                     host_vars: Mapping[str, Any], deploy_user: str = "",
                     deploy_group: str = "", app_user: str = "", app_group: str = "",
                     https: bool = True, tls_files: str = "") -> dict[str, Any]:
    """Everything a template may use: ``app``, ``layout``, ``release_id``, ``static_dir``, ``vars``,
    the upstream and socket of the app server, ``proxy_fix``, the deploy user and group, the owner of
    ``shared/log`` (``log_user``, ``log_group``: `commands.logs.log_owner`), the app's own user and group
    where it runs as one (``app_user``, ``app_group``: the facts of ``app_access`` (`release.app_user_script`); else "") and
    ``tls`` (`commands.certificate.site_tls`: None without ``[app.tls]``; ``https`` false before an acme
    app's first certificate; ``tls_files``: the digest of the host's certificate files, files mode)."""
    log_user, log_group = log_owner(deploy_user, deploy_group, app_user, app_group)
    return {"app": app, "layout": layout, "release_id": release_id, "static_dir": static_dir,
            "upstream": f"wsgideploy_{app.name.replace('-', '_')}",
            "upstream_kind": app_server(app.server).upstream,
            # the unix socket the app server listens on, if it has one
            "socket": f"{layout.run}/{app.server}.sock",
            "proxy_fix": app.proxy_fix,
            "deploy_user": deploy_user, "deploy_group": deploy_group,
            "log_user": log_user, "log_group": log_group, "app_user": app_user, "app_group": app_group,
            "tls": site_tls(app, https, tls_files),
            "vars": {**DEFAULT_VARS, **host_vars}}


_LOADING = threading.Lock()  # the hosts' threads render the same templates at once: each is compiled once


def render(name: str, context: Mapping[str, Any], env: jinja2.Environment | None = None) -> str:
    """Render ``templates/<name>`` with ``context``."""
    with _LOADING:
        template = (env or environment()).get_template(name)
    return template.render(**context)


def render_release_configs(context: Mapping[str, Any], overrides: Path | None = None) -> dict[str, str]:
    """The files that go into ``releases/<id>/.wsgideploy/``: the app server's configs and the site."""
    env = environment(overrides)
    server = app_server(context["app"].server)
    proxy = front_server(context["app"].proxy)
    files = {name: render(template, context, env) for name, template in server.config_templates.items()}
    files["wsgideploy_entry.py"] = render("wsgideploy_entry.py.j2", context, env)
    files["logrotate.conf"] = render("logrotate.conf.j2", context, env)
    files[proxy.site_file] = render(proxy.site_template, context, env)
    for name in VERBATIM_FILES:
        files[name] = (TEMPLATES_DIR / name).read_text()
    return files
