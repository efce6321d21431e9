"""Addresses that are never acted on, whatever an alert says: the configured ones, the
host's own addresses (read again now and then, as interfaces change) and the servers'."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import time
from typing import Iterable

from hidsctl.diagnostics import logger

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ALWAYS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
REFRESH_SECONDS = 30.0


def host_addresses() -> list[Network]:
    """Every address on this host's interfaces (of the network namespace it runs in)."""
    found = _from_ip_command()
    if found is None:
        found = _from_proc_and_resolver()
    return [ipaddress.ip_network(a) for a in found]


def _from_ip_command() -> list[str] | None:
    ip = shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip") if os.path.exists(p)), None)
    if ip is None:
        return None
    try:
        out = subprocess.run([ip, "-j", "addr", "show"], capture_output=True, timeout=10, check=True).stdout
        interfaces = json.loads(out or b"[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    addresses = []
    for interface in interfaces:
        for info in interface.get("addr_info", []):
            local = info.get("local")
            if isinstance(local, str):
                addresses.append(local.split("%")[0])
    return addresses


def _from_proc_and_resolver() -> list[str]:
    addresses = []
    try:  # IPv6 addresses of every interface
        with open("/proc/net/if_inet6") as handle:
            for line in handle:
                raw = line.split()[0]
                addresses.append(str(ipaddress.IPv6Address(bytes.fromhex(raw))))
    except OSError:
        pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            addresses.append(str(info[4][0]).split("%")[0])
    except OSError:
        pass
    return addresses


def resolve(names: Iterable[str]) -> list[Network]:
    """Addresses or networks as given; host names through the resolver (a name that does
    not resolve is reported and left out)."""
    out: list[Network] = []
    for name in names:
        try:
            out.append(ipaddress.ip_network(name, strict=False))
            continue
        except ValueError:
            pass
        try:
            for info in socket.getaddrinfo(name, None):
                out.append(ipaddress.ip_network(str(info[4][0]).split("%")[0]))
        except OSError as exc:
            logger("respond").warning(f"server {name!r} does not resolve ({exc}); not "
                                      "allow-listed")
    return out


class AllowList:
    def __init__(self, configured: Iterable[Network], *, read_host=host_addresses,
                 clock=time.monotonic):
        self.configured = tuple(configured) + ALWAYS
        self.read_host = read_host
        self.clock = clock
        self.host: tuple[Network, ...] = ()
        self.read_at: float | None = None

    def _refresh(self) -> None:
        now = self.clock()
        if self.read_at is None or now - self.read_at >= REFRESH_SECONDS:
            self.host = tuple(self.read_host())
            self.read_at = now

    def contains(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        if any(ip in network for network in self.configured):
            return True
        self._refresh()
        return any(ip in network for network in self.host)
