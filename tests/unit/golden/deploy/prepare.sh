set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && echo "wsgideploy-session:$wsgideploy_sid" || true
if ! mkdir -p /srv/hello 2>/dev/null; then
  sudo -n install -d -o "$(id -un)" -g "$(id -gn)" /srv/hello 2>/dev/null \
    || fail 'cannot create /srv/hello: no permission, and passwordless sudo is not available'
fi
[ -w /srv/hello ] || fail /srv/hello" is not writable by $(id -un)"
mkdir -p /srv/hello/releases /srv/hello/shared/run /srv/hello/shared/log /srv/hello/venvs /srv/hello/.deploy
command -v python3 >/dev/null 2>&1 || fail 'python3 is not installed on the host'
echo "wsgideploy-fact:python_version=$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
echo "wsgideploy-fact:current=$(readlink /srv/hello/current 2>/dev/null | sed 's#.*/##' || true)"
echo "wsgideploy-fact:fingerprint=$(cat /srv/hello/current/.wsgideploy/fingerprint 2>/dev/null || true)"
if [ -e /srv/hello/current/.wsgideploy-bad ]; then echo "wsgideploy-fact:live_bad=yes"; fi
echo "wsgideploy-fact:user=$(id -un)"
echo "wsgideploy-fact:group=$(id -gn)"
# The lock comes last: nothing after it can fail and leave it held.

if ! mkdir /srv/hello/.deploy/lock 2>/dev/null; then
  echo "wsgideploy-fact:holder=$(tr -d '
' < /srv/hello/.deploy/lock/owner.json 2>/dev/null || echo unknown)"
  echo "the deploy lock is held: $(cat /srv/hello/.deploy/lock/owner.json 2>/dev/null || echo '(no owner recorded)')" >&2
  exit 75
fi
if ! printf '%s\n' wsgideploy-lock-token > /srv/hello/.deploy/lock/owner.json; then
  rm -rf /srv/hello/.deploy/lock
  fail "could not record the deploy lock in /srv/hello/.deploy/lock (is the disk full?)"
fi

rm -rf /srv/hello/releases/.*.partial || true
