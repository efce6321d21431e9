"""The settings of ``hidsctl collect`` and the sources they name.

Every field is a long option of the command and a key of the ``[collect]`` config table.
Entries of ``files``, ``command`` and ``full-command`` are strings or tables with
per-source options; they are checked here, so a broken table names its file and key.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from hidsctl.collect import formats
from hidsctl.errors import ConfigError, SourceLocation, UsageError

# What OSSEC's default agent config follows, where the files exist.
DEFAULT_FILES = (
    "/var/log/messages", "/var/log/authlog", "/var/log/auth.log", "/var/log/secure",
    "/var/log/syslog", "/var/log/xferlog", "/var/log/maillog", "/var/log/kern.log",
    "/var/log/dpkg.log",
    # and the other package managers' logs the bundled rules read (0240-packages.xml)
    "/var/log/apt/history.log", "/var/log/unattended-upgrades/unattended-upgrades.log",
    "/var/log/dnf.rpm.log", "/var/log/dnf.log",
)
SYSLOG_FILES = ("/var/log/messages", "/var/log/auth.log", "/var/log/secure", "/var/log/syslog")
DEFAULT_FREQUENCY = 360.0


@dataclass
class CollectSettings:
    files: list[str | dict] = field(default_factory=list)
    command: list[str | dict] = field(default_factory=list)
    full_command: list[str | dict] = field(default_factory=list)
    frequency: float = DEFAULT_FREQUENCY
    journal: bool | None = None
    journal_match: list[str] = field(default_factory=list)
    format: str = formats.SYSLOG
    lines: int | None = None
    multiline_regex: str | None = None
    multiline_timeout: float = 1.0
    exclude: list[str] = field(default_factory=list)
    max_line: int = 65536
    from_start: bool = False
    from_end: bool = False
    once: bool = False
    poll_interval: float = 1.0
    rotate_wait: float = 5.0
    inotify: bool = True


@dataclass(frozen=True)
class FileSource:
    pattern: str            # an absolute path or glob
    format: str = formats.SYSLOG
    lines: int = 1
    regex: re.Pattern[str] | None = None
    timeout: float = 1.0
    alias: str | None = None
    exclude: tuple[str, ...] = ()
    required: bool = True   # say so on stderr when it is missing (not for the defaults)

    @property
    def is_glob(self) -> bool:
        """A pattern rather than one path: wildcards, or strftime fields (as OSSEC's
        ``file.log-%Y-%m-%d``) that name a new file as the date changes."""
        return any(c in self.pattern for c in "*?[%")

    def current_pattern(self) -> str:
        return time.strftime(self.pattern) if "%" in self.pattern else self.pattern


@dataclass(frozen=True)
class CommandSource:
    command: str
    full: bool
    frequency: float
    alias: str | None = None

    @property
    def name(self) -> str:
        return self.alias or self.command


@dataclass(frozen=True)
class JournalSource:
    matches: tuple[str, ...] = ()


@dataclass
class Sources:
    files: list[FileSource]
    commands: list[CommandSource]
    journal: JournalSource | None


FILE_KEYS = {"location", "format", "lines", "multiline-regex", "multiline-timeout", "alias",
             "exclude"}
COMMAND_KEYS = {"command", "frequency", "alias"}


def sources(settings: CollectSettings, config_path: os.PathLike | str | None) -> Sources:
    """The sources to follow; OSSEC's defaults when none is named."""
    where = str(config_path or "command line")
    check(settings)
    defaults = FileSource("", settings.format, settings.lines or 1,
                          _regex(settings.multiline_regex, where, "multiline-regex"),
                          settings.multiline_timeout, None, tuple(settings.exclude))
    defaults = _check_format(defaults, where, "format")
    files = [_file_source(entry, defaults, where, i) for i, entry in enumerate(settings.files)]
    commands = [_command_source(entry, settings.frequency, full, where, key, i)
                for full, key in ((False, "command"), (True, "full-command"))
                for i, entry in enumerate(getattr(settings, key.replace("-", "_")))]
    journal = JournalSource(tuple(settings.journal_match)) if settings.journal else None
    if not files and not commands and journal is None:
        files = [FileSource(path, required=False) for path in DEFAULT_FILES]
        if settings.journal is None and not any(os.path.exists(p) for p in SYSLOG_FILES) \
                and _has_journalctl():
            journal = JournalSource(tuple(settings.journal_match))
    return Sources(files, commands, journal)


