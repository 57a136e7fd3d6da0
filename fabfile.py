"""wsgideploy's entry point for ``fab``: every task lives in ``tasks/``."""
from tasks import namespace

ns = namespace
