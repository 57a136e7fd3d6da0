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
