# shellcheck shell=bash
# `uninstall`: what is left of an app on a host once its app server is stopped and its site is gone
# (docs/uninstall.md). Every root command here has fixed arguments, declared in
# tasks/commands/privileged.py; a host whose sudoers drop-in predates them says to run `setup` again.
# Needs process.sh (fact, fail). Values set by the script before it:
#   unit_dir        /etc/systemd/system
#   unit_files      the app's unit files there (its template unit, one per [processes] name), space-separated
#   instances       the units to reset (the two instances, the processes), space-separated
#   logrotate_file  the app's logrotate snippet, or empty (none declared)
#   root            the app root
#   purge           1: the whole root goes, shared/ too; 0: shared/ stays
: "${unit_dir:?}" "${unit_files?}" "${instances?}" "${logrotate_file?}" "${root:?}" "${purge:?}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

# uninstall_facts: read-only; facts root (present or absent) and current (the live release's id)
uninstall_facts() {
  if [ -d "$root" ]; then fact root present; else fact root absent; fi
  fact current "$(readlink "$root/current" 2>/dev/null | sed 's#.*/##')"
}

# remove_units: the app's unit files gone (systemd reloaded, the instances forgotten); fact units.
remove_units() {
  local name removed=0 unit
  for name in $unit_files; do
    [ -e "$unit_dir/$name" ] || [ -L "$unit_dir/$name" ] || continue
    as_root rm -f "$unit_dir/$name" \
      || fail "cannot remove $unit_dir/$name as root (sudo -n refused): run \`wsgideploy setup\` for this host again (it declares uninstall's commands), then uninstall"
    removed=$((removed + 1))
  done
  if [ "$removed" = 0 ]; then fact units "none installed"; return 0; fi
  if [ -d /run/systemd/system ]; then
    as_root systemctl daemon-reload || fail "systemctl daemon-reload failed"
    for unit in $instances; do as_root systemctl reset-failed "$unit" >/dev/null 2>&1 || true; done
  fi
  fact units "$removed removed"
}

# remove_logrotate: the app's logrotate snippet gone; fact logrotate.
remove_logrotate() {
  if [ -z "$logrotate_file" ] || [ ! -e "$logrotate_file" ]; then fact logrotate "none installed"; return 0; fi
  as_root rm -f "$logrotate_file" \
    || fail "cannot remove $logrotate_file as root (sudo -n refused): run \`wsgideploy setup\` for this host again, then uninstall"
  fact logrotate "removed $logrotate_file"
}

# remove_app_files: the releases, venvs, links and bookkeeping gone (the deploy lock last); with purge,
# the whole root (as root where the deploy user cannot: the root's own folder, what the app wrote).
# Facts files and kept.
remove_app_files() {
  local entry
  if [ ! -e "$root" ]; then fact files "no app root $root"; return 0; fi
  if [ -L "$root" ] || [ ! -d "$root" ]; then fail "$root is not a folder: nothing was removed from it"; fi
  if [ "$purge" = 1 ]; then
    rm -rf -- "$root" 2>/dev/null || true
    if [ -e "$root" ]; then
      as_root rm -rf --one-file-system -- "$root" \
        || fail "cannot remove $root as root (sudo -n refused): run \`wsgideploy setup\` for this host again, then uninstall --purge"
    fi
    fact files "removed $root"
    return 0
  fi
  for entry in releases venvs slots current .cache .python; do rm -rf -- "${root:?}/$entry"; done
  rm -rf -- "${root:?}/.deploy"
  fact files "removed releases, venvs and current from $root"
  if [ -d "$root/shared" ]; then fact kept "$root/shared"; fi
}
