"""wsgideploy's entry point for ``fab``: every task lives in ``tasks/``."""
from wsgideploy import namespace

ns = namespace
