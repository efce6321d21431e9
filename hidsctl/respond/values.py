"""Validation of the values taken from alerts that reach a script's arguments.

Everything here is attacker-controlled (an address or user name cut out of a log line),
so a value is accepted only when it is exactly what it claims to be.
"""

from __future__ import annotations

import ipaddress
import re

MAX_USER = 32
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\$?")  # POSIX portable names; trailing $ for machine accounts
_RULE_ID = re.compile(r"[0-9]{1,10}")
_ALERT_ID = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
_AGENT_ID = re.compile(r"[0-9]{1,8}")
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._/+@:,=-]{0,1023}")


def srcip(value: object) -> str | None:
    """The address in canonical form when ``value`` is exactly one IPv4 or IPv6 address;
    None otherwise. IPv4-mapped IPv6 addresses become IPv4. Whether it names a host that
    may be acted on is ``not_a_host``'s question."""
    if not isinstance(value, str) or not 2 <= len(value) <= 45 or "%" in value:
        return None  # no IPv6 scope ids: "fe80::1%anything" parses, but is no one's address
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # RFC 1122: never a source or destination


def not_a_host(address: str) -> str | None:
    """Why a checked ``srcip`` names no single host that a block could mean, or None.

    Refused: broadcast, multicast, unspecified, reserved (240/4, 0/8, IPv6's unassigned
    ranges) and link-local (without a scope id it is no particular host, and blocking
    fe80::1 can cut this host off its router). Accepted: every other unicast address,
    RFC 1918 / ULA / CGNAT ones included (attackers on a LAN are real) and the
    documentation ranges (unicast, used in labs; blocking one costs nothing). Loopback is
    left to the allow-list, which always holds it."""
    ip = ipaddress.ip_address(address)
    if ip.is_loopback:
        return None
    if ip == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_link_local:
        return "link-local"
    if ip.is_reserved or ip in _THIS_NETWORK or (ip.version == 6 and ip.is_site_local):
        return "reserved"
    return None


def user(value: object) -> str | None:
    """``value`` when it is a plain user name (letters, digits, ``_ . -``, not starting
    with ``-`` or ``.``, at most 32 characters); None otherwise."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_USER:
        return None
    return value if _USER.fullmatch(value) else None


def rule_id(value: object) -> str | None:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    return text if isinstance(text, str) and _RULE_ID.fullmatch(text) else None


def alert_id(value: object) -> str | None:
    return value if isinstance(value, str) and _ALERT_ID.fullmatch(value) else None


def agent_id(value: object) -> str | None:
    return value if isinstance(value, str) and _AGENT_ID.fullmatch(value) else None


def filename(value: object) -> str | None:
    """An absolute path made only of unremarkable characters, for the FILENAME argument."""
    return value if isinstance(value, str) and _SAFE_PATH.fullmatch(value) else None
