# shellcheck shell=bash
# setup.sh: prepare a fresh Debian or Ubuntu host for wsgideploy (`wsgideploy setup`), and check one
# read-only (`wsgideploy doctor`). See wsgideploy/commands/setup.py. Needs process.sh (fact).
#
# Every setup_* function is one item of `setup`: it runs as root (setup_as_root gets the script there),
# compares the host with what wsgideploy needs, changes what differs and reports one fact, `change`:
# what it changed, or `unchanged`. With PLAN=1 it changes nothing and reports what it would change.
# Values (quoted assignments written by the controller):
#   PLAN             1: report only
#   body             setup_as_root: the script to run as root
#   packages         setup_packages: apt package names, space-separated (checked by the controller)
#   deploy_user, public_key                     setup_deploy_user
#   app_user, deploy_user                       setup_app_user
#   app_root, deploy_user, app_user             setup_app_root
#   sudoers_file, sudoers_text                  setup_sudoers
#   doctor_all: packages, app_user, app_root, sudoers_file, sudo_commands (one command a line)
# An item that fails stops the run; the next `setup` starts again from the top and finds done what is done.
# Each function uses only its own values; the others are empty here:
: "${PLAN:=0}" "${body:=}" "${packages:=}" "${deploy_user:=}" "${public_key:=}" "${app_user:=}"
: "${app_root:=}" "${sudoers_file:=}" "${sudoers_text:=}" "${sudo_commands:=}"

changes=()

# act WHAT CMD...: run CMD (unless PLAN=1) and note WHAT among this item's changes
act() {
  local what=$1
  shift
  changes+=("$what")
  [ "$PLAN" = 1 ] || "$@"
}

