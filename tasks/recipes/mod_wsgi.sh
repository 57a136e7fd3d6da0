# shellcheck shell=bash
# mod_wsgi: the app runs in Apache's daemon processes (see wsgideploy/commands/mod_wsgi.py and
# docs/modes/mod_wsgi.md). Needs process.sh and Apache's functions (apache_pid, config_listens,
# proc_alive: wsgideploy/commands/apache.py) and apache_ctl ARGS (Apache's control command).
# Values set by the script before it:
#   current      the live release's link
#   enabled      the site's link in Apache's sites-enabled
#   wsgi_script  the live release's .wsgi file (mod_wsgi restarts a daemon process when it changes)
# (the check needs none of them, only its own)

# in_apache: whether Apache runs with the site enabled; sets pid (Apache's parent, or nothing)
in_apache() {
  : "${enabled:?}"
  pid=$(apache_pid)
  [ -n "$pid" ] && [ -e "$enabled" ]
}
# The start ends here (exit 0) when Apache already runs with the site; else the site is installed next.
mod_wsgi_start_unless_running() {
  : "${current:?}"
  [ -e "$current" ] || fail "no release is live yet: run deploy first"
  if in_apache; then
    fact pid "$pid"
    fact action "already running (in Apache)"
    exit 0
  fi
}
mod_wsgi_started() {
  fact pid "$(apache_pid)"
  fact action "started (site enabled in Apache)"
}

# Before an upgrade: sets wsgideploy_running (1: Apache runs with the site). A stopped app is
# started next when start_if_stopped is 1 (the site is installed), an error otherwise.
mod_wsgi_before_upgrade() {
  : "${start_if_stopped:?}" "${current:?}" "${wsgi_script:?}"
  [ -e "$current" ] || fail "no release is live yet: run deploy first"
  [ -f "$wsgi_script" ] || fail "$wsgi_script is missing: the live release has no mod_wsgi script"
  if in_apache; then wsgideploy_running=1; else wsgideploy_running=0; fi
  [ "$wsgideploy_running" = 1 ] || [ "$start_if_stopped" = 1 ] \
    || fail "the app is not running in Apache (Apache stopped or its site disabled): use start"
}
# The upgrade of a running app: touch the .wsgi file; each daemon process restarts at its next
# request (mod_wsgi's script reloading) in the code and venv current names now.
mod_wsgi_upgrade() {
  if [ "$wsgideploy_running" = 1 ]; then
    touch "$wsgi_script"
    fact action "reloaded (daemon processes restart at their next request)"
  else
    fact action started
  fi
  fact pid "$(apache_pid)"
}

# After the site is disabled (wsgideploy_apache_disabled: apache.disable_site): reload Apache so the
# daemon processes exit; Apache and its other sites keep running. An Apache left with no Listen at all
# would exit at the reload ("no listening sockets available"), so it is stopped gracefully instead.
mod_wsgi_stop() {
  : "${GRACEFUL_TIMEOUT:?}" "${wsgideploy_apache_disabled:?}"
  local pid out end
  if [ "$wsgideploy_apache_disabled" = 0 ]; then
    fact action "not running (the site was not enabled)"
    return 0
  fi
  pid=$(apache_pid)
  if [ -z "$pid" ]; then
    fact action "stopped (site disabled; Apache was not running)"
  elif [ -n "$(config_listens)" ]; then
    out=$(apache_ctl -k graceful 2>&1) || { echo "$out" >&2; fail "apache -k graceful failed"; }
    fact action "stopped (site disabled; Apache keeps running)"
  else
    out=$(apache_ctl -k graceful-stop 2>&1) || { echo "$out" >&2; fail "apache -k graceful-stop failed"; }
    end=$(($(now) + GRACEFUL_TIMEOUT + 5))
    while proc_alive "$pid" && [ "$(now)" -lt "$end" ]; do sleep 0.1; done
    if proc_alive "$pid"; then apache_ctl -k stop >/dev/null 2>&1 || true; fi
    fact action "stopped (site disabled; Apache, left with no other Listen, stopped too)"
  fi
}

# Report Apache's pid when it runs with the site enabled, and the live release; changes nothing.
mod_wsgi_status() {
  if in_apache; then fact pid "$pid"; else fact pid ""; fi
  fact current "$(live_release)"
}

# mod_wsgi_check: load the release's .wsgi file (wsgi) in its own venv, as mod_wsgi would, within
# check_timeout s. mod_wsgi embeds one Python version (the libpython of mod_wsgi_so, Debian's: the
# system python3): a venv of another version cannot run there, so that is checked first. Needs app_check.sh.
mod_wsgi_check() {
  : "${release:?}" "${release_id:?}" "${check_timeout:?}" "${wsgi:?}" "${mod_wsgi_so:?}"
  local python="$release/venv/bin/python" venv_version wsgi_version
  local loader='import runpy, sys; ns = runpy.run_path(sys.argv[1], run_name="wsgideploy_check"); app = ns.get("application"); sys.exit(None if callable(app) else sys.argv[1] + " defines no callable application")'
  venv_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])') \
    || fail "the venv of release $release_id has no working python"
  if [ -f "$mod_wsgi_so" ] && command -v ldd >/dev/null 2>&1; then
    wsgi_version=$(ldd "$mod_wsgi_so" 2>/dev/null | sed -n 's/.*libpython\([0-9]*\.[0-9]*\).*/\1/p' | head -n 1)
    if [ -n "$wsgi_version" ] && [ "$wsgi_version" != "$venv_version" ]; then
      fail "mod_wsgi ($mod_wsgi_so) embeds Python $wsgi_version but the venv runs Python $venv_version; set [app] python to python$wsgi_version"
    fi
  fi
  cd "$release" || fail "cannot enter $release"
  app_loads "the app does not load in release $release_id (traceback above)" "$check_timeout" "$python" -c "$loader" "$wsgi"
}
