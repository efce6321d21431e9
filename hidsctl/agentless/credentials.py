"""Passwords for agentless hosts: one JSON file, mode 0600, in the state directory.

Entries are keyed ``user@host`` (or ``user@host:port`` when one address has several SSH
servers), as OSSEC's register_host.sh keys them. Passwords never live in the config file.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from hidsctl.errors import StateError, UsageError
from hidsctl.state import ExclusiveLock, atomic_write

FILE_NAME = "agentless-credentials.json"


@dataclass(frozen=True)
class Credential:
    password: str | None = None
    enable_password: str | None = None


def parse_target(text: str) -> tuple[str, str, int | None]:
    """``user@host[:port]`` -> (user, host, port or None)."""
    user, at, host = text.rpartition("@")
    if not at or not user or not host:
        raise UsageError(f"{text!r} is not USER@HOST")
    port = None
    if host.count(":") == 1:  # host:port; a bare IPv6 address has several colons
        host, _, port_text = host.partition(":")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise UsageError(f"{text!r}: bad port {port_text!r}")
        port = int(port_text)
    return user, host.strip("[]"), port


def target_key(user: str, host: str, port: int | None = None) -> str:
    return f"{user}@{host}" if port in (None, 22) else f"{user}@{host}:{port}"


class CredentialStore:
    def __init__(self, state_dir: Path):
        self.path = state_dir / FILE_NAME
        self.lock_path = state_dir / (FILE_NAME + ".lock")

    def load(self) -> dict[str, Credential]:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return {}
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise StateError(f"{self.path} is readable by others (mode "
                             f"{stat.S_IMODE(info.st_mode):04o}); chmod 600 it")
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read {self.path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise StateError(f"{self.path}: not a JSON object")
        return {key: Credential(value.get("password"), value.get("enable_password"))
                for key, value in raw.items() if isinstance(value, dict)}

    def lookup(self, user: str, host: str, port: int) -> Credential | None:
        entries = self.load()
        return entries.get(target_key(user, host, port)) or entries.get(target_key(user, host))

    def save(self, entries: dict[str, Credential]) -> None:
        data = {key: {k: v for k, v in (("password", c.password),
                                         ("enable_password", c.enable_password)) if v is not None}
                for key, c in sorted(entries.items())}
        atomic_write(self.path, json.dumps(data, indent=2) + "\n", mode=0o600)

    def add(self, key: str, credential: Credential) -> bool:
        """Store a credential; True when it replaced one."""
        with ExclusiveLock(self.lock_path, "the agentless credential store"):
            entries = self.load()
            replaced = key in entries
            entries[key] = credential
            self.save(entries)
        return replaced

    def remove(self, key: str) -> bool:
        with ExclusiveLock(self.lock_path, "the agentless credential store"):
            entries = self.load()
            if key not in entries:
                return False
            del entries[key]
            self.save(entries)
        return True
