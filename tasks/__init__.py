"""wsgideploy: safe, fast deploys of WSGI apps over SSH.

``import wsgideploy`` loads nothing else. The command is `wsgideploy.program`
(``wsgideploy -H web1 deploy``); ``fab`` finds the same tasks through a two-line
fabfile that imports `wsgideploy.fab` (``wsgideploy init`` writes it).
The library sits beside the task modules (``cli/``): ``inventory`` (config),
``commands`` (what runs on a host), ``transport`` (how it gets there), ``output``
(what a person sees), ``steps`` and ``flow`` (the deploy, as named steps).
"""

__version__ = "0.5.0"
