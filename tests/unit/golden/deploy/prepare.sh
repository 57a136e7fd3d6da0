set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
if ! mkdir -p /srv/hello 2>/dev/null; then
  sudo -n install -d -o "$(id -un)" -g "$(id -gn)" /srv/hello 2>/dev/null \
    || fail 'cannot create /srv/hello: no permission, and passwordless sudo is not available'
fi
[ -w /srv/hello ] || fail /srv/hello" is not writable by $(id -un)"
mkdir -p /srv/hello/releases /srv/hello/shared/run /srv/hello/shared/log /srv/hello/venvs /srv/hello/.deploy
# process.sh once: the Python finder's and the access subshells inherit its functions
# shellcheck shell=bash
# Shared by every app server's control script: facts, processes through pidfiles, the live release.

# fact KEY VALUE: one wsgideploy-fact line for the controller (see wsgideploy/protocol.py).
fact() { printf 'wsgideploy-fact:%s=%s\n' "$1" "$2"; }
# alive PID: whether PID runs. Read from /proc, not `kill -0`, which fails on another user's process:
# under systemd the app runs as its own user (docs/security.md). A zombie (exited, never reaped: some
# init processes do not reap) is not alive.
# Read with bash's own read, not grep: the waits look every few hundredths of a second.
alive() {
  case ${1:-} in '' | *[!0-9]*) return 1;; esac
  local key state
  { while read -r key state _; do
      if [ "$key" = State: ]; then case $state in Z | X) return 1;; esac; return 0; fi
    done < "/proc/$1/status"; } 2>/dev/null
  return 1
}
# pid_in FILE: the pid a pidfile names, or nothing. Only a positive integer above 1 on its first line
# counts ("-1" would signal every process, "0" the group, 1 is init): nothing is ever cut out of other text.
pid_in() {
  local p=""
  if [ -s "$1" ]; then { read -r p < "$1"; } 2>/dev/null || true; fi
  case $p in '' | *[!0-9]* | 0*) return 0;; esac
  if [ "${#p}" -le 9 ] && [ "$p" -gt 1 ]; then echo "$p"; fi
}
# active_main_pid UNIT: the main pid of systemd's UNIT while it is active (or reloading), else nothing. One
# systemctl for both values (it prints them in its own order).
active_main_pid() {
  local key value state="" pid=""
  while IFS="=" read -r key value; do
    case $key in ActiveState) state=$value;; MainPID) pid=$value;; esac
  done <<WSGIDEPLOY_UNIT_SHOW
$(systemctl show -p ActiveState -p MainPID "$1" 2>/dev/null || true)
WSGIDEPLOY_UNIT_SHOW
  case $state in active | reloading) if [ "${pid:-0}" != 0 ]; then echo "$pid"; fi;; esac
}
# now: whole seconds since the host booted (/proc/uptime). Every wait counts on it, not on bash's
# SECONDS, which follows the wall clock: a clock set during a wait (NTP stepping it after a boot, a
# virtual machine resumed) would end that wait at once.
now() { local up; read -r up _ < /proc/uptime; echo "${up%.*}"; }
# wait_gone PID SECONDS: whether PID is gone within SECONDS. Its callers send KILL when it says no, so
# nothing may cut it short: it says no only once it has counted SECONDS in sleeps of 0.05 s AND the time
# since boot (/proc/uptime, which no clock setting moves) has passed SECONDS. Either alone was seen to
# end a 15 s wait after 0.2 s on CI (first the uptime, then the sleeps), then a KILL of a draining runner.
wait_gone() {
  local left=$(($2 * 20)) end t
  end=$(($(uptime_cs) + $2 * 100))
  while alive "$1"; do
    if [ "$left" -le 0 ]; then
      t=$(uptime_cs)
      case $t in '' | *[!0-9]*) return 1;; esac  # no uptime to read: the count alone
      [ "$t" -lt "$end" ] || return 1
    fi
    sleep 0.05
    left=$((left - 1))
  done
}
# uptime_cs: hundredths of a second since boot (/proc/uptime), or nothing
uptime_cs() { local up; { read -r up _ < /proc/uptime; } 2>/dev/null || return 0; echo "${up/./}"; }
# live_release: the name of the release current names, or nothing
live_release() { : "${current:?}"; readlink "$current" 2>/dev/null | sed 's#.*/##' || true; }
(
want=python3
managed_dir=/srv/hello/.python
may_install=1
version_cache=/srv/hello/.deploy/python-versions
# shellcheck shell=bash
# The Python that makes the app's venvs ([app] python, docs/inventory.md): a command (python3, python3.11,
# /usr/bin/python3.12) the host must have, or a version ("3.12"): the host's python3.12 when it has one,
# else an interpreter that uv manages under the app root (managed_dir). Read-only: a deploy adds
# python_uv.sh, whose python_by_uv gets a missing version with uv.
# Needs process.sh (fact, fail). Values set by the script before it:
#   want          the setting as written
#   managed_dir   <root>/.python: uv's interpreters for this app (UV_PYTHON_INSTALL_DIR), readable by the app
#   may_install   1: get a missing version with uv (deploy); 0: only look (plan)
#   version_cache a file of "REALPATH MTIME X.Y.Z" lines, one per interpreter (.deploy/python-versions)
: "${want:?}" "${managed_dir:?}" "${may_install:?}" "${version_cache:?}"

# host_uv: the path of uv (on PATH, or pip's --user ~/.local/bin/uv), or nothing
host_uv() {
  command -v uv 2>/dev/null && return 0
  if [ -x "${HOME:-/nonexistent}/.local/bin/uv" ]; then echo "$HOME/.local/bin/uv"; fi
}

# managed_python UV: the interpreter of version $want that uv manages in managed_dir, or nothing
managed_python() {
  UV_PYTHON_INSTALL_DIR="$managed_dir" "$1" python find --no-project --python-preference only-managed "$want" \
    2>/dev/null || true
}

# find_python: set python_path to the interpreter; facts python (its path) and python_version. A deploy
# fails with the fix when there is none; plan reports both empty, and python_uv (yes or no).
find_python() {
  local uv
  python_path=""
  case $want in
    [0-9]*.[0-9]*)
      python_path=$(command -v "python$want" 2>/dev/null || true)
      uv=$(host_uv)
      if [ -z "$python_path" ] && [ -d "$managed_dir" ] && [ -n "$uv" ]; then python_path=$(managed_python "$uv"); fi
      if [ -z "$python_path" ] && [ "$may_install" = 1 ]; then python_by_uv "$uv"; fi
      ;;
    *) python_path=$(command -v "$want" 2>/dev/null || true) ;;
  esac
  if [ -z "$python_path" ]; then
    if [ "$may_install" = 0 ]; then
      fact python ""; fact python_version ""; fact python_uv "$([ -n "$(host_uv)" ] && echo yes || echo no)"
      return 0
    fi
    fail "$want is not installed on the host"
  fi
  fact python "$python_path"
  fact python_version "$(python_version_of "$python_path")"
}

