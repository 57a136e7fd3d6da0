"""The local sandbox of the quickstart: ``python3 -m tests.sandbox up|down|status`` (from the repository root).

``up`` creates a deploy user, an sshd on a loopback port, a private nginx prefix and
``inventories/sandbox.toml``; ``down`` removes all of it (see `tests.sandbox.manage`). It is built from
the loopback test hosts of `tests.hosts` and is not part of the wsgideploy package.
"""
