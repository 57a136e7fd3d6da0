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
