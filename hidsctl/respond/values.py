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
    """The address in canonical form when ``value`` is exactly one IPv4 or IPv6 address
    that can be acted on; None otherwise. IPv4-mapped IPv6 addresses become IPv4."""
    if not isinstance(value, str) or not 2 <= len(value) <= 45 or "%" in value:
        return None  # no IPv6 scope ids: "fe80::1%anything" parses, but is no one's address
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast:
        return None
    return str(address)


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
