"""Addresses as options spell them: ``HOST:PORT``, ``[v6]:PORT``, ``HOST`` or ``:PORT``."""

from __future__ import annotations

from hidsctl.errors import ConfigError

DEFAULT_PORT = 1514


def parse_address(text: str, default_port: int) -> tuple[str, int]:
    """HOST:PORT, [v6]:PORT, HOST or :PORT."""
    text = text.strip()
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        host = text[1:end]
        rest = text[end + 1:]
        if rest.startswith(":"):
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, _, raw = text.partition(":")
        port = _port(raw, text)
    return host or "0.0.0.0", port


def _port(raw: str, text: str) -> int:
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise ConfigError(f"bad port in address {text!r}")
    return int(raw)


def normal_ip(address: str) -> str:
    """An IPv4-mapped IPv6 peer address as plain IPv4."""
    return address[7:] if address.startswith("::ffff:") else address
