"""Device profiles: how to talk to one kind of network device, as data (one TOML file each).

A profile names the device's prompts, how to log in and enter privileged mode, how to turn
paging off or answer a pager, the command that prints the configuration, and the lines that
change by themselves. Profiles shipped here are overridden by files of the same name in the
directories named by ``profile-dirs``; a new vendor is a new file, not new code.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from hidsctl import config
from hidsctl.errors import ConfigError, SourceLocation

BUNDLED = Path(__file__).resolve().parent

REGEX_LIST_FIELDS = ("login_failed", "enable_failed", "command_error", "volatile")


@dataclass
class ProfileSpec:
    """A profile file as written (keys spelled with dashes or underscores)."""

    description: str = ""
    hostname: str = r"[A-Za-z0-9][A-Za-z0-9._/:-]*"
    user_prompt: str = ">"
    privileged_prompt: str = "#"
    username_prompt: str = r"(?i)(?:user ?name|login)\s*:\s*$"
    password_prompt: str = r"(?i)password\s*:\s*$"
    login_failed: list[str] = field(default_factory=list)
    enable_command: str = ""
    enable_password_prompt: str = r"(?i)password\s*:\s*$"
    enable_failed: list[str] = field(default_factory=list)
    pager_off: list[str] = field(default_factory=list)
    more: str = ""
    more_answer: str = " "
    command_error: list[str] = field(default_factory=list)
    config_command: str = ""
    exit_command: str = "exit"
    newline: str = "\r"
    volatile: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Profile:
    """A profile with its patterns compiled."""

    name: str
    source: str
    description: str
    hostname: str
    user_prompt: re.Pattern[str]  # matches the unprivileged prompt at the end of output
    privileged_prompt: re.Pattern[str]
    username_prompt: re.Pattern[str]
    password_prompt: re.Pattern[str]
    login_failed: tuple[re.Pattern[str], ...]
    enable_command: str
    enable_password_prompt: re.Pattern[str]
    enable_failed: tuple[re.Pattern[str], ...]
    pager_off: tuple[str, ...]
    more: re.Pattern[str] | None
    more_answer: str
    command_error: tuple[re.Pattern[str], ...]
    config_command: str
    exit_command: str
    newline: str
    volatile: tuple[re.Pattern[str], ...]
    _suffixes: tuple[str, str] = ("", "")

    def prompts_for(self, name: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
        """Prompts of the device called ``name`` exactly (learnt at login), so that output
        which merely looks like a prompt does not end a command early."""
        user, privileged = self._suffixes
        return (_prompt_regex(re.escape(name), user), _prompt_regex(re.escape(name), privileged))

    def is_volatile(self, line: str) -> bool:
        return any(pattern.search(line) for pattern in self.volatile)


def _prompt_regex(hostname: str, suffix: str) -> re.Pattern[str]:
    # A prompt starts a line, may carry a mode such as "(config)", and ends the output.
    return re.compile(rf"(?:^|[\r\n])(?P<name>{hostname})(?:\([^)\r\n]*\))?(?:{suffix})[ \t]*$")


def compile_profile(name: str, spec: ProfileSpec, source: str) -> Profile:
    compiled: dict[str, object] = {}

    def regex(key: str, pattern: str) -> re.Pattern[str]:
        try:
            return re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"bad regular expression {pattern!r}: {exc}",
                              SourceLocation(source, detail=config.key_name(key))) from None

    for key in ("hostname", "user_prompt", "privileged_prompt"):
        regex(key, getattr(spec, key))
    for key in ("username_prompt", "password_prompt", "enable_password_prompt"):
        compiled[key] = regex(key, getattr(spec, key))
    compiled["more"] = regex("more", spec.more) if spec.more else None
    for key in REGEX_LIST_FIELDS:
        compiled[key] = tuple(regex(key, p) for p in getattr(spec, key))
    return Profile(
        name=name, source=source, description=spec.description, hostname=spec.hostname,
        user_prompt=_prompt_regex(spec.hostname, spec.user_prompt),
        privileged_prompt=_prompt_regex(spec.hostname, spec.privileged_prompt),
        enable_command=spec.enable_command, pager_off=tuple(spec.pager_off),
        more_answer=spec.more_answer, config_command=spec.config_command,
        exit_command=spec.exit_command, newline=spec.newline,
        _suffixes=(spec.user_prompt, spec.privileged_prompt),
        **compiled,  # type: ignore[arg-type]
    )


def load_file(path: Path) -> Profile:
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read profile: {exc.strerror}", SourceLocation(str(path))) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", SourceLocation(str(path))) from None
    spec = config.build(ProfileSpec, {}, {"profile": raw}, "profile", path)
    return compile_profile(path.stem, spec, str(path))


def load_all(extra_dirs: Iterable[str | Path] = ()) -> dict[str, Profile]:
    """Every profile by name: the bundled ones, then each directory's, later ones winning."""
    profiles: dict[str, Profile] = {}
    for directory in [BUNDLED, *map(Path, extra_dirs)]:
        if not directory.is_dir():
            raise ConfigError("profile directory not found", SourceLocation(str(directory)))
        for path in sorted(directory.glob("*.toml")):
            profiles[path.stem] = load_file(path)
    return profiles


def names() -> list[str]:
    return sorted(path.stem for path in BUNDLED.glob("*.toml"))

