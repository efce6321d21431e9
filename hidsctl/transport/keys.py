"""Agent keys in OSSEC's ``client.keys`` line layout: ``ID NAME IP KEY``.

The server's file holds every agent; an agent's file holds its own line (``keys import``).
The file is mode 0600 and always written atomically. Lines starting with ``#`` and agents
whose name starts with ``!`` (OSSEC's mark for a removed agent) are skipped.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hidsctl.errors import ConfigError, SourceLocation, StateError, UsageError
from hidsctl.records import agent_id
from hidsctl.state import atomic_write

KEYS_FILE = "client.keys"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{8,512}$")  # printable, no spaces; OSSEC uses 64 hex


@dataclass(frozen=True)
class AgentKey:
    id: str
    name: str
    ip: str  # "any", an address or a CIDR
    key: str  # the shared secret as written in the file

    def line(self) -> str:
        return f"{self.id} {self.name} {self.ip} {self.key}"

    def identity(self, peer_ip: str | None = None) -> dict[str, str]:
        """The ``agent`` object the server stamps on this agent's records."""
        return {"id": self.id, "name": self.name, "ip": peer_ip or self.ip}

    def allows(self, address: str) -> bool:
        """Whether a peer address may use this key (OSSEC's IP column)."""
        if self.ip == "any":
            return True
        try:
            peer = ipaddress.ip_address(address)
            if peer.version == 6 and peer.ipv4_mapped:
                peer = peer.ipv4_mapped
            return peer in ipaddress.ip_network(self.ip, strict=False)
        except ValueError:
            return False

    def derived(self) -> bytes:
        """The per-agent protocol key: HKDF-SHA256 of the shared secret, bound to the id."""
        return derive_agent_key(self.key, self.id)


def derive_agent_key(secret: str, ident: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"hidsctl agent key v1",
                info=ident.encode()).derive(secret.encode())


def keys_path(state: Path) -> Path:
    return state / KEYS_FILE


def parse_line(text: str, where: SourceLocation) -> AgentKey | None:
    """One line of a keys file; None for blank, comment and removed entries."""
    line = text.strip()
    if not line or line.startswith("#"):
        return None
    parts = line.split()
    if len(parts) != 4:
        raise ConfigError(f"expected 'ID NAME IP KEY', got {len(parts)} fields", where)
    ident, name, ip, key = parts
    if name.startswith("!"):
        return None
    try:
        ident = agent_id(ident)
    except ValueError:
        raise ConfigError(f"agent id must be digits, not {parts[0]!r}", where) from None
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"bad agent name {name!r}", where)
    try:
        ip = check_ip(ip)
    except UsageError as exc:
        raise ConfigError(exc.message, where) from None
    if not KEY_PATTERN.match(key):
        raise ConfigError("key must be 8 to 512 printable characters", where)
    return AgentKey(ident, name, ip, key)


def check_ip(value: str) -> str:
    if value.lower() == "any":
        return "any"
    try:
        return str(ipaddress.ip_network(value, strict=False)) if "/" in value \
            else str(ipaddress.ip_address(value))
    except ValueError:
        raise UsageError(f"IP must be 'any', an address or a CIDR, not {value!r}") from None


def parse(text: str, source: str) -> list[AgentKey]:
    """Every key of a file's text; a malformed line is an error naming its number."""
    keys: list[AgentKey] = []
    seen_ids: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        where = SourceLocation(source, number)
        key = parse_line(line, where)
        if key is None:
            continue
        if key.id in seen_ids:
            raise ConfigError(f"agent id {key.id} already on line {seen_ids[key.id]}", where)
        if key.name in seen_names:
            raise ConfigError(f"agent name {key.name!r} already on line {seen_names[key.name]}",
                              where)
        seen_ids[key.id] = seen_names[key.name] = number
        keys.append(key)
    return keys


class KeyFile:
    """The keys of one ``client.keys`` file, reloaded when the file changes."""

    def __init__(self, path: Path):
        self.path = path
        self.keys: dict[str, AgentKey] = {}
        self._stamp: tuple[int, int, int] | None = None

    @classmethod
    def open(cls, path: Path) -> "KeyFile":
        keyfile = cls(path)
        keyfile.reload()
        return keyfile

    def reload(self) -> bool:
        """Re-read the file when its size, mtime or inode changed; True when it did."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            changed = bool(self.keys) or self._stamp is not None
            self.keys, self._stamp = {}, None
            return changed
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return False
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError("not valid UTF-8", SourceLocation(str(self.path))) from None
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror}") from None
        self.keys = {key.id: key for key in parse(text, str(self.path))}
        self._stamp = stamp
        return True

    def get(self, ident: str) -> AgentKey | None:
        return self.keys.get(ident)

    def by_name(self, name: str) -> AgentKey | None:
        return next((k for k in self.keys.values() if k.name == name), None)

    def save(self) -> None:
        lines = "".join(k.line() + "\n" for k in sorted(self.keys.values(), key=lambda k: k.id))
        atomic_write(self.path, lines, mode=0o600)
        self._stamp = None
        self.reload()

    def next_id(self) -> str:
        used = [int(k) for k in self.keys]
        return agent_id(max(used, default=0) + 1)

    def add(self, name: str, ip: str = "any", ident: str | None = None,
            key: str | None = None, replace: bool = False) -> AgentKey:
        if not NAME_PATTERN.match(name):
            raise UsageError(f"agent name must be letters, digits, '.', '_' or '-' "
                             f"(up to 64), not {name!r}")
        ip = check_ip(ip)
        if ident is not None:
            try:
                ident = agent_id(ident)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        clash = self.by_name(name)
        if clash is not None and not (replace and clash.id == (ident or clash.id)):
            raise UsageError(f"an agent named {name!r} already exists (id {clash.id})")
        if ident is not None and ident in self.keys and not replace:
            raise UsageError(f"agent id {ident} already exists ({self.keys[ident].name})")
        entry = AgentKey(ident or self.next_id(), name, ip, key or new_secret())
        self.keys[entry.id] = entry
        self.save()
        return entry

    def remove(self, ident: str) -> AgentKey:
        try:
            ident = agent_id(ident)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        entry = self.keys.pop(ident, None)
        if entry is None:
            raise UsageError(f"no agent with id {ident}")
        self.save()
        return entry


def new_secret() -> str:
    return secrets.token_hex(32)


def export_string(key: AgentKey) -> str:
    """One pasteable string: base64 of the key line, as OSSEC's manage_agents exports."""
    return base64.b64encode(key.line().encode()).decode()


def import_string(text: str) -> AgentKey:
    """The key in an exported string (a raw ``ID NAME IP KEY`` line is accepted too)."""
    text = text.strip()
    where = SourceLocation("key string")
    if len(text.split()) == 4:
        line = text
    else:
        try:
            line = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise UsageError("not an exported key: expected base64 of 'ID NAME IP KEY'") from None
    try:
        key = parse_line(line, where)
    except ConfigError as exc:
        raise UsageError(f"not an exported key: {exc.message}") from None
    if key is None:
        raise UsageError("not an exported key: empty or removed entry")
    return key
