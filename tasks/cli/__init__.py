"""The ``fab`` tasks. Each module is thin: it selects hosts and calls `wsgideploy.flow` or `wsgideploy.steps`."""
