"""What runs on a host: pure builders of shell scripts (``str`` in, ``str`` out).

Nothing here opens a connection. `wsgideploy.transport` carries the scripts, and
`wsgideploy.steps` decides which ones run and reports on them.
"""
