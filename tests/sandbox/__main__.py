"""``python3 -m tests.sandbox up|down|status``."""
import sys

from .manage import main

sys.exit(main())
