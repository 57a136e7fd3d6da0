#!/usr/bin/env bash
# The main job, from a fresh clone on Debian 12, as root:
#   1. install what is needed (apt: systemd-container debootstrap tinyproxy nginx ...; pip: this project),
#   2. boot the sandbox host, a Debian 12 server under systemd-nspawn with Debian's nginx (it says exactly
#      what it changes on this machine first; `SANDBOX=--local` makes this machine the host instead),
#   3. deploy examples/hello (the commit checked out) to it with `wsgideploy -H sandbox deploy`,
#   4. print the URL and the page it serves, and `fab -H sandbox status` (the same tasks through fabfile.py).
# Undo everything with: python3 -m tests.sandbox down
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
PYTHON=${PYTHON:-python3}
# shellcheck disable=SC2086  # SANDBOX is empty or one flag
"$PYTHON" -m tests.sandbox up ${SANDBOX:-}
echo
echo "== wsgideploy -H sandbox deploy"
wsgideploy -H sandbox deploy
url=$("$PYTHON" -m tests.sandbox url)
echo
echo "== the example app is served at $url"
curl -fsS "$url"
echo
echo "== fab -H sandbox status"
fab -H sandbox status
echo
echo "Next: edit VERSION in examples/hello/app.py and run 'wsgideploy -H sandbox deploy' (refused: not committed),"
echo "then 'wsgideploy -H sandbox deploy --allow-dirty', then 'wsgideploy -H sandbox rollback'."
echo "Remove the sandbox with: $PYTHON -m tests.sandbox down"
