# shellcheck shell=bash
# A front server's site: install it so that a config the server rejects never stays on disk, and keep
# the live one to put back when the server cannot run the new one (nginx.sh, lighttpd.sh).
#
# The script defines before this file:
#   as_root CMD...     CMD, as root when the inventory says so
#   root_install DEST  stdin as DEST, root's, mode 0644
# and the server's recipe defines site_test (its test of the whole config, e.g. `nginx -t`).
# Values (set when a script installs a site): SITE_AVAILABLE (the site file), SITE_ENABLED (its link),
# SITE_KEPT (where the live site is kept meanwhile, beside it: root's folder), SITE_TEXT (the new site,
# rendered on the controller and sent in this script: root never installs a file the deploy user or
# the app can write), SITES_LABEL (what the sites folders are called in a message) and SITE_TEST_LABEL
# (the test command, in a message). Every root command here has fixed arguments, declared in
# tasks/commands/privileged.py.

# site_is_live: whether the enabled site is SITE_TEXT byte for byte, so that a deploy which changes nothing
# in it leaves the running front server alone (no test, no reload). The site names no release, and new
# certificate files change its digest line. Read as the deploy user: sites are 0644.
site_is_live() {
  [ -L "$SITE_ENABLED" ] && [ "$(readlink "$SITE_ENABLED")" = "$SITE_AVAILABLE" ] \
    && printf '%s' "$SITE_TEXT" | cmp -s - "$SITE_AVAILABLE"
}

# site_keep: a copy of the live site (SITE_AVAILABLE, enabled as SITE_ENABLED) to go back to
site_keep() {
  : "${SITE_AVAILABLE:?}" "${SITE_ENABLED:?}" "${SITE_KEPT:?}"
  kept_site=0
  kept_link=0
  if [ -e "$SITE_AVAILABLE" ]; then as_root cp -p "$SITE_AVAILABLE" "$SITE_KEPT"; kept_site=1; fi
  if [ -L "$SITE_ENABLED" ]; then kept_link=1; fi
  # The script may end before the server runs the new site: the copy goes with it.
  trap site_drop_kept EXIT
}

# site_drop_kept: the kept copy of the live site goes (the server runs the new site, or the script ends);
# a root command only when there is one (none on a first deploy; none left once dropped or put back)
site_drop_kept() { if [ -e "$SITE_KEPT" ] || [ -L "$SITE_KEPT" ]; then as_root rm -f "$SITE_KEPT"; fi; }

# site_restore: the kept site back as it was (or no site, when there was none)
site_restore() {
  if [ "$kept_site" = 1 ]; then as_root mv -f "$SITE_KEPT" "$SITE_AVAILABLE"
  else as_root rm -f "$SITE_AVAILABLE"; fi
  if [ "$kept_link" = 1 ]; then as_root ln -sfn "$SITE_AVAILABLE" "$SITE_ENABLED"; else as_root rm -f "$SITE_ENABLED"; fi
}

# site_install: keep the live site, install SITE_TEXT as the site, enable it and test the whole
# config (site_test). A rejected site is taken back, so the config on disk is the one that runs, and
# the script fails with the server's own error.
site_install() {
  : "${SITE_AVAILABLE:?}" "${SITE_ENABLED:?}" "${SITE_TEXT:?}" "${SITES_LABEL:?}" "${SITE_TEST_LABEL:?}"
  local out
  [ -d "${SITE_AVAILABLE%/*}" ] || fail "$SITES_LABEL ${SITE_AVAILABLE%/*} does not exist on the host"
  [ -d "${SITE_ENABLED%/*}" ] || fail "$SITES_LABEL ${SITE_ENABLED%/*} does not exist on the host"
  site_keep
  printf '%s' "$SITE_TEXT" | root_install "$SITE_AVAILABLE" || fail "could not install $SITE_AVAILABLE as root"
  as_root ln -sfn "$SITE_AVAILABLE" "$SITE_ENABLED"
  if ! out=$(site_test 2>&1); then
    site_restore
    echo "$out" >&2
    fail "$SITE_TEST_LABEL rejected the new site; the previous config was put back and" \
      "${SITE_TEST_LABEL%% *} was not reloaded"
  fi
}
