#!/usr/bin/env bash
# The whole test suite: installs what it needs (as root), then runs unit and
# integration tests. Integration tests boot Debian 12 servers (systemd-nspawn) or
# start their own sshd, nginx and gunicorn on free loopback ports, and stop them by pid.
# After pytest it prints what the booted servers did and how long the run took.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
PYTHON=${PYTHON:-python3}
WSGIDEPLOY_BOOT_LOG=$(mktemp /tmp/wsgideploy-boots.XXXXXX)
export WSGIDEPLOY_BOOT_LOG
started=$SECONDS
rc=0
"$PYTHON" -m pytest -p no:cacheprovider -n "${WSGIDEPLOY_TEST_WORKERS:-4}" --dist loadgroup --durations=10 -rs "$@" || rc=$?
echo
"$PYTHON" -c 'import sys, pathlib; from tests.servers.boots import summary; print(summary(pathlib.Path(sys.argv[1])))' "$WSGIDEPLOY_BOOT_LOG"
rm -f "$WSGIDEPLOY_BOOT_LOG"
echo "tests took $((SECONDS - started)) s (pytest exit code $rc)"
exit "$rc"
