"""The ``[agentless]`` settings and its ``[[agentless.host]]`` tables, checked once at start."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hidsctl import config
from hidsctl.errors import ConfigError, SourceLocation

# Check types; OSSEC's agentlessd names are accepted as they are, so an imported
# configuration keeps its names and its records keep OSSEC's locations.
INTEGRITY_TYPES = {
    "linux-integrity": "linux", "ssh_integrity_check_linux": "linux",
    "bsd-integrity": "bsd", "ssh_integrity_check_bsd": "bsd",
}
DIFF_TYPES = {"diff", "ssh_generic_diff"}
# Device configuration diffs, with the profile a type implies when none is named.
DEVICE_TYPES = {
    "device-config": "cisco-ios",
    "ssh_pixconfig_diff": "cisco-asa",
    "ssh_asa-fwsmconfig_diff": "cisco-asa",
}
ALL_TYPES = sorted([*INTEGRITY_TYPES, *DIFF_TYPES, *DEVICE_TYPES])

DEFAULT_INTERVAL = 3600.0


@dataclass
class AgentlessSettings:
    host: list[dict] = field(default_factory=list)  # the [[agentless.host]] tables
    once: bool = False
    accept_new: bool = False
    concurrency: int = 8
    interval: float = DEFAULT_INTERVAL  # seconds between checks of a host, unless it sets its own
    connect_timeout: float = 10.0  # TCP connect, SSH handshake and login, each
    timeout: float = 60.0  # each command or prompt exchange after login
    profile_dirs: list[str] = field(default_factory=list)


@dataclass
class HostSpec:
    """One ``[[agentless.host]]`` table as written."""

    address: str = ""
    user: str = ""
    type: str = ""
    port: int = 22
    directories: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    identity_file: str = ""
    interval: float = 0.0
    profile: str = ""
    timeout: float = 0.0
    connect_timeout: float = 0.0


@dataclass(frozen=True)
class Host:
    """A host to check, with every default resolved."""

    address: str
    user: str
    type: str
    port: int = 22
    directories: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    identity_file: str | None = None
    interval: float = DEFAULT_INTERVAL
    profile: str | None = None
    timeout: float = 60.0
    connect_timeout: float = 10.0

    @property
    def target(self) -> str:
        """``user@address``, as OSSEC names an agentless host."""
        return f"{self.user}@{self.address}"

    @property
    def key(self) -> str:
        """Identity of the host in stored state: the port is part of it."""
        return f"{self.user}@{self.address}:{self.port}"

    @property
    def kind(self) -> str:
        if self.type in INTEGRITY_TYPES:
            return "integrity"
        if self.type in DIFF_TYPES:
            return "diff"
        return "device"

    def location(self, what: str) -> str:
        """OSSEC's location of an agentless event: ``(type) user@host->what``."""
        return f"({self.type}) {self.target}->{what}"


def parse_hosts(settings: AgentlessSettings, source: str | os.PathLike | None) -> list[Host]:
    """The configured hosts, each checked; a bad table names its position and key."""
    hosts = []
    for number, table in enumerate(settings.host, start=1):
        section = f"agentless.host #{number}"
        spec = config.build(HostSpec, {}, {section: table}, section, source)
        hosts.append(_resolve(spec, settings, SourceLocation(str(source or "config"),
                                                             detail=f"[{section}]")))
    return hosts


def _resolve(spec: HostSpec, settings: AgentlessSettings, where: SourceLocation) -> Host:
    def problem(message: str) -> ConfigError:
        return ConfigError(message, where)

    if not spec.address:
        raise problem("address is required")
    if not spec.user:
        raise problem("user is required")
    if spec.type not in ALL_TYPES:
        raise problem(f"type {spec.type!r} is not one of {', '.join(ALL_TYPES)}")
    if not 0 < spec.port < 65536:
        raise problem(f"port {spec.port} is out of range")
    if spec.type in INTEGRITY_TYPES:
        if not spec.directories:
            raise problem(f"type {spec.type} needs directories")
        for directory in spec.directories:
            if not directory.startswith("/"):
                raise problem(f"directory {directory!r} is not absolute")
    if spec.type in DIFF_TYPES and not spec.commands:
        raise problem(f"type {spec.type} needs commands")
    for number in (spec.interval, spec.timeout, spec.connect_timeout):
        if number < 0:
            raise problem("intervals and timeouts must not be negative")
    profile = spec.profile or DEVICE_TYPES.get(spec.type) or None
    if spec.profile and spec.type not in DEVICE_TYPES:
        raise problem(f"profile is for device types ({', '.join(sorted(DEVICE_TYPES))})")
    identity = os.path.expanduser(spec.identity_file) if spec.identity_file else None
    return Host(
        address=spec.address, user=spec.user, type=spec.type, port=spec.port,
        directories=tuple(d.rstrip("/") or "/" for d in spec.directories),
        commands=tuple(spec.commands), identity_file=identity,
        interval=spec.interval or settings.interval, profile=profile,
        timeout=spec.timeout or settings.timeout,
        connect_timeout=spec.connect_timeout or settings.connect_timeout,
    )


def load(config_path: Path | None, **cli: Any) -> tuple[AgentlessSettings, list[Host]]:
    raw = config.load(config_path)
    settings = config.build(AgentlessSettings, cli, raw, "agentless", config_path)
    if settings.concurrency < 1:
        raise ConfigError("concurrency must be at least 1",
                          SourceLocation(str(config_path or "config"), detail="[agentless]"))
    return settings, parse_hosts(settings, config_path)


def replace(host: Host, **changes: Any) -> Host:
    return dataclasses.replace(host, **changes)