def check(settings: CollectSettings) -> None:
    if settings.from_start and settings.from_end:
        raise UsageError("--from-start and --from-end exclude each other")
    for name in ("max_line", "poll_interval", "multiline_timeout", "frequency"):
        if getattr(settings, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive")
    if settings.rotate_wait < 0:
        raise UsageError("--rotate-wait must not be negative")


def _has_journalctl() -> bool:
    import shutil

    return shutil.which("journalctl") is not None


def _file_source(entry: str | dict, defaults: FileSource, where: str, index: int) -> FileSource:
    if isinstance(entry, str):
        return FileSource(_absolute(entry), defaults.format, defaults.lines, defaults.regex,
                          defaults.timeout, None, defaults.exclude)
    key = f"[collect] files[{index}]"
    table = {k.replace("_", "-"): v for k, v in entry.items()}
    for name in table:
        if name not in FILE_KEYS:
            raise ConfigError(f"unknown key {name!r}", SourceLocation(where, detail=key))
    location = _typed(table, "location", str, where, key, required=True)
    fmt = _typed(table, "format", str, where, key) or defaults.format
    lines = _typed(table, "lines", int, where, key)
    pattern = _typed(table, "multiline-regex", str, where, key)
    timeout = _typed(table, "multiline-timeout", (int, float), where, key)
    exclude = _typed(table, "exclude", list, where, key)
    if exclude is not None and not all(isinstance(e, str) for e in exclude):
        raise ConfigError("expected a list of strings", SourceLocation(where, detail=f"{key} exclude"))
    source = FileSource(
        _absolute(location), fmt, lines or defaults.lines,
        _regex(pattern, where, f"{key} multiline-regex") if pattern else defaults.regex,
        float(timeout) if timeout is not None else defaults.timeout,
        _typed(table, "alias", str, where, key),
        tuple(exclude) if exclude is not None else defaults.exclude)
    if timeout is not None and timeout <= 0:
        raise ConfigError("must be positive", SourceLocation(where, detail=f"{key} multiline-timeout"))
    return _check_format(source, where, f"{key} format")


def _check_format(source: FileSource, where: str, key: str) -> FileSource:
    fmt = source.format
    if fmt.startswith(formats.MULTI_LINE + ":"):  # OSSEC's multi-line:N
        count = fmt.split(":", 1)[1].strip()
        if not count.isdigit():
            raise ConfigError(f"multi-line needs a line count, as in multi-line:3, not {fmt!r}",
                              SourceLocation(where, detail=key))
        source = _replace(source, format=formats.MULTI_LINE, lines=int(count))
    elif fmt == "multi_line_regex":
        source = _replace(source, format=formats.MULTI_LINE_REGEX)
    if source.format not in formats.FORMATS:
        raise ConfigError(f"unknown format {fmt!r} (one of {', '.join(formats.FORMATS)})",
                          SourceLocation(where, detail=key))
    if source.format == formats.MULTI_LINE and source.lines < 1:
        raise ConfigError("multi-line needs lines >= 1", SourceLocation(where, detail=key))
    if source.format == formats.MULTI_LINE_REGEX and source.regex is None:
        raise ConfigError("multi-line-regex needs multiline-regex, the pattern that starts an entry",
                          SourceLocation(where, detail=key))
    return source


def _replace(source: FileSource, **changes: Any) -> FileSource:
    from dataclasses import replace

    return replace(source, **changes)


def _command_source(entry: str | dict, frequency: float, full: bool, where: str, option: str,
                    index: int) -> CommandSource:
    if isinstance(entry, str):
        command, alias, every = entry, None, frequency
    else:
        key = f"[collect] {option}[{index}]"
        table = {k.replace("_", "-"): v for k, v in entry.items()}
        for name in table:
            if name not in COMMAND_KEYS:
                raise ConfigError(f"unknown key {name!r}", SourceLocation(where, detail=key))
        command = _typed(table, "command", str, where, key, required=True)
        alias = _typed(table, "alias", str, where, key)
        given = _typed(table, "frequency", (int, float), where, key)
        every = float(given) if given is not None else frequency
        if every <= 0:
            raise ConfigError("must be positive", SourceLocation(where, detail=f"{key} frequency"))
    if not command.strip():
        raise ConfigError("empty command", SourceLocation(where, detail=option))
    return CommandSource(command, full, every, alias)


_KIND_NAMES = {str: "a string", int: "an integer", list: "a list"}


def _typed(table: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str, key: str,
           required: bool = False) -> Any:
    if name not in table:
        if required:
            raise ConfigError(f"missing {name!r}", SourceLocation(where, detail=key))
        return None
    value = table[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = _KIND_NAMES.get(kind, "a number") if isinstance(kind, type) else "a number"
        raise ConfigError(f"expected {expected}, got {type(value).__name__} {value!r}",
                          SourceLocation(where, detail=f"{key} {name}"))
    return value


def _regex(pattern: str | None, where: str, key: str) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"bad regular expression {pattern!r}: {exc}",
                          SourceLocation(where, detail=key)) from None


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))
