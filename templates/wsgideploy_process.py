"""Run one of the app's ``[processes]`` (a worker: ``rq worker tasks``, ``celery -A app worker``...).

Copied into every release as ``.wsgideploy/wsgideploy_process.py`` by wsgideploy; its systemd unit
(``wsgideploy-<app>-<name>.service``) runs ``<root>/current/venv/bin/python
<root>/current/.wsgideploy/wsgideploy_process.py NAME``. It reads NAME's command from
``processes.json`` beside it (the release's own ``[processes]``), adds ``shared/.env`` to the environment,
puts the release's venv first on PATH and the release and its own package on PYTHONPATH, enters the release, and replaces itself with the command
(``exec``: the unit's main process is the worker, and its stop signal reaches it).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.realpath(__file__))  # <release>/.wsgideploy, whatever `current` becomes
RELEASE = os.path.dirname(HERE)


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: wsgideploy_process.py NAME")
    with open(os.path.join(HERE, "processes.json")) as fh:
        declared = json.load(fh)
    name, commands = argv[1], declared["processes"]
    if name not in commands:
        sys.exit("release %s has no process %r (its [processes]: %s)"
                 % (os.path.basename(RELEASE), name, ", ".join(sorted(commands)) or "none"))
    sys.path.insert(0, HERE)
    import wsgideploy_env
    os.environ.update(wsgideploy_env.load(declared["env_file"]))
    venv = os.path.join(RELEASE, "venv")
    os.environ["VIRTUAL_ENV"] = venv
    os.environ["PATH"] = os.path.join(venv, "bin") + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin")
    os.environ["WSGIDEPLOY_RELEASE"] = os.path.basename(RELEASE)
    # the release and the app's own package (installed into the release when the app is one)
    os.environ["PYTHONPATH"] = os.pathsep.join([RELEASE, os.path.join(HERE, "site")])
    os.chdir(RELEASE)
    os.execv("/bin/sh", ["/bin/sh", "-c", "exec " + commands[name]])


if __name__ == "__main__":
    main(sys.argv)
