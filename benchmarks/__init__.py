"""The deploy benchmark: wsgideploy against a one-ssh-call shell floor and a naive fabfile.

Run it with ``python3 benchmarks/run.py`` (as root); see docs/performance.md.
"""
