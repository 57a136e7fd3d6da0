#!/usr/bin/env bash
# Start Debian's pebble (the ACME test CA) on a booted test server as the systemd unit pebble.service.
# Usage: pebble.sh ADDRESS      (run as root on the server; ADDRESS is the server's own bridge address)
#
# Debian's package (2.4.0+ds1) ships /usr/bin/pebble and an example config, but not upstream's
# test/certs: the HTTPS certificate of pebble's own listeners is made here, signed by a CA made here
# (/etc/pebble/listener-ca.pem, which clients trust for the directory, e.g. REQUESTS_CA_BUNDLE).
# Its SAN is ADDRESS, because clients reach the directory by address: no name resolves on the test
# bridge, and a name would go to the registry proxy (no_proxy lists the bridge's range only).
# The certificates pebble issues chain to a root it makes afresh at each start: /roots/0 on the
# management port (15000) gives it.
# http-01 is validated for real, on port 80 of the name's address (no PEBBLE_VA_ALWAYS_VALID):
# pebble resolves names through /etc/hosts of this server (there is no DNS on the bridge).
set -euo pipefail
address=${1:?usage: pebble.sh ADDRESS}
dir=/etc/pebble
install -d -m 0755 "$dir"
cd "$dir"

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout listener-ca.key -out listener-ca.pem -days 30 \
  -subj "/CN=wsgideploy tests: pebble listener CA" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout listener.key -out listener.csr -subj "/CN=pebble" 2>/dev/null
printf 'subjectAltName=IP:%s,DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' \
  "$address" > listener.ext
openssl x509 -req -in listener.csr -CA listener-ca.pem -CAkey listener-ca.key -CAcreateserial \
  -days 30 -extfile listener.ext -out listener.pem 2>/dev/null
chmod 0600 listener-ca.key listener.key

cat > pebble-config.json <<'JSON'
{
  "pebble": {
    "listenAddress": "0.0.0.0:14000",
    "managementListenAddress": "0.0.0.0:15000",
    "certificate": "/etc/pebble/listener.pem",
    "privateKey": "/etc/pebble/listener.key",
    "httpPort": 80,
    "tlsPort": 443,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
JSON

# NOSLEEP: no random wait (up to 15 s) before each validation; NONCEREJECT=0: no random badNonce (5 %).
# The proxy settings every service gets (DefaultEnvironment) are unset: validations go to the bridge.
cat > /etc/systemd/system/pebble.service <<'UNIT'
[Unit]
Description=pebble, the ACME test CA (wsgideploy tests)
After=network.target

[Service]
ExecStart=/usr/bin/pebble -config /etc/pebble/pebble-config.json
Environment=PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0
UnsetEnvironment=http_proxy https_proxy HTTPS_PROXY no_proxy NO_PROXY
UNIT
systemctl daemon-reload
systemctl restart pebble.service

for _ in $(seq 1 100); do
  if curl -sf --noproxy '*' --cacert listener-ca.pem "https://$address:14000/dir" > /dev/null; then
    exit 0
  fi
  sleep 0.1
done
echo "pebble did not answer on https://$address:14000/dir within 10 s" >&2
journalctl -u pebble.service --no-pager -n 20 >&2
exit 1
