"""The gevent, tornado and twisted runners under systemd on a booted Debian 12 server behind Debian's nginx: a code deploy, a rollback
and a restart under load with 0 failed requests, ``kill -9`` of the main process undone within 10 s,
``stop`` and ``start`` (tests/integration/supervised.py, docs/supervision.md)."""
from __future__ import annotations

import pytest

from .supervised import make_site, prove_mode, server  # noqa: F401  (fixtures)


@pytest.mark.parametrize("server_name", ["gevent", "tornado", "twisted"])
def test_a_standalone_runner_under_systemd_deploys_rolls_back_restarts_and_survives_kill_9(
        server_name: str, make_site, tmp_path, record_property):  # noqa: F811
    prove_mode(server_name, {"gevent": 8311, "tornado": 8312, "twisted": 8313}[server_name], make_site, tmp_path,
               record_property)
