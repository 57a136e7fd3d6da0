# shellcheck shell=bash
# CGI: Apache runs app.cgi per request, there is no server to start, stop or reload (see
# wsgideploy/commands/cgi.py and docs/modes/cgi.md). Needs process.sh and Apache's functions
# (apache_pid: wsgideploy/commands/apache.py). Each function names the values it reads.

# cgi_report: change nothing; report action (a value) and Apache's pid.
cgi_report() {
  : "${action:?}" "${current:?}"
  [ -e "$current" ] || fail "no release is live yet: run deploy first"
  fact pid "$(apache_pid)"
  fact action "$action"
}
# Report Apache's pid (while the site's link, enabled, exists) and the live release.
cgi_status() {
  : "${enabled:?}"
  local pid; pid=$(apache_pid)
  if [ -n "$pid" ] && [ -e "$enabled" ]; then fact pid "$pid"; else fact pid ""; fi
  fact current "$(live_release)"
}

# cgi_check: make the release's app.cgi (cgi) executable (Apache executes it; the configs are written
# 0644) and load the app with it in the release's venv (WSGIDEPLOY_CGI_CHECK=1: load only) within
# check_timeout s. Needs app_check.sh.
cgi_check() {
  : "${release:?}" "${release_id:?}" "${check_timeout:?}" "${cgi:?}"
  [ -f "$cgi" ] || fail "$cgi is missing"
  chmod 0755 "$cgi"
  cd "$release" || fail "cannot enter $release"
  WSGIDEPLOY_CGI_CHECK=1 app_loads "the app does not load in release $release_id (traceback above)" "$check_timeout" \
    "$release/venv/bin/python" "$cgi"
}
