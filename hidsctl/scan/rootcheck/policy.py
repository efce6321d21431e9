"""Policy audits in OSSEC's ``*_rcl.txt`` format (docs/rootcheck.md).

A file holds variables (``$name=a,b;``) and checks: a header
``[title] [any|all|none (required)] [reference]`` followed by entries, one a line:
``f:`` file (exists, or has content), ``d:`` directory (a file name in it, with content),
``p:`` running process, ``c:`` command output; ``r:`` (Windows registry) entries are
read and never fire. A check whose condition is ``required`` gates the rest of its file.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from hidsctl.errors import RuleError, SourceLocation
from hidsctl.scan.rootcheck import patterns

CONDITIONS = {"any", "all", "none"}
ENTRY_TYPES = {"f", "d", "p", "c", "r"}
MAX_DEPTH = 16  # how deep a d: entry looks below its directory


@dataclass
class Entry:
    kind: str
    negated: bool
    targets: list[str]
    name_regex: re.Pattern[str] | None
    content: list[patterns.Condition] | None
    line: int


@dataclass
class Check:
    title: str
    condition: str
    required: bool
    reference: str
    line: int
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Policy:
    name: str
    path: str
    checks: list[Check]


_HEADER = re.compile(r"^\[(.*)\]\s*\[([^\]]*)\]\s*\[([^\]]*)\]\s*$")
_ENTRY = re.compile(r"^([A-Za-z]):(.*)$")


def load(path: str | os.PathLike) -> Policy:
    """Parse a policy file; RuleError (exit 2) names the file and line of a broken one."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RuleError(f"cannot read policy: {exc.strerror}", SourceLocation(str(file))) from None
    variables: dict[str, list[str]] = {}
    checks: list[Check] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = SourceLocation(str(file), number)
        if line.startswith("$"):
            name, sep, value = line.rstrip(";").partition("=")
            if not sep or not name[1:].strip():
                raise RuleError("a variable needs '$name=value;'", where)
            variables[name.strip()] = [v.strip() for v in value.split(",") if v.strip()]
            continue
        if line.startswith("["):
            checks.append(_header(line, where, number))
            continue
        if not checks:
            raise RuleError("an entry before any [check] header", where)
        checks[-1].entries.append(_entry(line, variables, where, number))
    return Policy(file.name.removesuffix(".txt"), str(file), checks)


def _header(line: str, where: SourceLocation, number: int) -> Check:
    match = _HEADER.match(line)
    if not match:
        raise RuleError("a check header is '[title] [any|all|none] [reference]'", where)
    title, condition, reference = (part.strip() for part in match.groups())
    words = condition.lower().split()
    required = "required" in words
    words = [w for w in words if w != "required"]
    if len(words) != 1 or words[0] not in CONDITIONS:
        raise RuleError(f"unknown condition {condition!r} (any, all or none, "
                        f"optionally 'required')", where)
    return Check(title, words[0], required, reference, number)


def _entry(line: str, variables: dict[str, list[str]], where: SourceLocation, number: int) -> Entry:
    match = _ENTRY.match(line.rstrip().rstrip(";").rstrip())
    if not match or match.group(1).lower() not in ENTRY_TYPES:
        raise RuleError("an entry is f:, d:, p:, c: or r: followed by its target", where)
    kind = match.group(1).lower()
    parts = [p.strip() for p in match.group(2).split(" -> ")]
    target = parts[0]
    negated = target.startswith("!")
    if negated:
        target = target[1:]
    name_regex = None
    content = None
    try:
        if kind == "d" and len(parts) > 1:
            name = parts[1][2:] if parts[1].lower().startswith("r:") else parts[1]
            name_regex = patterns.compile_regex(name)
            if len(parts) > 2:
                content = patterns.compile_condition(parts[2])
        elif kind != "r" and len(parts) > 1:
            content = patterns.compile_condition(" -> ".join(parts[1:]))
    except re.error as exc:
        raise RuleError(f"bad pattern: {exc}", where) from None
    targets = _expand(target, variables, where) if kind in "fd" else [target]
    return Entry(kind, negated, targets, name_regex, content, number)


def _expand(target: str, variables: dict[str, list[str]], where: SourceLocation) -> list[str]:
    out: list[str] = []
    for item in target.split(","):
        item = item.strip()
        if item.startswith("$"):
            if item not in variables:
                raise RuleError(f"unknown variable {item}", where)
            out.extend(variables[item])
        elif item:
            out.append(item)
    return out


# --- evaluation -------------------------------------------------------------------------------

