"""Running one command without building typer's parser, for a plain command line.

Typer validates every option through a pydantic TypeAdapter it builds at each start; with
pydantic's import that is most of a one-shot command's start-up (``logtest``, ``rules
test``, a cron-run ``analyze``). A command line made only of the command's own option
spellings, each with a plain value (a string, a path, a whole number, a decimal), is read
here straight from the function's typer declarations and the function called directly.

Anything else -- ``--help``, an unknown or abbreviated option, an option given twice, a
value that does not read as its type, a path option that would refuse its value, a
declaration this reader does not know -- is left to typer (``read`` returns None), which
gives its usual help or usage error. So the declarations stay the one definition of the
command line, and both readers give a command the same arguments (tests/test_directcall.py
compares them).
"""

from __future__ import annotations

import errno
import os
import re
import sys
import typing
from pathlib import Path
from typing import Any, Callable

import typer
from typer.models import ArgumentInfo, OptionInfo, ParameterInfo
from typer.utils import get_params_from_function

# OptionInfo attributes a plain option may set; any other off its default: typer reads it.
PLAIN = {"default", "param_decls", "help", "show_default", "metavar", "hidden",
         "rich_help_panel", "dir_okay", "file_okay", "show_choices", "show_envvar"}
DEFAULTS = vars(OptionInfo())
INTEGER = re.compile(r"[+-]?[0-9]+")
DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
HELP = ("-h", "--help")


class Param:
    """One parameter of a command: its name, value type, and (options) spellings."""

    def __init__(self, name: str, kind: type, many: bool, info: ParameterInfo,
                 required: bool):
        self.name, self.kind, self.many, self.info = name, kind, many, info
        self.required = required
        self.flags: dict[str, bool] = {}  # bool option: spelling -> value it sets
        self.spellings: list[str] = []
        if isinstance(info, OptionInfo):
            decls = list(info.param_decls or [])
            if not decls:
                dashed = name.replace("_", "-")
                decls = [f"--{dashed}/--no-{dashed}" if kind is bool else f"--{dashed}"]
            for decl in decls:
                on, _, off = decl.partition("/")
                self.spellings += [s.strip() for s in (on, off) if s.strip()]
                if kind is bool:
                    self.flags[on.strip()] = True
                    if off.strip():
                        self.flags[off.strip()] = False


def _unwrap(annotation: Any) -> tuple[Any, bool] | None:
    """(value type, whether repeated) for the plain annotations, else None."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Union:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            return None
        annotation, args = rest[0], typing.get_args(rest[0])
    many = typing.get_origin(annotation) is list
    if many:
        annotation = args[0]
    if annotation in (str, int, float, Path) or (annotation is bool and not many):
        return annotation, many
    return None


def params(func: Callable[..., Any]) -> list[Param] | None:
    """The command's parameters as typer reads them, or None when one of them is beyond
    this reader."""
    out = []
    for name, meta in get_params_from_function(func).items():
        info, plain = meta.default, _unwrap(meta.annotation)
        if not isinstance(info, ParameterInfo) or plain is None:
            return None
        extra = {k for k, v in vars(info).items() if DEFAULTS.get(k, v) != v} - PLAIN
        if extra or (isinstance(info, ArgumentInfo) and plain[0] is bool):
            return None
        out.append(Param(name, plain[0], plain[1], info, info.default is ...))
    return out


def _value(param: Param, text: str) -> Any:
    """The value typer would give, or LookupError when typer should judge it."""
    kind = param.kind
    if kind is str:
        return text
    if kind is int:
        if not INTEGER.fullmatch(text):
            raise LookupError(text)
        return int(text)
    if kind is float:
        if not DECIMAL.fullmatch(text):
            raise LookupError(text)
        return float(text)
    path = Path(text)
    info = param.info
    if (not info.dir_okay and path.is_dir()) or (not info.file_okay and path.is_file()) \
            or not text:
        raise LookupError(text)
    return path


def read(func: Callable[..., Any], argv: list[str]) -> dict[str, Any] | None:
    """The keyword arguments typer would call ``func`` with for ``argv`` (the words after
    the command's name), or None when typer should read this command line itself."""
    found = params(func)
    if found is None:
        return None
    by_spelling = {s: p for p in found if isinstance(p.info, OptionInfo) for s in p.spellings}
    positional = [p for p in found if isinstance(p.info, ArgumentInfo)]
    given: dict[str, Any] = {}
    words: list[str] = []
    try:
        i = 0
        while i < len(argv):
            word = argv[i]
            i += 1
            if not word.startswith("-") or word == "-":
                words.append(word)
                continue
            name, eq, attached = word.partition("=")
            param = by_spelling.get(name if name.startswith("--") else word)
            if param is None or word in HELP:
                return None
            if param.kind is bool:
                if eq or param.name in given:
                    return None
                given[param.name] = param.flags[word]
                continue
            if not eq:
                if i >= len(argv):
                    return None
                attached, i = argv[i], i + 1
            value = _value(param, attached)
            if param.many:
                given.setdefault(param.name, []).append(value)
            elif param.name in given:
                return None
            else:
                given[param.name] = value
        for param in positional:
            if param.many and words:
                given[param.name] = [_value(param, w) for w in words]
                words = []
            elif words and not param.many:
                given[param.name] = _value(param, words.pop(0))
    except LookupError:
        return None
    if words or any(p.required and p.name not in given for p in found):
        return None
    return given


def call(func: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Run the command as typer's standalone mode would, and exit with its code."""
    try:
        func(**kwargs)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except EOFError:
        print("\nAborted!", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # a closed output pipe ends the command quietly, as under typer
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    sys.exit(0)


def command(app: typer.Typer, argv: list[str]) -> tuple[Callable[..., Any], list[str]] | None:
    """The function ``argv`` names in ``app`` (a command, or a group's command) and the words
    after its name."""
    if not argv:
        return None
    for info in app.registered_commands:
        if info.name == argv[0] and info.callback is not None:
            return info.callback, argv[1:]
    for group in app.registered_groups:
        if group.name == argv[0] and group.typer_instance is not None:
            return command(group.typer_instance, argv[1:])
    return None
