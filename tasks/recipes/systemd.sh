# shellcheck shell=bash
# The app server under systemd: two instances of one template unit, one per slot (a, b), each on a
# socket of its own; the front server reaches the live one through a link (see docs/supervision.md).
# Needs process.sh, pidfile.sh and the server's own recipe (its unit_ready, and start_master,
# forget_server and its stop for a master that an earlier version started with setsid).
# Values set by the script before it:
#   unit_prefix   wsgideploy-<app>@ (an instance is <unit_prefix><slot>.service)
#   unit_path     /etc/systemd/system/wsgideploy-<app>@.service
#   unit_text     the unit file, rendered by the controller
#   slots         <root>/slots: slots/a and slots/b name the release each instance runs
#   sockets       the socket of a slot is <sockets>.<slot>.sock; <sockets>.sock links to the live one
#   current       the live release's link
#   probe, probe_config  the health check of an instance on its own socket (python3 -c "$probe")
#   pidfile       where a master that an earlier version started with setsid names itself
#   processes     the names of [processes] (worker units wsgideploy-<app>-<name>.service), space-separated;
#                 process_unit_<name> each one's unit file; unit_dir where unit files go
#   START_TIMEOUT how long an instance may take to load the app
#   app_user      the user the units run as (User=; app_user.sh's require_app_user)
# and for systemd_stage and systemd_unstage: release (the new release's folder); for systemd_stage, the
# server's check values and check_run (its check function: it says why an instance did not start).
# The server's recipe defines unit_ready PID SECONDS and unit_prepare (what the release needs before an
# instance runs it: nothing, or the FastCGI runner made executable).
: "${unit_prefix:?}" "${unit_path:?}" "${unit_text:?}" "${slots:?}" "${sockets:?}" "${current:?}"
: "${probe:?}" "${probe_config:?}" "${START_TIMEOUT:?}" "${pidfile:?}" "${processes?}" "${unit_dir:?}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
unit_of() { echo "$unit_prefix$1.service"; }
# The slot whose socket the live link names (a or b), or nothing.
live_slot() {
  local target; target=$(readlink "$sockets.sock" 2>/dev/null) || return 0
  case $target in *.a.sock) echo a;; *.b.sock) echo b;; esac
}
other_slot() { if [ "$1" = a ]; then echo b; else echo a; fi; }
unit_active() { systemctl is-active --quiet "$(unit_of "$1")"; }
# The quick forms first: enable/disable without systemctl's implicit daemon-reload (the links count from
# the next boot), stop without waiting for the instance to finish its requests; the plain forms where a
# sudoers drop-in of an earlier `setup` allows only those.
unit_enable() { as_root systemctl enable --quiet --no-reload "$1" 2>/dev/null || as_root systemctl enable --quiet "$1"; }
unit_disable() { as_root systemctl disable --quiet --no-reload "$1" 2>/dev/null || as_root systemctl disable --quiet "$1"; }
unit_stop_nowait() { as_root systemctl stop --no-block "$1" 2>/dev/null || as_root systemctl stop "$1"; }
# unit_busy UNIT: whether UNIT is running or about to (active, reloading, or activating: also while
# systemd waits to restart it after a crash); inactive, failed and unknown units are not.
unit_busy() {
  case "$(systemctl is-active "$1" 2>/dev/null || true)" in active | activating | deactivating | reloading | refreshing) return 0;; esac
  return 1
}
main_pid() { systemctl show -p MainPID --value "$(unit_of "$1")" 2>/dev/null || echo 0; }
# unit_state UNIT: ActiveState/SubState, and the restart count
unit_state() {
  echo "$(systemctl show -p ActiveState --value "$1" 2>/dev/null)/$(systemctl show -p SubState --value "$1" 2>/dev/null)"
}
restarts() { systemctl show -p NRestarts --value "$1" 2>/dev/null || echo 0; }
journal_tail() { journal_unit "$(unit_of "$1")"; }

