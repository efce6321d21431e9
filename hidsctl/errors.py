"""The few error classes hidsctl raises; each carries where it happened."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceLocation:
    path: str
    line: int | None = None
    detail: str | None = None  # a key, a rule id, a decoder name

    def __str__(self) -> str:
        text = self.path
        if self.line is not None:
            text += f":{self.line}"
        if self.detail:
            text += f": {self.detail}"
        return text


class HidsError(Exception):
    """Root of hidsctl's errors. Exit code 1 (a runtime failure) unless a subclass says otherwise."""

    exit_code = 1

    def __init__(self, message: str, location: SourceLocation | None = None):
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class ConfigError(HidsError):
    """A broken config file, option or ruleset given by the user: exit code 2."""

    exit_code = 2


class UsageError(ConfigError):
    """Options that do not fit together."""


class RuleError(ConfigError):
    """A rule that cannot be loaded."""


class DecoderError(ConfigError):
    """A decoder that cannot be loaded."""


class StateError(HidsError):
    """State that cannot be read, written or locked."""


class ProtocolError(HidsError):
    """A peer that broke the wire protocol."""
