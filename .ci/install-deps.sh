#!/usr/bin/env bash
# Install what wsgideploy, its sandbox and its tests need on a Debian 12 machine (as root).
# Idempotent. Wheels come from pip's own cache (~/.cache/pip), which outlives the clone.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run this as root (it installs Debian packages)" >&2; exit 1; }

need_apt=0
for bin in /usr/sbin/sshd /usr/sbin/nginx /usr/sbin/apache2 /usr/sbin/lighttpd /usr/bin/sudo /usr/bin/ssh-keygen \
           /usr/bin/curl /usr/bin/gcc /usr/sbin/logrotate /usr/bin/git \
           /usr/bin/systemd-nspawn /usr/sbin/debootstrap /usr/bin/tinyproxy /usr/bin/shellcheck; do
  [ -x "$bin" ] || need_apt=1
done
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || need_apt=1
[ -f /usr/lib/apache2/modules/mod_wsgi.so ] && [ -f /usr/lib/apache2/modules/mod_fcgid.so ] || need_apt=1
[ -f /usr/include/python3.11/Python.h ] || need_apt=1
if [ $need_apt = 1 ]; then
  echo "== apt-get install openssh-server nginx apache2 (mod_wsgi, mod_fcgid) lighttpd sudo python3-venv python3-dev curl git"
  echo "   and, for the booted Debian test servers: systemd-container debootstrap tinyproxy iproute2 shellcheck"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    openssh-server openssh-client nginx apache2 libapache2-mod-wsgi-py3 libapache2-mod-fcgid lighttpd logrotate \
    sudo python3 python3-venv python3-dev build-essential curl procps ca-certificates git \
    systemd-container debootstrap tinyproxy iproute2 shellcheck \
    > /tmp/wsgideploy-apt.log 2>&1 || { tail -n 30 /tmp/wsgideploy-apt.log >&2; exit 1; }
fi

PYTHON=${PYTHON:-python3}
echo "== pip install -e .[test] (with $("$PYTHON" --version 2>&1))"
"$PYTHON" -m pip install -q --disable-pip-version-check -e '.[test]'
