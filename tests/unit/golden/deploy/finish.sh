set -eu
fail() { echo "$*" >&2; exit 1; }
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if read -r _ _ _ _ _ wsgideploy_sid _ < /proc/$$/stat && [ "${WSGIDEPLOY_SID:-}" != "$wsgideploy_sid" ]; then
  echo "wsgideploy-session:$wsgideploy_sid"; export WSGIDEPLOY_SID=$wsgideploy_sid
fi
printf '%s\n' '{"release": "20261204T100000Z"}' >> /srv/hello/.deploy/log.jsonl
if grep -qsF -- wsgideploy-lock-token /srv/hello/.deploy/lock/owner.json; then rm -rf /srv/hello/.deploy/lock; echo "wsgideploy-fact:unlocked=yes"; fi
