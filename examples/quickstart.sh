#!/usr/bin/env bash
# The main job, from a fresh clone on Debian 12, as root:
#   1. install what is needed (apt: openssh-server nginx sudo python3-venv; pip: this project),
#   2. start the local sandbox host (it says exactly what it changes on this machine first),
#   3. deploy examples/hello (the commit checked out) to it with `wsgideploy -H sandbox deploy`,
#   4. print the URL and the page it serves, and `fab -H sandbox status` (the same tasks through fabfile.py).
# Undo everything with: python3 -m tests.sandbox down
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
PYTHON=${PYTHON:-python3}
"$PYTHON" -m tests.sandbox up
echo
echo "== wsgideploy -H sandbox deploy"
wsgideploy -H sandbox deploy
port=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("inventories/sandbox.toml", "rb"))["app"]["listen"])')
url="http://127.0.0.1:$port/"
echo
echo "== the example app is served at $url (Host: localhost)"
curl -fsS -H 'Host: localhost' "$url"
echo
echo "== fab -H sandbox status"
fab -H sandbox status
echo
echo "Next: edit VERSION in examples/hello/app.py and run 'wsgideploy -H sandbox deploy' (refused: not committed),"
echo "then 'wsgideploy -H sandbox deploy --allow-dirty', then 'wsgideploy -H sandbox rollback'."
echo "Remove the sandbox with: $PYTHON -m tests.sandbox down"
