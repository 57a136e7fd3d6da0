"""What a Django project's settings say about its static files, read without importing them.

Pure: the settings file is parsed with :mod:`ast`; no project code runs. The deploy serves ``STATIC_ROOT``
(inside the release) at ``STATIC_URL``; where the settings compute them in a way read here does not follow,
the deploy learns the folder from where ``collectstatic`` wrote on the host (tasks/commands/django.py).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DjangoStatic:
    """What a Django project's settings say about its static files, read without importing them."""

    settings: str             # the settings file, relative to the root ("mysite/settings.py")
    root: str | None          # STATIC_ROOT relative to the project root, None when not found or outside it
    url: str                  # STATIC_URL as a URL path ("/static"), "/static" when not found
    root_source: str          # STATIC_ROOT as written, for messages ("BASE_DIR / 'staticfiles'")


def django_static(root: Path, project: str) -> DjangoStatic:
    """``STATIC_ROOT`` and ``STATIC_URL`` of ``<project>/settings.py`` (or ``settings/__init__.py``), as far as
    plain assignments say: ``BASE_DIR / "x"``, ``os.path.join(BASE_DIR, "x")``, ``str(BASE_DIR / "x")`` or a
    literal path, with ``BASE_DIR`` the project root (startproject's
    ``Path(__file__).resolve().parent.parent``). Anything else is unknown here: the deploy reads where
    ``collectstatic`` really wrote."""
    for name in (f"{project}/settings.py", f"{project}/settings/__init__.py", f"{project}/settings/base.py"):
        path = root / name
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            continue
        values = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                  for t in node.targets if isinstance(t, ast.Name)}
        static_root = _base_relative(values.get("STATIC_ROOT"))
        url = values.get("STATIC_URL")
        url_text = url.value if isinstance(url, ast.Constant) and isinstance(url.value, str) else "static/"
        written = ast.unparse(values["STATIC_ROOT"]) if "STATIC_ROOT" in values else ""
        return DjangoStatic(settings=name, root=static_root, url=_url_path(url_text), root_source=written)
    return DjangoStatic(settings="", root=None, url="/static", root_source="")


def _base_relative(node: ast.expr | None) -> str | None:
    """A path under ``BASE_DIR`` as written in settings, relative to it; None for anything else."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "str" and node.args:
        return _base_relative(node.args[0])
    parts: list[str] = []
    while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        if not (isinstance(node.right, ast.Constant) and isinstance(node.right.value, str)):
            return None
        parts.insert(0, node.right.value)
        node = node.left
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join" and node.args:
        first, rest = node.args[0], node.args[1:]
        if not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in rest):
            return None
        node, parts = first, [a.value for a in rest] + parts  # type: ignore[attr-defined]
    if not (isinstance(node, ast.Name) and node.id == "BASE_DIR") or not parts:
        return None
    relative = "/".join(p.strip("/") for p in parts if p.strip("/"))
    return relative if relative and ".." not in relative.split("/") else None


def _url_path(url: str) -> str:
    """STATIC_URL as the path the front server serves: ``static/`` -> ``/static``; a full URL (a CDN) ->
    its path."""
    path = re.sub(r"^[a-z]+://[^/]+", "", url)
    return "/" + path.strip("/") if path.strip("/") else "/static"


def resolve(source: Path, wsgi: str, framework: str) -> tuple[str, DjangoStatic | None]:
    """``framework`` as the deploy takes it, and the project's static settings where it is Django.

    ``auto``: Django when ``manage.py`` at the source's top names the project whose module ``wsgi`` loads
    (``mysite.wsgi:application``), else ``none``. ``django`` needs that ``manage.py``; the error says so.
    A STATIC_ROOT or STATIC_URL that would not be a safe relative folder or URL path is left out (unknown).
    """
    from .checks import is_rel_path, is_static_url
    from .detect import django_project
    if framework == "none":
        return "none", None
    project = django_project(source)
    if project is None or not wsgi.startswith(project + "."):
        if framework == "django":
            raise ValueError(f'is "django", but {source}/manage.py does not name the project of wsgi ({wsgi})')
        return "none", None
    found = django_static(source, project)
    root = found.root if found.root is not None and is_rel_path(found.root) is None else None
    url = found.url if is_static_url(found.url) is None else "/static"
    return "django", DjangoStatic(settings=found.settings, root=root, url=url, root_source=found.root_source)
