"""The ``fab`` tasks. Each module is thin: it selects hosts and calls `tasks.flow` or `tasks.steps`."""