process_unit() { echo "${unit_prefix%@}-$1.service"; }
journal_unit() {
  echo "the last lines of $1's journal:" >&2
  as_root journalctl -u "$1" -n 20 --no-pager -o cat 2>/dev/null | sed 's/^/  /' >&2 || true
}
# install_unit FILE TEXT: install TEXT as FILE, owned by root, unless FILE already says that;
# 0 when it was installed, 1 when it was already so.
install_unit() {
  if [ -f "$1" ] && printf '%s' "$2" | cmp -s - "$1"; then return 1; fi
  printf '%s' "$2" | as_root install -o root -g root -m 0644 /dev/stdin "$1" \
    || fail "cannot install $1 as root (sudo -n refused; see docs/security.md)"
}
# Install the app's unit files that differ (then daemon-reload); fact unit=installed|unchanged.
unit_install() {
  local changed=0 p var
  require_app_user
  install_unit "$unit_path" "$unit_text" && changed=1
  for p in $processes; do
    var="process_unit_$p"
    install_unit "$unit_dir/$(process_unit "$p")" "${!var}" && changed=1
  done
  if [ $changed = 0 ]; then fact unit unchanged; return 0; fi
  as_root systemctl daemon-reload || fail "systemctl daemon-reload failed"
  fact unit installed
}
# processes_restart: every [processes] unit enabled and (re)started onto the live release.
processes_restart() {
  local p unit
  for p in $processes; do
    unit=$(process_unit "$p")
    unit_enable "$unit" || fail "systemctl enable $unit failed"
    as_root systemctl restart "$unit" || { journal_unit "$unit"; fail "systemctl restart $unit failed"; }
  done
  if [ -n "$processes" ]; then fact processes "$processes"; fi
}

# wait_queue_empty SOCKET SECONDS: until no connection waits to be accepted on the listening SOCKET
# (after the live link moved away from it, none arrives: a stop then drops nothing).
wait_queue_empty() {
  local end queued
  end=$(($(now) + $2))
  while [ "$(now)" -lt "$end" ]; do
    queued=$(ss -xlnH src "$1" 2>/dev/null | awk '{ n += $3 } END { print n + 0 }')
    [ "$queued" = 0 ] && return 0
    sleep 0.05
  done
  return 1
}

# start_slot SLOT TARGET: run TARGET (a release folder) in SLOT's instance, ready and answering its
# health check on its own socket; on failure the instance is stopped and its journal shown.
start_slot() {
  local slot=$1 target=$2 unit pid probing rc=0
  unit=$(unit_of "$slot")
  # an instance an earlier deploy retired may still finish its requests: this stop waits for it
  retired_wait "$slot"
  if unit_busy "$unit"; then as_root systemctl stop "$unit" || fail "systemctl stop $unit failed"; fi
  ln -sfn "$target" "$slots/.$slot.tmp"
  mv -T "$slots/.$slot.tmp" "$slots/$slot"
  rm -f "$sockets.$slot.sock"
  as_root systemctl reset-failed "$unit" 2>/dev/null || true
  as_root systemctl start "$unit" || { journal_tail "$slot"; fail "systemctl start $unit failed"; }
  # The health check starts now, beside the instance's start (its Python's own start is off the wait): it
  # asks once the socket is there, and the answer comes once a worker has loaded the app.
  python3 -c "$probe" "$probe_config" "$sockets.$slot.sock" & probing=$!
  pid=$(main_pid "$slot")
  # shellcheck disable=SC2034  # read by the server's unit_ready
  slot_dir="$slots/$slot"
  unit_ready "$pid" "$START_TIMEOUT" || rc=$?
  if [ "$rc" != 0 ]; then
    kill -TERM "$probing" 2>/dev/null || true
    wait "$probing" 2>/dev/null || true
    journal_tail "$slot"; show_log; as_root systemctl stop "$unit" || true
    case $rc in
      1) fail "$unit exited while loading the app (journal above); nothing was switched";;
      *) fail "$unit did not get ready within ${START_TIMEOUT}s (journal above); nothing was switched";;
    esac
  fi
  # loaded: from now on its own timeout alone counts. WINCH, whose default action is to be ignored: one
  # that comes before the probe's handler is in place, or while it exits (Python puts the default back
  # then), ends nothing.
  kill -WINCH "$probing" 2>/dev/null || true
  if ! wait "$probing"; then
    journal_tail "$slot"; as_root systemctl stop "$unit" || true
    fail "$unit failed its health check on its own socket (above); nothing was switched"
  fi
  fact pid "$pid"
}

# retire SLOT [ACTIVE]: stop SLOT's instance without waiting for it: it finishes the requests it has (up to its
# graceful timeout) after the deploy returns. The stop is sent by a job of its own (retire_job), once no
# connection waits on SLOT's socket any more: a stop closes the socket, and drops what waits there. That
# may take as long as a request, so the deploy does not wait for the job either. The job holds a lock on
# $slots/.retiring.SLOT, taken before it starts: the next start of that slot, `stop` and `uninstall` wait
# for it (retired_wait), then for the unit's stop. An instance that is not active is stopped all the same:
# systemd may be about to restart it after a crash (activating, auto-restart), and a stop cancels that.
# ACTIVE 1: the caller saw it active during this script, and it is not asked again (one systemctl less).
retire() {
  if [ "${2:-}" != 1 ] && ! unit_active "$1"; then
    if unit_busy "$(unit_of "$1")"; then as_root systemctl stop "$(unit_of "$1")" || fail "systemctl stop $(unit_of "$1") failed"; fi
    return 0
  fi
  exec 9> "$slots/.retiring.$1"
  flock -n 9 || true  # nothing holds it: this slot's start waited for the job before
  # the job keeps fd 9 (the lock); nothing of it may hold the session's output open (fd 3: the facts)
  retire_job "$1" </dev/null >/dev/null 2>&1 3>&- 4>&- &
  exec 9>&-
  fact retired "$(unit_of "$1")"
}

