"""The quickstart's sandbox: ``python3 -m tests.sandbox up [--local] | down | status | url``, from the repository root.

``up`` boots a Debian 12 server with systemd-nspawn (`tests.sandbox.booted`, built on `tests.servers`) and
writes ``inventories/sandbox.toml`` for it; ``up --local`` makes this machine the host instead
(`tests.sandbox.local`, built on `tests.hosts`). ``down`` removes either. See `tests.sandbox.cli`.
None of this is part of the wsgideploy package.
"""
