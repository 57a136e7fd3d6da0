"""Load ``<root>/shared/.env`` for the app: used by gunicorn.conf.py and by release hooks.

Copied into every release as ``.wsgideploy/wsgideploy_env.py`` by wsgideploy.
``python wsgideploy_env.py ENV_FILE COMMAND [ARGS...]`` runs COMMAND with the file's
variables added to the environment. A missing file adds nothing.

The format is the usual dotenv one: ``KEY=value`` lines, an optional ``export``,
``#`` comments, and values in single quotes (taken literally) or double quotes
(``\\n``, ``\\r``, ``\\"`` and ``\\\\`` unescaped).
"""
import os
import sys


def parse(text):
    """Return the variables of a dotenv text as a dict."""
    values = {}
    for raw in text.split("\n"):  # only \n ends a line; a \r\n line loses its \r below
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            value = (value[1:-1].replace("\\\\", "\0").replace('\\"', '"')
                     .replace("\\n", "\n").replace("\\r", "\r").replace("\0", "\\"))
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if key:
            values[key] = value
    return values


def load(path):
    """The variables of the env file at ``path`` ({} when it does not exist)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return parse(fh.read())
    except FileNotFoundError:
        return {}


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: wsgideploy_env.py ENV_FILE COMMAND [ARGS...]")
    os.environ.update(load(sys.argv[1]))
    os.execvp(sys.argv[2], sys.argv[2:])