# retire_job SLOT: (in the background) the stop of retire, once SLOT's socket has no connection waiting
# (at most 10 s). A failed stop goes to the journal (the instance then stops at the slot's next start).
retire_job() {
  wait_queue_empty "$sockets.$1.sock" 10 || true
  unit_stop_nowait "$(unit_of "$1")" \
    || logger -t wsgideploy "systemctl stop $(unit_of "$1") failed: it stops at the slot's next start"
}

# retired_wait SLOT: until the job retiring SLOT's instance (retire_job) has sent its stop, at most 20 s.
retired_wait() {
  [ -e "$slots/.retiring.$1" ] || return 0
  flock -w 20 "$slots/.retiring.$1" true 2>/dev/null || true
}

# retire_setsid: a master that an earlier version started with setsid (its pidfile): moved under the
# unit by stopping it once the live link names the new instance.
retire_setsid() {
  local pid; pid=$(pid_in "$pidfile")
  alive "$pid" || return 0
  wait_queue_empty "$sockets.sock" 10 || true
  stop_setsid_master
  fact migrated "pid $pid (started with setsid) stopped; the unit serves"
}

# staged_for SLOT TARGET: the main pid of SLOT's instance if it is the one systemd_stage started for TARGET
# (a release folder, its real path) and still runs; else nothing.
staged_for() {
  local staged=""
  read -r staged 2>/dev/null < "$slots/.staged" || true
  [ "$staged" = "$1 $2" ] && [ "$(readlink -f "$slots/$1")" = "$2" ] || return 0
  active_main_pid "$(unit_of "$1")"
}

# systemd_stage: the build's check under systemd. The idle slot's instance starts with the new release,
# ready and answering its health check on its own socket, before anything switches; the go-live then
# only moves the live link to it (systemd_upgrade): the app loads once per deploy. When the instance
# does not start, the server's own check ($check_run) loads the app to say why, as it does without
# systemd; if the app loads there, the instance starts once more (fact started_after_check), and if
# that fails too, its journal and log are shown. A Flask app's static report, written by the instance
# (WSGIDEPLOY_STATIC_REPORT in the unit), is copied for the check's facts.
systemd_stage() {
  : "${release:?}" "${check_run:?}" "${app_user:?}"
  # (not "code": the check's load_app sets that one)
  local live new real err="" start_code=0
  real=$(readlink -f "$release") || fail "no release at $release"
  mkdir -p "$slots"
  unit_install
  unit_prepare
  live=$(live_slot)
  new=$(other_slot "$live")
  rm -f "$sockets.$new.static"
  clean_markers
  # named before the start, so that systemd_unstage finds it even when this script is cut short
  printf '%s %s\n' "$new" "$real" > "$slots/.staged"
  exec 4>&1  # the facts of start_slot go on to stdout, its errors into err
  err=$( (start_slot "$new" "$real") 2>&1 1>&4 ) || start_code=$?
  if [ "$start_code" != 0 ]; then
    "$check_run"  # the app does not load: the mode's own words, and the step fails here
    # It loads as the deploy user. An app that writes into its release when it loads (Flask's
    # os.makedirs(app.instance_path)) cannot as its own user, and finds what that check made: once more.
    start_code=0
    err=$( (start_slot "$new" "$real") 2>&1 1>&4 ) || start_code=$?
    if [ "$start_code" != 0 ]; then printf '%s\n' "$err" >&2; exit "$start_code"; fi
    fact started_after_check "$app_user"
  fi
  exec 4>&-
  if [ -n "${WSGIDEPLOY_STATIC_REPORT:-}" ] && [ -f "$sockets.$new.static" ]; then
    cp "$sockets.$new.static" "$WSGIDEPLOY_STATIC_REPORT"
  fi
  fact staged "$new"
}

# systemd_unstage: stop the instance systemd_stage started (or was starting) for release, a build that
# will not go live, unless the live link names it.
systemd_unstage() {
  : "${release:?}"
  local staged slot
  staged=$(cat "$slots/.staged" 2>/dev/null || true)
  slot=${staged%% *}
  [ -n "$staged" ] && [ "${staged#* }" = "$(readlink -f "$release" 2>/dev/null || true)" ] || return 0
  [ "$slot" != "$(live_slot)" ] || return 0
  rm -f "$slots/.staged"
  unit_busy "$(unit_of "$slot")" || return 0
  as_root systemctl stop "$(unit_of "$slot")" || true
  fact unstaged "$(unit_of "$slot")"
}

