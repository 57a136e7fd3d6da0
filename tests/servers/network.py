"""The bridge that a test session's servers live on, and the address range it owns.

Session ``N`` (0-254) owns the bridge ``wsgdbr<N>`` and the range ``10.213.<N>.0/24``: the bridge holds
``10.213.<N>.1`` (the proxy listens there), servers get ``.2`` upwards. A session claims ``N`` by creating
the bridge: ``ip link add`` fails when the name exists, so parallel sessions and pytest-xdist workers never
share one. A range that any address or route of this machine overlaps is never used.

Servers have no gateway and this machine keeps ``ip_forward`` as it is (0 here) and adds no NAT: a server
reaches only the bridge's address and its fellow servers; registries only through the proxy. Tests reach
servers only at these addresses, which no other network has.
"""
from __future__ import annotations

import ipaddress
import json
import subprocess
from dataclasses import dataclass

PREFIX = "wsgdbr"
RANGE = ipaddress.ip_network("10.213.0.0/16")
IP_TIMEOUT = 10.0


class NetworkError(RuntimeError):
    """No bridge could be made; the message says why."""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip ARGS`` (iproute2) with a timeout; raise `NetworkError` on failure when ``check``."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT, check=False)
    if check and done.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done


@dataclass(frozen=True)
class Bridge:
    """``wsgdbr<index>`` with ``10.213.<index>.1/24``."""

    index: int

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.index}"

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(f"10.213.{self.index}.0/24")

    @property
    def address(self) -> str:
        """The bridge's own address (this machine's side): the proxy's listen address."""
        return f"10.213.{self.index}.1"

    def host_address(self, number: int) -> str:
        """The address of the ``number``-th server (1-based): ``10.213.<index>.<number + 1>``."""
        if not 1 <= number <= 253:
            raise NetworkError(f"a bridge holds servers 1-253, not {number}")
        return f"10.213.{self.index}.{number + 1}"

    def exists(self) -> bool:
        return ip("link", "show", "dev", self.name, check=False).returncode == 0

    def delete(self) -> None:
        """Remove the bridge (nspawn removes each server's veth when the server stops)."""
        if self.exists():
            ip("link", "del", "dev", self.name)


def _networks_in_use() -> list[ipaddress.IPv4Network]:
    used: list[ipaddress.IPv4Network] = []
    for entry in json.loads(ip("-j", "-4", "addr", "show").stdout or "[]"):
        for info in entry.get("addr_info", []):
            used.append(ipaddress.ip_network(f"{info['local']}/{info['prefixlen']}", strict=False))
    for route in json.loads(ip("-j", "-4", "route", "show", "table", "all").stdout or "[]"):
        dst = route.get("dst", "default")
        if dst != "default" and route.get("type", "unicast") == "unicast":
            used.append(ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False))
    return used


def claim_bridge() -> Bridge:
    """Create, address and bring up a free ``wsgdbr<N>``; the caller owns it and must `Bridge.delete` it."""
    used = _networks_in_use()
    for index in range(255):
        bridge = Bridge(index)
        if any(bridge.subnet.overlaps(net) for net in used) or bridge.exists():
            continue
        if ip("link", "add", "name", bridge.name, "type", "bridge", check=False).returncode != 0:
            continue  # another session created it first
        try:
            ip("addr", "add", f"{bridge.address}/24", "dev", bridge.name)
            ip("link", "set", "dev", bridge.name, "up")
        except NetworkError:
            bridge.delete()
            raise
        return bridge
    raise NetworkError(f"no free {PREFIX}<N> bridge with a free range in {RANGE}")
