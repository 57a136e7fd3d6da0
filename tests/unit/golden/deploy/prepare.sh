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
(
app_user=hello
app_user_always=0
shared=/srv/hello/shared
run=/srv/hello/shared/run
log=/srv/hello/shared/log
# shellcheck shell=bash
# Shared by every app server's control script: facts, processes through pidfiles, the live release.

# fact KEY VALUE: one wsgideploy-fact line for the controller (see wsgideploy/protocol.py).
fact() { printf 'wsgideploy-fact:%s=%s\n' "$1" "$2"; }
# alive PID: whether PID runs. Read from /proc, not `kill -0`, which fails on another user's process:
# under systemd the app runs as its own user (docs/security.md). A zombie (exited, never reaped: some
# init processes do not reap) is not alive.
alive() {
  case ${1:-} in '' | *[!0-9]*) return 1;; esac
  [ -r "/proc/$1/status" ] && ! grep -qs '^State:[[:space:]]*[ZX]' "/proc/$1/status"
}
# pid_in FILE: the pid a pidfile names, or nothing
pid_in() { if [ -s "$1" ]; then { tr -dc '0-9' < "$1"; } 2>/dev/null || true; fi; }
# now: whole seconds since the host booted (/proc/uptime). Every wait counts on it, not on bash's
# SECONDS, which follows the wall clock: a clock set during a wait (NTP stepping it after a boot, a
# virtual machine resumed) would end that wait at once.
now() { local up; read -r up _ < /proc/uptime; echo "${up%.*}"; }
# wait_gone PID SECONDS: whether PID is gone within SECONDS. Counted in sleeps of 0.05 s, not read
# from a clock: its callers send KILL when it says no, so nothing may cut it short (CI once saw a
# 15 s wait end after 0.2 s, then a KILL that dropped a draining runner); load only makes it longer.
wait_gone() {
  local left=$(($2 * 20))
  while alive "$1" && [ "$left" -gt 0 ]; do sleep 0.05; left=$((left - 1)); done
  ! alive "$1"
}
# live_release: the name of the release current names, or nothing
live_release() { : "${current:?}"; readlink "$current" 2>/dev/null | sed 's#.*/##' || true; }
# shellcheck shell=bash
# The app's own user (docs/security.md): under systemd the app server and [processes] run as
# [app] app_user (default: the app's name), not as the deploy user. `wsgideploy setup` creates that
# user and its group and puts the deploy user in the group; this recipe, run by the deploy user at
# the start of every deploy, gives the group what the app writes and nothing else:
#   shared/, shared/run (sockets), shared/log (the app server's logs): group <app>, setgid, g+w;
#   what the deploy user already made in run/ and log/ (logs of an earlier version): group <app>, g+w.
# Releases, venvs and configs stay the deploy user's, read-only to the app.
# Needs process.sh (fact). Values set by the script before it:
#   app_user          the user the app runs as
#   app_user_always   1: on every host (mod_wsgi, supervisor = "systemd"); 0: where systemd runs
#   shared, run, log  <root>/shared and its run and log folders (app_access only)
: "${app_user:?}" "${app_user_always:?}"

# app_user_applies: whether the app runs as app_user on this host
app_user_applies() { [ "$app_user_always" = 1 ] || [ -d /run/systemd/system ]; }

# require_app_user: fail, naming setup, unless app_user exists
require_app_user() {
  id -u "$app_user" >/dev/null 2>&1 \
    || fail "the app runs as the user $app_user ([app] app_user, default the app's name), which does not exist on this host: run \`wsgideploy setup\` for this host (it creates it), or set [app] app_user to an existing user"
}

# app_user_report: read-only (plan): facts app_user and app_group, or app_user_missing
app_user_report() {
  if id -u "$app_user" >/dev/null 2>&1; then
    fact app_user "$app_user"
    fact app_group "$(id -gn "$app_user")"
  else
    fact app_user_missing "$app_user"
  fi
}

# group_dir DIR GROUP: DIR (owned by the deploy user) in GROUP, setgid and group-writable
group_dir() {
  [ "$(stat -c %G "$1")" = "$2" ] || chgrp "$2" "$1"
  [ "$(stat -c %a "$1")" = 2775 ] || chmod 2775 "$1"
}

# in_session_group GROUP: whether this session may chgrp to GROUP: root, or GROUP among the session's
# groups (id -nG; a group added since the login counts from the next one)
in_session_group() {
  [ "$(id -u)" = 0 ] && return 0
  case " $(id -nG) " in *" $1 "*) return 0;; esac
  return 1
}

# app_access: check that the app user exists and that the deploy user shares its group, then arrange
# the shared folders; facts app_user and app_group. Fails (changing nothing) with the fix when either is missing.
app_access() {
  local me group
  me=$(id -un)
  [ "$app_user" != "$me" ] || fail "the app would run as the deploy user $me, which can change its code; set [app] app_user to another user (docs/security.md)"
  : "${shared:?}" "${run:?}" "${log:?}"
  require_app_user
  group=$(id -gn "$app_user")
  in_session_group "$group" \
    || fail "$me is not in the group $group of the app user $app_user: run \`wsgideploy setup\` for this host (it adds it), or \`sudo usermod -aG $group $me\`, then deploy again"
  mkdir -p "$run" "$log"
  group_dir "$shared" "$group"
  group_dir "$run" "$group"
  group_dir "$log" "$group"
  find "$run" "$log" -mindepth 1 -maxdepth 1 -user "$me" ! -type l \( ! -group "$group" -o ! -perm -g+w \) \
    -exec chgrp "$group" {} + -exec chmod g+w {} +
  fact app_user "$app_user"
  fact app_group "$group"
}
if app_user_applies; then app_access; fi
)
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
