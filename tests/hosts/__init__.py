"""Loopback test hosts: what the integration tests (and the local sandbox) set up on this machine.

Each module holds one concern; everything runs here, as root, binds only loopback addresses,
starts processes through pidfiles and stops them by pid (never by name):

- `processes`: `run` (no shell, a timeout, `ProvisionError`), /proc lookups, stopping by pid.
- `users`: the login user with passwordless sudo (`ensure_deploy_user`, `remove_deploy_user`).
- `ports`: free loopback ports.
- `files`: folders, atomic root-owned files, `file_lock`.
- `toml_writer`: `toml_dumps`, for the inventories the tests write.
- `sshd`: `SshdHost`, an sshd on a loopback port with its own keys and known_hosts.
- `nginx`, `apache`, `lighttpd`: private prefixes of the front servers, for tests that need more than
  one front server on one host (the booted Debian servers of `tests.servers` run the stock ones).

None of this ships in the wheel: the runtime package `wsgideploy` never imports it.
"""