# python_version_of PATH: its X.Y.Z. Starting Python costs more than the rest of prepare, so the answer is
# kept in version_cache for as long as the interpreter is the same binary (its real path and mtime: a new
# package of the same Python replaces it); a deploy records it, plan only reads it. A script in front of
# Python (a pyenv shim, which picks a version elsewhere) is always asked.
ask_version() { "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])'; }
python_version_of() {
  local real stamp version=""
  real=$(readlink -f "$1" 2>/dev/null || true)
  stamp=$(stat -c %Y "$real" 2>/dev/null || true)
  if [ -z "$stamp" ] || [ "$(head -c 2 "$real" 2>/dev/null || true)" = "#!" ]; then
    ask_version "$1"
    return
  fi
  if [ -f "$version_cache" ]; then
    version=$(awk -v p="$real" -v m="$stamp" '$1 == p && $2 == m { v = $3 } END { print v }' "$version_cache" 2>/dev/null || true)
  fi
  case $version in
    [0-9]*.[0-9]*.[0-9]*) echo "$version"; return 0 ;;
  esac
  version=$(ask_version "$1")
  # a deploy records it (python_record.sh); plan has no such function
  if declare -F record_python_version >/dev/null; then record_python_version "$real" "$stamp" "$version"; fi
  echo "$version"
}
# shellcheck shell=bash
# A deploy's part of python.sh: get the Python version $want with uv into managed_dir when the host has
# none (uv's download; nothing is uploaded before it). The same values as python.sh.
: "${want:?}" "${managed_dir:?}"

# python_by_uv UV: install $want with UV (failing with the fix without uv, or when uv cannot); sets
# python_path; fact python_installed.
python_by_uv() {
  local out
  [ -n "$1" ] || fail "Python $want is not on the host (no python$want), and uv is not there to install it: install uv for $(id -un) (pip install --user uv; or apt install python$want where the distribution has it), or set [app] python to a Python the host has"
  mkdir -p "$managed_dir"
  if ! out=$(UV_PYTHON_INSTALL_DIR="$managed_dir" UV_PYTHON_BIN_DIR="$managed_dir/bin" UV_NO_PROGRESS=1 \
      "$1" python install "$want" 2>&1); then
    printf '%s\n' "$out" | tail -n 5 >&2
    fail "Python $want is not on the host, and uv could not install it (above); nothing was uploaded"
  fi
  python_path=$(managed_python "$1")
  [ -n "$python_path" ] || fail "uv installed Python $want but cannot find it in $managed_dir"
  fact python_installed "$python_path"
}
# shellcheck shell=bash
# A deploy's half of python.sh's version cache: record_python_version REAL STAMP VERSION replaces the line
# of the interpreter REAL in version_cache (python.sh), when its folder exists. Best effort: a cache that
# cannot be written is asked again next time.
: "${version_cache:?}"

