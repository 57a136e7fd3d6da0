# shellcheck shell=bash
# certbot on the host for [app.tls] mode = "acme": get the site's certificate with the webroot method.
#
# The script defines before this file: as_root CMD... (CMD as root: sudo -n, or as it is) and
# root_install DEST (stdin as DEST, root's, mode 0644). Values: CONFIG (certbot's settings for the app,
# /etc/wsgideploy/certbot/<app>.ini, in CONFIG_DIR), CONFIG_TEXT (what the controller rendered for it: the names, the
# email, the CA's directory, the webroot, --cert-name <app>, --keep-until-expiring and the deploy hook,
# which certbot keeps in renewal/<app>.conf and runs after each renewal, e.g. from Debian's
# certbot.timer), WEBROOT (the site serves its .well-known/acme-challenge/), MARKER (made once a
# certificate is there: a deploy then renders the HTTPS site), DOMAINS and DIRECTORY (for messages).
# Every root command here has fixed arguments: sudoers names each one (tasks/commands/privileged.py).

# certbot_obtain: a certificate for DOMAINS under the app's name, unless one is there that covers them and
# does not expire soon (--keep-until-expiring). On failure, fails with certbot's own reason (its "Domain:",
# "Type:", "Detail:" lines, or its last lines), and the site stays as it was.
certbot_obtain() {
  : "${CONFIG_DIR:?}" "${CONFIG:?}" "${CONFIG_TEXT:?}" "${WEBROOT:?}" "${MARKER:?}" "${DOMAINS:?}" "${DIRECTORY:?}"
  local out reason
  as_root install -d -m 0755 "$WEBROOT/.well-known/acme-challenge" \
    || fail "could not make the ACME webroot $WEBROOT"
  as_root install -d -m 0755 "$CONFIG_DIR" || fail "could not make $CONFIG_DIR"
  printf '%s\n' "$CONFIG_TEXT" | root_install "$CONFIG" || fail "could not write $CONFIG"
  if out=$(as_root certbot certonly --config "$CONFIG" 2>&1); then
    printf '%s\n' "$out" | grep -E '^(Successfully received|Certificate not yet due)' || true
    root_install "$MARKER" < /dev/null || fail "could not write $MARKER"
    fact tls_ready yes
    return 0
  fi
  reason=$(printf '%s\n' "$out" | grep -E '^ *(Domain|Type|Detail):' || true)
  [ -n "$reason" ] || reason=$(printf '%s\n' "$out" | tail -n 8)
  fail "certbot could not get a certificate for $DOMAINS from $DIRECTORY:
$reason"
}