@dataclass
class Finding:
    policy: Policy
    check: Check
    file: str | None
    evidence: str | None

    def title(self) -> str:
        text = f"System Audit: {self.check.title}."
        if self.file:
            text += f" File: {self.file}."
        if self.check.reference:
            text += f" Reference: {self.check.reference} ."
        return text


class Context:
    """What checks look at: the processes (read once) and a timeout for commands."""

    def __init__(self, proc: str = "/proc", command_timeout: float = 30.0):
        self.proc = proc
        self.command_timeout = command_timeout
        self._processes: list[tuple[str, str]] | None = None

    def processes(self) -> list[tuple[str, str]]:
        """(name, command line) of every process."""
        if self._processes is None:
            self._processes = list(_read_processes(self.proc))
        return self._processes


def _read_processes(proc: str) -> Iterator[tuple[str, str]]:
    try:
        pids = [name for name in os.listdir(proc) if name.isdigit()]
    except OSError:
        return
    for pid in pids:
        try:
            with open(f"{proc}/{pid}/comm", "rb") as handle:
                name = handle.read().decode("utf-8", "replace").strip()
            with open(f"{proc}/{pid}/cmdline", "rb") as handle:
                argv = handle.read().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        line = " ".join(a for a in argv if a)
        yield name, line


def evaluate(policy: Policy, context: Context) -> Iterator[Finding]:
    """Findings of one policy, OSSEC's way: a failing ``required`` check ends the file."""
    for check in policy.checks:
        if any(entry.kind == "r" for entry in check.entries) or not check.entries:
            continue  # registry checks never run here
        results = [_entry_result(entry, context) for entry in check.entries]
        hits = [r for r in results if r[0]]
        if check.condition == "all":
            fired = len(hits) == len(results)
        elif check.condition == "any":
            fired = bool(hits)
        else:
            fired = not hits
        if check.required:
            if not fired:
                return
            continue
        if fired:
            file, evidence = (hits[0][1], hits[0][2]) if hits else (None, None)
            yield Finding(policy, check, file, evidence)


def _entry_result(entry: Entry, context: Context) -> tuple[bool, str | None, str | None]:
    if entry.kind == "f":
        found, where, evidence = _files(entry)
    elif entry.kind == "d":
        found, where, evidence = _directories(entry)
    elif entry.kind == "p":
        found, where, evidence = _process(entry, context)
    else:
        found, where, evidence = _command(entry, context)
    if entry.negated:
        # '!' turns the entry around: it holds when no target has what it looks for.
        return (not found, None if found else (entry.targets[0] if entry.targets else None),
                None)
    return found, where, evidence


def _files(entry: Entry) -> tuple[bool, str | None, str | None]:
    for target in entry.targets:
        if entry.content is None:
            if os.path.lexists(target):
                return True, target, None
            continue
        found, line = _file_content(target, entry.content)
        if found:
            return True, target, line
    return False, None, None


def _file_content(path: str, content: list[patterns.Condition]) -> tuple[bool, str | None]:
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            if not os.path.isfile(path):
                return False, None
            return patterns.lines_match(content, handle)
    except OSError:
        return False, None


def _directories(entry: Entry) -> tuple[bool, str | None, str | None]:
    for top in entry.targets:
        if not os.path.isdir(top):
            continue
        base_depth = top.rstrip("/").count("/")
        for directory, subdirs, files in os.walk(top):
            if directory.count("/") - base_depth >= MAX_DEPTH:
                subdirs[:] = []
            for name in files:
                if entry.name_regex is not None and not entry.name_regex.search(name):
                    continue
                path = os.path.join(directory, name)
                if entry.content is None:
                    return True, path, None
                found, line = _file_content(path, entry.content)
                if found:
                    return True, path, line
    return False, None, None


def _process(entry: Entry, context: Context) -> tuple[bool, str | None, str | None]:
    target = entry.targets[0]
    if target.lower().startswith("r:"):
        regex = patterns.compile_regex(target[2:])
        for name, line in context.processes():
            if regex.search(line) or regex.search(name):
                return True, None, line
        return False, None, None
    for name, line in context.processes():
        argv0 = os.path.basename(line.split(" ", 1)[0]) if line else ""
        if target in (name, argv0):
            return True, None, line
    return False, None, None


def _command(entry: Entry, context: Context) -> tuple[bool, str | None, str | None]:
    try:
        argv = shlex.split(entry.targets[0])
        result = subprocess.run(argv, capture_output=True, timeout=context.command_timeout,
                                stdin=subprocess.DEVNULL)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return False, None, None
    output = result.stdout.decode("utf-8", "replace").splitlines()
    if entry.content is None:
        return result.returncode == 0, None, None
    found, line = patterns.lines_match(entry.content, output)
    return found, None, line
