# shellcheck shell=bash
# The floor: the whole deploy (or rollback) of one host as one bash script, sent with one `ssh`
# call, with the release as a gzipped tar on standard input. benchmarks/deployers.py puts these
# variables in front of it:
#   MODE (deploy|rollback) ROOT RELEASE NAME PYTHON KEEP SHARED HTTP_PORT START_TIMEOUT
#   SITES_AVAILABLE SITES_ENABLED (Debian's nginx: root's files, changed through sudo)
# It does the work wsgideploy does, minus its bookkeeping (deploy log, bad marks, facts):
# a lock; unpack into releases/<id>; shared links; venvs/<key> reused or built (same key
# inputs, same pip flags); the app loaded once before it goes live; the nginx site installed and
# tested through sudo, nginx reloaded by systemd (unless the site is unchanged); `current` switched atomically; gunicorn upgraded in place (USR2, the new master's
# workers ready, TERM to the old master, the new master owns the pidfile) or started; an HTTP
# check through nginx; old releases and unused venvs pruned. A rollback switches back to the
# release before the live one, upgrades gunicorn and checks.
# RELOAD=hup makes it the HUP floor: no app check before the switch, and gunicorn's master is sent
# HUP (it keeps running; new workers load the new `current`, the old ones finish and exit):
# the least a deploy can do, safe or not.
set -eu
RELOAD=${RELOAD:-usr2}
case $RELOAD in usr2|hup) ;; *) echo "floor: RELOAD must be usr2 or hup" >&2; exit 1 ;; esac
# RELEASE is empty for a rollback
: "${MODE:?}" "${ROOT:?}" "${RELEASE?}" "${NAME:?}" "${PYTHON:?}" "${KEEP:?}" "${SHARED?}" "${HTTP_PORT:?}" "${START_TIMEOUT:?}"
: "${SITES_AVAILABLE:?}" "${SITES_ENABLED:?}"
fail() { echo "floor: $*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
# step NAME: print how long the work since the previous mark took (microseconds), for the report
last=${EPOCHREALTIME/./}
step() { local now=${EPOCHREALTIME/./}; echo "floor-step $1 $((now - last))"; last=$now; }

mkdir -p "$ROOT/releases" "$ROOT/shared/run" "$ROOT/shared/log" "$ROOT/venvs" "$ROOT/.deploy"
cd "$ROOT"
mkdir .deploy/lock 2>/dev/null || fail "another deploy holds $ROOT/.deploy/lock"
trap 'rmdir "$ROOT/.deploy/lock"' EXIT
step prepare

run=$ROOT/shared/run
pidfile=$run/gunicorn.pid

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*[ZX]' "/proc/$1/status"; }
pid_in() { if [ -s "$1" ]; then tr -dc '0-9' < "$1" 2>/dev/null || true; fi; }
wait_ready() {  # PID: until a worker of PID has loaded the app
  local end=$((SECONDS + START_TIMEOUT))
  until [ -e "$run/gunicorn.ready.$1" ]; do
    alive "$1" || fail "gunicorn master $1 died while loading the app"
    [ $SECONDS -lt $end ] || fail "gunicorn master $1 not ready within ${START_TIMEOUT}s"
    sleep 0.05
  done
}

switch_current() {
  ln -sfn "releases/$1" .current.tmp
  mv -T .current.tmp current
}

start_or_upgrade() {
  local old new end
  old=$(pid_in "$pidfile")
  rm -f "$run"/gunicorn.ready.* "$pidfile.2"
  if [ "$RELOAD" = hup ] && alive "$old"; then
    kill -HUP "$old"
    wait_ready "$old"
  elif alive "$old"; then
    kill -USR2 "$old"
    end=$((SECONDS + START_TIMEOUT))
    until [ -s "$pidfile.2" ]; do
      [ $SECONDS -lt $end ] || fail "no new gunicorn master after USR2"
      sleep 0.05
    done
    new=$(pid_in "$pidfile.2")
    wait_ready "$new"
    kill -TERM "$old"
    while alive "$old"; do sleep 0.05; done
    # The new master renames its pidfile.2 over the pidfile when its main loop next wakes
    # (up to 1 s later); a SIGCHLD (harmless: it reaps nothing) wakes it now.
    kill -CHLD "$new"
    end=$((SECONDS + START_TIMEOUT))
    until [ "$(pid_in "$pidfile")" = "$new" ]; do
      [ $SECONDS -lt $end ] || fail "the new gunicorn master did not take over the pidfile"
      sleep 0.02
    done
  else
    rm -f "$pidfile"
    # every descriptor redirected, or the ssh session would wait for gunicorn to exit
    (cd "$ROOT/current" && exec setsid "$ROOT/current/venv/bin/python" "$ROOT/current/venv/bin/gunicorn" \
        -c "$ROOT/current/.bench/gunicorn.conf.py") < /dev/null >> "$ROOT/shared/log/gunicorn.stdout.log" 2>&1 &
    end=$((SECONDS + START_TIMEOUT))
    until [ -s "$pidfile" ]; do
      [ $SECONDS -lt $end ] || fail "gunicorn wrote no pidfile"
      sleep 0.05
    done
    wait_ready "$(pid_in "$pidfile")"
  fi
}

health() {
  local end=$((SECONDS + START_TIMEOUT))
  until curl -fsS -o /dev/null -H 'Host: localhost' "http://127.0.0.1:$HTTP_PORT/"; do
    [ $SECONDS -lt $end ] || fail "http://127.0.0.1:$HTTP_PORT/ does not answer 200"
    sleep 0.1
  done
}

if [ "$MODE" = rollback ]; then
  live=$(readlink current | sed 's#.*/##')
  previous=$(find releases -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%f\n' | sort | awk -v live="$live" '$0 < live' | tail -n 1)
  [ -n "$previous" ] || fail "no release before $live"
  step select
  switch_current "$previous"
  step switch
  start_or_upgrade
  step reload
  health
  step health
  exit 0
fi

# upload: unpack standard input, link the shared paths, then rename into place
[ -n "$RELEASE" ] || fail "a deploy needs RELEASE"
release=$ROOT/releases/$RELEASE
partial=$ROOT/releases/.$RELEASE.partial
[ ! -e "$release" ] || fail "release $RELEASE exists"
rm -rf "$partial"
mkdir -p "$partial"
tar -xzf - -C "$partial"
for path in $SHARED; do
  mkdir -p "$ROOT/shared/$path"
  rm -rf "${partial:?}/$path"
  ln -s "$ROOT/shared/$path" "$partial/$path"
done
mv -T "$partial" "$release"
step upload

# venv: one per requirements + Python version, built once
version=$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
key=py$version-$(sha256sum < "$release/requirements.txt" | cut -c1-16)
venv=$ROOT/venvs/$key
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv" > ".deploy/pip-$key.log" 2>&1
  PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_USE_PEP517=1 \
    "$venv/bin/pip" install -r "$release/requirements.txt" gunicorn >> ".deploy/pip-$key.log" 2>&1 \
    || { tail -n 20 ".deploy/pip-$key.log" >&2; rm -rf "$venv"; fail "pip install failed"; }
  touch "$venv/.complete"
fi
ln -sfn "../../venvs/$key" "$release/venv"
step venv

# check: the app loads in the new release before it goes live (not in the HUP floor)
[ "$RELOAD" = hup ] || (cd "$release" && BENCH_CHECK_RELEASE=$release "$release/venv/bin/python" "$release/venv/bin/gunicorn" \
    --check-config -c "$release/.bench/gunicorn.conf.py" > /dev/null) || fail "the app does not load"
step check

# nginx (Debian's, run by systemd): install the site, test the whole config, reload (or start);
# nothing when the enabled site is already these bytes and nginx runs
if ! { [ -L "$SITES_ENABLED/$NAME" ] && cmp -s "$release/.bench/nginx.conf" "$SITES_AVAILABLE/$NAME" \
       && systemctl is-active --quiet nginx; }; then
  sudo -n install -m 0644 "$release/.bench/nginx.conf" "$SITES_AVAILABLE/$NAME.tmp"
  sudo -n mv -f "$SITES_AVAILABLE/$NAME.tmp" "$SITES_AVAILABLE/$NAME"
  sudo -n ln -sfn "$SITES_AVAILABLE/$NAME" "$SITES_ENABLED/$NAME"
  sudo -n nginx -t 2> /dev/null || { sudo -n nginx -t; fail "nginx -t failed"; }
  sudo -n systemctl reload nginx 2> /dev/null || sudo -n systemctl start nginx
fi
step nginx

switch_current "$RELEASE"
step switch
start_or_upgrade
step reload
health
step health

# prune: keep the newest $KEEP releases (and the live one), and the venvs they use
live=$RELEASE
for old in $(find releases -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%f\n' | sort | head -n "-$KEEP"); do
  [ "$old" = "$live" ] || rm -rf "releases/$old"
done
for v in venvs/*; do
  [ -d "$v" ] || continue
  used=no
  for link in releases/*/venv; do
    [ "$(readlink "$link" | sed 's#.*/##')" = "${v#venvs/}" ] && { used=yes; break; }
  done
  [ $used = yes ] || rm -rf "$v"
done
step prune