# systemd_upgrade: serve the release current names from the idle slot, checked on its own
# socket before the live link moves to it (or already started there by systemd_stage); then the
# other instance stops. A failure before the link moves leaves the live instance serving, untouched.
systemd_upgrade() {
  : "${start_if_stopped:?}"
  local target live new live_active enabling staged_pid
  target=$(readlink -f "$current" 2>/dev/null || true)
  if [ -z "$target" ] || [ ! -d "$target" ]; then fail "no release is live yet: run deploy first"; fi
  mkdir -p "$slots"
  unit_install
  live=$(live_slot)
  live_active=0
  if [ -n "$live" ] && unit_active "$live"; then live_active=1; fi
  if [ "$live_active" = 0 ] && ! alive "$(pid_in "$pidfile")"; then
    [ "$start_if_stopped" = 1 ] || fail "the app server is not running (use start)"
  fi
  new=$(other_slot "$live")
  clean_markers
  staged_pid=$(staged_for "$new" "$target")
  if [ -n "$staged_pid" ]; then
    fact pid "$staged_pid"
  else
    start_slot "$new" "$target"
  fi
  rm -f "$slots/.staged"
  ln -sfn "${sockets##*/}.$new.sock" "$sockets.sock.tmp"
  mv -T "$sockets.sock.tmp" "$sockets.sock"
  # the new instance enabled and the old one disabled side by side (each is a sudo and a systemctl)
  unit_enable "$(unit_of "$new")" & enabling=$!
  if [ -n "$live" ]; then
    unit_disable "$(unit_of "$live")" || true
    retire "$live" "$live_active"
  fi
  wait "$enabling" || fail "systemctl enable $(unit_of "$new") failed"
  retire_setsid
  clean_markers
  processes_restart
  fact slot "$new"
  fact action "$([ -n "$live" ] && echo upgraded || echo started)"
}

# systemd_start: start the live slot's instance unless it runs (an upgrade from nothing otherwise).
systemd_start() {
  local live p; live=$(live_slot)
  if [ -n "$live" ] && unit_active "$live" && [ "$(readlink -f "$slots/$live")" = "$(readlink -f "$current")" ]; then
    fact pid "$(main_pid "$live")"
    fact action "already running"
    for p in $processes; do as_root systemctl start "$(process_unit "$p")" || fail "systemctl start $(process_unit "$p") failed"; done
    return 0
  fi
  start_if_stopped=1 systemd_upgrade
}

# systemd_stop: stop both instances (each finishes its requests) and keep them from starting at boot.
# A unit is stopped when it is busy (unit_busy), not only when active: one that systemd is about to
# restart after a crash is "activating", and would come back after this stop if it were skipped.
systemd_stop() {
  local slot was="" p unit
  for p in $processes; do
    unit=$(process_unit "$p")
    unit_disable "$unit" 2>/dev/null || true
    if unit_busy "$unit"; then as_root systemctl stop "$unit" || fail "systemctl stop $unit failed"; fi
  done
  for slot in a b; do
    retired_wait "$slot"
    if unit_active "$slot"; then was="$was $(main_pid "$slot")"; fi
    unit_disable "$(unit_of "$slot")" 2>/dev/null || true
    if unit_busy "$(unit_of "$slot")"; then as_root systemctl stop "$(unit_of "$slot")" || fail "systemctl stop $(unit_of "$slot") failed"; fi
  done
  if alive "$(pid_in "$pidfile")"; then stop_setsid_master; was="$was setsid"; fi
  fact pid "${was# }"
  fact action "$([ -n "$was" ] && echo stopped || echo "not running")"
}

# systemd_status: the live instance's unit, state, main pid and restart count; the live release.
systemd_status() {
  local live unit p
  live=$(live_slot)
  fact current "$(live_release)"
  for p in $processes; do
    unit=$(process_unit "$p")
    fact "process_$p" "$(unit_state "$unit"), $(restarts "$unit") restarts"
  done
  if [ -z "$live" ]; then
    fact unit ""; fact state "not installed"; fact pid ""
    return 0
  fi
  unit=$(unit_of "$live")
  fact unit "$unit"
  fact state "$(unit_state "$unit")"
  fact restarts "$(restarts "$unit")"
  fact user "$(systemctl show -p User --value "$unit" 2>/dev/null || true)"
  fact enabled "$(systemctl is-enabled "$unit" 2>/dev/null || true)"
  if unit_active "$live"; then fact pid "$(main_pid "$live")"; else fact pid ""; fi
}
