"""``python3 -m tests.sandbox up [--local] | down | status | url`` (see `tests.sandbox.cli`)."""
import sys

from .cli import main

sys.exit(main())