# report: this item's one `change` fact, its changes joined by "; " (or "unchanged")
report() {
  local joined
  if [ ${#changes[@]} -eq 0 ]; then fact change unchanged; return; fi
  printf -v joined '%s; ' "${changes[@]}"
  fact change "${joined%; }"
}

# setup_as_root: run $body as root: as is when we are root, else through `sudo -n` (never a prompt).
# Neither: the fact `refused` (the controller exits 4) and the way out.
setup_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    exec bash -c "$body"
  fi
  if sudo -n true 2>/dev/null; then
    exec sudo -n bash -c "$body"
  fi
  fact refused "$(id -un)"
  fail "$(id -un) is neither root nor allowed \`sudo -n\` (passwordless sudo): set setup_user = \"root\" in the host's table (with root's key), or give $(id -un) passwordless sudo"
}

# setup_system: what the host is (read-only): /etc/os-release, PID 1, who we are, which of $packages it lacks
setup_system() {
  local ID="" VERSION_ID="" PRETTY_NAME=""
  if [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091  # the host's own file
    . /etc/os-release
  fi
  fact os_id "${ID:-unknown}"
  fact os_version "${VERSION_ID:-unknown}"
  fact os_name "${PRETTY_NAME:-no /etc/os-release}"
  fact login "${SUDO_USER:-$(id -un)}"
  if [ -d /run/systemd/system ]; then fact init systemd; else fact init "$(cat /proc/1/comm 2>/dev/null || echo unknown)"; fi
  local missing=() name
  for name in $packages; do
    is_installed "$name" || missing+=("$name")
  done
  fact missing_packages "${missing[*]}"
}

# is_installed PACKAGE: whether dpkg has PACKAGE installed
is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$'; }

# apt_install PACKAGE...: one apt transaction; apt installs all of them or none. Never a prompt: no
# debconf question, the host's changed config files kept, Ubuntu's needrestart quiet; a dpkg lock held
# by a fresh server's first unattended upgrade is waited for (5 minutes), not failed on.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  local apt=(apt-get -q -o DPkg::Lock::Timeout=300)
  "${apt[@]}" update || fail "apt-get update failed (see above)"
  "${apt[@]}" -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    install "$@" || fail "apt-get install $* failed: nothing else was changed"
}

setup_packages() {
  local missing=() name
  for name in $packages; do
    is_installed "$name" || missing+=("$name")
  done
  [ ${#missing[@]} -eq 0 ] || act "install ${missing[*]}" apt_install "${missing[@]}"
  report
}

# group_of USER: USER's primary group (USER's own name before USER exists: a plan)
group_of() { id -gn "$1" 2>/dev/null || echo "$1"; }

# home_of USER: USER's home directory
home_of() { getent passwd "$1" | cut -d: -f6; }

# add_key HOME: append $public_key to HOME/.ssh/authorized_keys (created 0600, owned by the user)
add_key() {
  install -d -m 0700 -o "$deploy_user" -g "$(id -gn "$deploy_user")" "$1/.ssh"
  [ -e "$1/.ssh/authorized_keys" ] || install -m 0600 -o "$deploy_user" -g "$(id -gn "$deploy_user")" /dev/null "$1/.ssh/authorized_keys"
  printf '%s\n' "$public_key" >> "$1/.ssh/authorized_keys"
}

# has_key HOME: whether HOME/.ssh/authorized_keys holds $public_key (its type and base64, whatever the comment)
has_key() {
  local kind blob
  read -r kind blob _ <<< "$public_key"
  [ -r "$1/.ssh/authorized_keys" ] && grep -qF -- "$kind $blob" "$1/.ssh/authorized_keys"
}

setup_deploy_user() {
  local home
  if ! id -u "$deploy_user" >/dev/null 2>&1; then
    act "create user $deploy_user (login by key only)" useradd --create-home --shell /bin/bash "$deploy_user"
  fi
  home=$(home_of "$deploy_user" 2>/dev/null || true)
  home=${home:-/home/$deploy_user}
  if ! has_key "$home"; then
    act "add the identity's public key to $home/.ssh/authorized_keys" add_key "$home"
  fi
  report
}

# in_group USER GROUP: whether USER is a member of GROUP
in_group() { id -nG "$1" 2>/dev/null | tr ' ' '\n' | grep -qxF -- "$2"; }

setup_app_user() {
  if ! id -u "$app_user" >/dev/null 2>&1; then
    act "create system user $app_user (no login shell, no sudo) and its group" \
      useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$app_user"
  fi
  local group
  group=$(group_of "$app_user")
  if ! id -u "$deploy_user" >/dev/null 2>&1 || ! in_group "$deploy_user" "$group"; then
    act "add $deploy_user to group $group" usermod -a -G "$group" "$deploy_user"
  fi
  if ! id -u "$deploy_user" >/dev/null 2>&1 || ! in_group "$deploy_user" adm; then
    act "add $deploy_user to group adm (the front server's logs)" usermod -a -G adm "$deploy_user"
  fi
  report
}

# ensure_dir PATH OWNER GROUP MODE: PATH a directory with that owner, group and (octal) mode
ensure_dir() {
  if [ ! -d "$1" ]; then
    act "create $1 ($2:$3, $4)" install -d -m "$4" -o "$2" -g "$3" "$1"
    return
  fi
  local now
  now=$(stat -c '%U:%G %a' "$1")
  if [ "$now" != "$2:$3 ${4#0}" ]; then
    act "set $1 to $2:$3 $4 (was $now)" fix_dir "$@"
  fi
}
fix_dir() { chown "$2:$3" "$1" && chmod "$4" "$1"; }

setup_app_root() {
  # Made closed (0750); once it is the deploy user's, its group, mode and the front server's passage
  # are the deploy's to keep (root_access.sh, at the start of every deploy), so setup leaves them.
  if [ ! -d "$app_root" ] || [ "$(stat -c %U "$app_root")" != "$deploy_user" ]; then
    ensure_dir "$app_root" "$deploy_user" "$(group_of "$deploy_user")" 0750
  fi
  ensure_dir "$app_root/shared" "$deploy_user" "$(group_of "$app_user")" 2775
  report
}

# install_sudoers: $sudoers_text to $sudoers_file (0440 root:root), only once `visudo -c` accepts it
install_sudoers() {
  local tmp out
  tmp=$(dirname "$sudoers_file")/.$(basename "$sudoers_file").tmp  # a name with a dot: sudo skips it
  install -m 0440 -o root -g root /dev/null "$tmp"
  printf '%s' "$sudoers_text" > "$tmp"
  if ! out=$(visudo -c -q -f "$tmp" 2>&1); then
    rm -f "$tmp"
    fail "visudo rejected the drop-in for $sudoers_file (nothing installed): $out"
  fi
  mv -f "$tmp" "$sudoers_file"
}

setup_sudoers() {
  command -v visudo >/dev/null || [ "$PLAN" = 1 ] || fail "visudo is missing (the package sudo)"
  if [ ! -e "$sudoers_file" ]; then
    act "write $sudoers_file (checked by visudo)" install_sudoers
  elif [ "$(cat "$sudoers_file")" != "$(printf '%s' "$sudoers_text")" ] || [ "$(stat -c '%U:%G %a' "$sudoers_file")" != "root:root 440" ]; then
    act "replace $sudoers_file (checked by visudo)" install_sudoers
  fi
  report
}

# doctor_* : read-only checks as the deploy user; each prints the fact `check_<name>` = "ok <detail>"
# or "missing <what is wrong>" (the controller adds the fix).
check() { fact "check_$1" "$2"; }

doctor_packages() {
  local missing=() name
  for name in $packages; do
    is_installed "$name" || missing+=("$name")
  done
  if [ ${#missing[@]} -eq 0 ]; then check packages "ok $packages"; else check packages "missing ${missing[*]}"; fi
}

doctor_systemd() {
  if [ -d /run/systemd/system ]; then check systemd "ok PID 1 is systemd"
  else check systemd "missing PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown), not systemd"; fi
}

doctor_users() {
  if ! id -u "$app_user" >/dev/null 2>&1; then check app_user "missing no user $app_user"; return; fi
  local shell group
  shell=$(getent passwd "$app_user" | cut -d: -f7)
  group=$(id -gn "$app_user")
  case "$shell" in
    */nologin|*/false) ;;
    *) check app_user "missing $app_user has the login shell $shell"; return ;;
  esac
  if ! in_group "$(id -un)" "$group"; then check app_user "missing $(id -un) is not in the group $group"; return; fi
  if ! in_group "$(id -un)" adm; then
    check app_user "missing $(id -un) is not in the group adm (it reads the front server's logs)"; return
  fi
  check app_user "ok $app_user (group $group, no login shell); $(id -un) in $group and adm"
}

doctor_app_root() {
  local group problems=()
  group=$(id -gn "$app_user" 2>/dev/null || echo "$app_user")
  local root_now shared_now
  root_now=$(stat -c '%U:%G %a' "$app_root" 2>/dev/null || echo none)
  shared_now=$(stat -c '%U:%G %a' "$app_root/shared" 2>/dev/null || echo none)
  case "$root_now" in
    "$(id -un):"*" 750") ;;
    *) problems+=("$app_root is $root_now, not $(id -un)'s with mode 750") ;;
  esac
  [ "$shared_now" = "$(id -un):$group 2775" ] || problems+=("$app_root/shared is $shared_now, not $(id -un):$group 2775")
  if [ ${#problems[@]} -eq 0 ]; then check app_root "ok $app_root $root_now, shared $shared_now"
  else
    local joined
    printf -v joined '%s; ' "${problems[@]}"
    check app_root "missing ${joined%; }"
  fi
}

# doctor_sudoers: the drop-in is there, and `sudo -n -l` allows each command of $sudo_commands
# (one a line: its exact argv, words without spaces)
doctor_sudoers() {
  if [ ! -e "$sudoers_file" ]; then check sudoers "missing no $sudoers_file"; return; fi
  local refused=() line words count=0
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    count=$((count + 1))
    read -r -a words <<< "$line"  # its words, as sudo sees them (never globbed)
    sudo -n -l "${words[@]}" >/dev/null 2>&1 || refused+=("$line")
  done <<< "$sudo_commands"
  if [ ${#refused[@]} -eq 0 ]; then check sudoers "ok $sudoers_file; sudo -n allows the $count command(s) asked"
  else
    local joined
    printf -v joined '%s, ' "${refused[@]}"
    check sudoers "missing sudo -n refuses: ${joined%, }"
  fi
}

doctor_all() {
  doctor_systemd
  doctor_packages
  doctor_users
  doctor_app_root
  doctor_sudoers
}
