"""TOML configuration: one table per command, keys spelled as the command's long options.

Precedence for each setting: the command line, then the config file, then the default.
A broken config names the file, the key and what is wrong (ConfigError, exit code 2).
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from hidsctl.errors import ConfigError, SourceLocation

T = TypeVar("T")


def load(path: str | os.PathLike | None) -> dict[str, Any]:
    """The whole config file as a dict; {} when no file is given."""
    if path is None:
        return {}
    import tomllib  # only with a config file: a command without one starts faster

    file = Path(path)
    try:
        with open(file, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("config file not found", SourceLocation(str(file))) from None
    except PermissionError:
        raise ConfigError("config file is not readable", SourceLocation(str(file))) from None
    except IsADirectoryError:
        raise ConfigError("config path is a directory", SourceLocation(str(file))) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", SourceLocation(str(file))) from None
    except UnicodeDecodeError:
        raise ConfigError("not valid UTF-8", SourceLocation(str(file))) from None


def table(config: dict[str, Any], name: str, source: str | os.PathLike | None) -> dict[str, Any]:
    """The ``[name]`` table with keys normalised (``from-start`` and ``from_start`` alike)."""
    raw = config.get(name, {})
    if not isinstance(raw, dict):
        raise ConfigError(f"[{name}] must be a table", SourceLocation(str(source or "config")))
    return {key.replace("-", "_"): value for key, value in raw.items()}


def build(cls: type[T], cli: dict[str, Any], config: dict[str, Any], section: str,
          source: str | os.PathLike | None = None) -> T:
    """Build the settings dataclass ``cls`` for one command.

    ``cli`` holds the command-line values, None (or an empty list) meaning "not given".
    Values from the config's ``[section]`` table are type-checked against the dataclass
    field annotations; unknown keys are errors, so a typo never passes silently.
    """
    where = str(source or "config")
    values = table(config, section, source)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in values:
        if key not in names:
            raise ConfigError(f"unknown key {key!r}", SourceLocation(where, detail=f"[{section}]"))
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        given = cli.get(field.name)
        if given is not None and given != [] and given != ():
            kwargs[field.name] = given
        elif field.name in values:
            kwargs[field.name] = check_type(values[field.name], hints[field.name],
                                            SourceLocation(where, detail=f"[{section}] {key_name(field.name)}"))
    return cls(**kwargs)


def key_name(name: str) -> str:
    return name.replace("_", "-")


def check_type(value: Any, hint: Any, location: SourceLocation) -> Any:
    """Check a TOML value against a type hint; returns it (tuples from lists)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return check_type(value, option, location)
            except ConfigError:
                continue
        raise ConfigError(f"expected {_describe(hint)}, got {_toml_type(value)}", location)
    if hint is Any:
        return value
    if hint is type(None):
        if value is None:
            return None
        raise ConfigError("expected nothing", location)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"expected {_describe(hint)}, got {_toml_type(value)}", location)
        item = args[0] if args else Any
        items = [check_type(v, item, location) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"expected a table, got {_toml_type(value)}", location)
        return value
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is Path:
        if isinstance(value, str):
            return Path(value)
    elif isinstance(hint, type) and isinstance(value, hint):
        return value
    raise ConfigError(f"expected {_describe(hint)}, got {_toml_type(value)}", location)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint) if a is not type(None))
    if origin in (list, tuple):
        args = typing.get_args(hint)
        plural = {str: "strings", int: "integers", float: "numbers", bool: "booleans",
                  Path: "paths"}
        if not args:
            return "a list"
        return f"a list of {plural.get(args[0], _describe(args[0]))}"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false",
            Path: "a path"}.get(hint, getattr(hint, "__name__", str(hint)))


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def parse_interval(text: str) -> float:
    """Seconds in an interval such as ``12h``, ``30m``, ``45s``, ``1d`` or ``3600``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text or "")
    if not match:
        raise ConfigError(f"bad interval {text!r} (use 30s, 10m, 12h, 1d)")
    scale = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    seconds = float(match.group(1)) * scale
    if seconds <= 0:
        raise ConfigError(f"interval {text!r} must be positive")
    return seconds
