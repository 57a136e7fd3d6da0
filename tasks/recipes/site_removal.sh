# shellcheck shell=bash
# uninstall's part of a front server's site (nginx, lighttpd): take it out, tested. Needs site.sh
# (site_keep, site_restore) and the server's recipe (site_test); the same values as site.sh.
# site_remove: keep the live site, remove it and its link, and test the whole config without them (both
# go back, and the script fails, when the test does not pass). Sets site_removed=1 when there was a
# site or a link (the caller applies the config, and drops the kept copy once the server runs it).
site_remove() {
  : "${SITE_AVAILABLE:?}" "${SITE_ENABLED:?}" "${SITE_KEPT:?}" "${SITE_TEST_LABEL:?}"
  local out
  site_removed=0
  if [ ! -e "$SITE_AVAILABLE" ] && [ ! -L "$SITE_ENABLED" ]; then return 0; fi
  site_keep
  as_root rm -f "$SITE_ENABLED"
  as_root rm -f "$SITE_AVAILABLE"
  if ! out=$(site_test 2>&1); then
    site_restore
    echo "$out" >&2
    fail "$SITE_TEST_LABEL failed without the site; it was put back and ${SITE_TEST_LABEL%% *} was not reloaded"
  fi
  # shellcheck disable=SC2034  # read by the server's recipe, after this in the same script
  site_removed=1
}
