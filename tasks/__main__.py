"""``python -m wsgideploy`` is the ``wsgideploy`` command."""
from .program import main

main()
