#!/usr/bin/env bash
# The whole test suite: installs what it needs (as root), then runs unit and
# integration tests. Integration tests start their own sshd, nginx and gunicorn
# on free loopback ports and stop them by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
PYTHON=${PYTHON:-python3}
exec "$PYTHON" -m pytest -p no:cacheprovider -n "${WSGIDEPLOY_TEST_WORKERS:-4}" --durations=10 -rs "$@"
