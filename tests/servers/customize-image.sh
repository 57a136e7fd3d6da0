#!/usr/bin/env bash
# Customise a freshly debootstrapped Debian 12 root file system for the test servers (run once per image).
# Usage: customize-image.sh ROOT [CA_DIR]
#   ROOT    the image directory (debootstrap's target); changed in place
#   CA_DIR  a folder of extra CA certificates (*.crt) of this machine to trust in the image
#           (default /usr/local/share/ca-certificates)
# Everything per host (address, host key, authorized_keys, proxy settings, hostname) is written into each
# host's overlay before boot by tests/servers/machine.py, never here.
set -euo pipefail
root=${1:?usage: customize-image.sh ROOT [CA_DIR]}
ca_dir=${2:-/usr/local/share/ca-certificates}
[ -x "$root/bin/systemctl" ] || { echo "$root is not a debootstrapped root (no bin/systemctl)" >&2; exit 1; }

# This machine's extra CAs (an egress proxy may re-sign TLS), trusted the Debian way so a later
# update-ca-certificates inside the server keeps them.
if [ -d "$ca_dir" ]; then
  find "$ca_dir" -maxdepth 1 -name '*.crt' -exec cp -t "$root/usr/local/share/ca-certificates/" {} +
fi
chroot "$root" /usr/sbin/update-ca-certificates > /dev/null

# Every host gets its own ed25519 host key before boot; the image holds none.
rm -f "$root"/etc/ssh/ssh_host_*
cat > "$root/etc/ssh/sshd_config.d/10-wsgideploy-tests.conf" <<'CONF'
# wsgideploy test servers: one host key (written per host before boot), key login only
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
CONF

# Networking: systemd-networkd brings up host0 from /etc/systemd/network/10-host0.network (per host).
chroot "$root" /bin/systemctl enable systemd-networkd.service ssh.service > /dev/null 2>&1
# No route out: waiting for "online" would only delay boot; nothing here resolves names (the proxy does).
chroot "$root" /bin/systemctl mask systemd-networkd-wait-online.service > /dev/null 2>&1

# Point releases and security updates, like a real server's sources.
cat > "$root/etc/apt/sources.list" <<'SOURCES'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES

# A fresh machine id per boot of each host (systemd makes a transient one when the file is empty).
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# Keep the cached image small.
rm -f "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin
rm -rf "$root"/var/lib/apt/lists/*
mkdir -p "$root/var/lib/apt/lists/partial"

# apt's daily timers would run at first boot (never run before) and hold the dpkg lock while a test installs.
chroot "$root" /bin/systemctl disable apt-daily.timer apt-daily-upgrade.timer > /dev/null 2>&1