record_python_version() {
  [ -d "${version_cache%/*}" ] || return 0
  if { awk -v p="$1" '$1 != p' "$version_cache" 2>/dev/null || true; echo "$1 $2 $3"; } > "$version_cache.tmp.$$"; then
    mv -f "$version_cache.tmp.$$" "$version_cache" || rm -f "$version_cache.tmp.$$"
  else
    rm -f "$version_cache.tmp.$$"
  fi
}
find_python
)
(
app_user=hello
app_user_always=0
shared=/srv/hello/shared
run=/srv/hello/shared/run
log=/srv/hello/shared/log
root=/srv/hello
front_user=www-data
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
  local now; now=$(stat -c '%G %a' "$1")  # one stat for both
  [ "${now% *}" = "$2" ] || chgrp "$2" "$1"
  [ "${now##* }" = 2775 ] || chmod 2775 "$1"
}

# in_session_group GROUP: whether this session may chgrp to GROUP: root, or GROUP among the session's
# groups (id -nG; a group added since the login counts from the next one)
in_session_group() {
  [ "$EUID" = 0 ] && return 0
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
# shellcheck shell=bash
# The app's root is the one gate to everything below it (docs/security.md, "Who may read what"): mode
# 0750, in the group that runs the app (the app user's where the app runs as it, else the deploy user's),
# and the front server's user may pass through it (the ACL entry user:<front_user>:--x) to the static
# files and the socket its site names, without listing anything. Any other local user reaches nothing
# below it: not the releases, the logs, the sockets (whose own modes let the front server connect), the
# venvs or the deploy's records. The deploy user owns the root, so it needs no sudo for this.
# Needs process.sh (fact). Values set by the script before it:
#   root         the app's root
#   front_user   the front server's user ([vars] front_user, default Debian's www-data)
: "${root:?}" "${front_user:?}"

# root_open WHY: leave the root as it is, and say why (the fact root_open)
root_open() { fact root_open "$1"; }

# front_passes: whether the root's ACL lets front_user pass (and nothing more)
front_passes() { getfacl -cp "$root" 2>/dev/null | grep -qxF "user:$front_user:--x"; }

# close_root GROUP: the root in GROUP (which may read it). The front server's passage first, then the
# group, then the mode, so the live site never loses its way in; each only when it differs. Nothing
# changes when one of them cannot be done.
close_root() {
  local group=$1 owner now
  now=$(stat -c '%U %G %a' "$root")  # one stat for the owner, group and mode
  owner=${now%% *}
  [ "$owner" = "$(id -un)" ] || { root_open "$root is $owner's, not $(id -un)'s"; return 0; }
  id -u "$front_user" >/dev/null 2>&1 \
    || { root_open "the front server's user $front_user does not exist on this host (set [vars] front_user)"; return 0; }
  command -v setfacl >/dev/null 2>&1 \
    || { root_open "setfacl is missing: run \`wsgideploy setup\` for this host (it installs acl), or \`sudo apt-get install acl\`"; return 0; }
  if ! front_passes; then
    setfacl -m "u:$front_user:x" "$root" 2>/dev/null || true
    front_passes || { root_open "the file system of $root does not keep ACLs (setfacl failed)"; return 0; }
    now=$(stat -c '%U %G %a' "$root")  # an ACL's mask shows in the mode's group bits
  fi
  now=${now#* }
  [ "${now% *}" = "$group" ] || chgrp "$group" "$root"
  [ "${now##* }" = 750 ] || chmod 0750 "$root"
}
if app_user_applies; then app_access; close_root "$(id -gn hello)"; else close_root "$(id -gn)"; fi
)
echo "wsgideploy-fact:current=$(readlink /srv/hello/current 2>/dev/null | sed 's#.*/##' || true)"
echo "wsgideploy-fact:fingerprint=$(cat /srv/hello/current/.wsgideploy/fingerprint 2>/dev/null || true)"
if [ -e /srv/hello/current/.wsgideploy-bad ]; then echo "wsgideploy-fact:live_bad=yes"; fi
echo "wsgideploy-fact:user=$(id -un)"
echo "wsgideploy-fact:group=$(id -gn)"
if [ -s /srv/hello/.deploy/switching ]; then
  wsgideploy_journal=$(head -n 1 /srv/hello/.deploy/switching)
  echo "wsgideploy-fact:switching=$wsgideploy_journal"
  wsgideploy_to=/srv/hello/releases/${wsgideploy_journal##* }
  if [ ! -d "$wsgideploy_to" ]; then echo "wsgideploy-fact:switching_to=gone"
  elif [ -e "$wsgideploy_to/.wsgideploy-bad" ]; then echo "wsgideploy-fact:switching_to=bad"
  else echo "wsgideploy-fact:switching_to=ok"; fi
fi
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
if [ -e /srv/hello/releases/20261204T100000Z ]; then echo "wsgideploy-fact:release_taken=yes"; fi
