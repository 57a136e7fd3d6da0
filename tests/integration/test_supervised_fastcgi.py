"""The FastCGI runner (flup) under systemd on a booted Debian 12 server behind Debian's nginx: a code deploy, a rollback
and a restart under load with 0 failed requests, ``kill -9`` of the main process undone within 10 s,
``stop`` and ``start`` (tests/integration/supervised.py, docs/supervision.md)."""
from __future__ import annotations

from .supervised import make_site, prove_mode, server  # noqa: F401  (fixtures)


def test_the_fastcgi_runner_under_systemd_deploys_rolls_back_restarts_and_survives_kill_9(make_site, tmp_path,  # noqa: F811
                                                                              record_property):
    prove_mode("fastcgi", 8321, make_site, tmp_path, record_property)
