"""The ``[respond]`` configuration: commands, responses and the allow-list, as typed
objects checked once at start, so a broken config is refused before anything runs."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hidsctl import records, resources
from hidsctl.diagnostics import logger
from hidsctl.errors import ConfigError, SourceLocation
from hidsctl.respond import accounts

EXPECTS = ("srcip", "user")
LOCATIONS = ("local", "server", "defined-agent", "all")
DEFAULT_SCRIPT_TIMEOUT = 60.0

# The bundled scripts are commands out of the box, so an agent carries out an ``ar``
# record for them with no configuration at all.
BUNDLED = {
    "firewall-drop": ("srcip",),
    "host-deny": ("srcip",),
    "route-null": ("srcip",),
    "disable-account": ("user",),
}


@dataclass
class RespondOptions:
    """``[respond]`` keys and the command's options (spelled alike)."""

    command: list[dict] = field(default_factory=list)
    response: list[dict] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    allow_users: list[str] = field(default_factory=lambda: ["root"])
    system_users: list[str] = field(default_factory=list)
    login_defs: Path = accounts.DEFAULT_LOGIN_DEFS
    servers: list[str] = field(default_factory=list)
    repeated_offenders: list[int] = field(default_factory=list)
    scripts_dir: list[Path] = field(default_factory=list)
    script_timeout: float = DEFAULT_SCRIPT_TIMEOUT
    route: Path | None = None
    ossec_conf: Path | None = None
    wait: bool = False
    report_unmatched: bool = False


@dataclass(frozen=True)
class Command:
    name: str
    executable: str       # as configured
    path: Path            # where it was found
    expect: tuple[str, ...]
    timeout_allowed: bool = True


@dataclass(frozen=True)
class Response:
    command: str
    location: str = "local"
    agent_id: str | None = None
    level: int | None = None
    rules_id: frozenset[str] = frozenset()
    rules_group: frozenset[str] = frozenset()
    timeout: int = 0
    repeated_offenders: tuple[int, ...] = ()

    def matches(self, rule: dict) -> bool:
        """OSSEC's test: the rule's level reaches ``level``, or its id is listed, or one of
        its groups is listed. Rule ids compare as strings."""
        level = rule.get("level")
        if self.level is not None and isinstance(level, int) and level >= self.level:
            return True
        if self.rules_id and str(rule.get("id", "")) in self.rules_id:
            return True
        groups = rule.get("groups")
        if self.rules_group and isinstance(groups, list):
            return any(isinstance(g, str) and g in self.rules_group for g in groups)
        return False


@dataclass(frozen=True)
class RespondSettings:
    commands: dict[str, Command]
    responses: tuple[Response, ...]
    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    allow_users: frozenset[str]
    system_users: frozenset[str]  # accounts below uid_min that may still be acted on
    uid_min: int
    servers: tuple[str, ...]
    repeated_offenders: tuple[int, ...]
    script_timeout: float
    route: Path | None
    wait: bool
    report_unmatched: bool


def build(options: RespondOptions, source: str | os.PathLike | None = None) -> RespondSettings:
    """Check and type the options; ConfigError (exit 2) names the entry and key."""
    where = str(source or "config")
    allow = list(options.allow)
    offenders = list(options.repeated_offenders)
    imported: dict = {}
    if options.ossec_conf is not None:
        from hidsctl.respond import ossec

        imported = ossec.import_respond(options.ossec_conf)
        allow += imported.get("allow", [])
        offenders = offenders or imported.get("repeated_offenders", [])
    search = [Path(p) for p in options.scripts_dir] + [resources.scripts_dir()]
    commands = {name: Command(name, name, resources.scripts_dir() / name, expect)
                for name, expect in BUNDLED.items() if (resources.scripts_dir() / name).is_file()}
    for number, table in enumerate(imported.get("command", []), start=1):
        try:
            command = _command(table, search, SourceLocation(str(options.ossec_conf), detail=f"<command> #{number}"))
        except ConfigError as exc:  # OSSEC's stock config names scripts hidsctl has no use for
            logger("respond").warning(f"{exc}; command left out")
            continue
        commands[command.name] = command
    for number, table in enumerate(options.command, start=1):
        command = _command(table, search, SourceLocation(where, detail=f"[[respond.command]] #{number}"))
        commands[command.name] = command
    response_tables = [(table, SourceLocation(str(options.ossec_conf), detail=f"<active-response> #{n}"))
                       for n, table in enumerate(imported.get("response", []), start=1)]
    response_tables += [(table, SourceLocation(where, detail=f"[[respond.response]] #{n}"))
                        for n, table in enumerate(options.response, start=1)]
    responses = tuple(_response(table, commands, at) for table, at in response_tables)
    if options.script_timeout <= 0:
        raise ConfigError("must be more than 0", SourceLocation(where, detail="[respond] script-timeout"))
    return RespondSettings(
        commands=commands,
        responses=tuple(r for r in responses if r is not None),
        allow=tuple(_networks(allow, SourceLocation(where, detail="[respond] allow"))),
        allow_users=frozenset(options.allow_users),
        system_users=frozenset(options.system_users),
        uid_min=accounts.uid_min(Path(options.login_defs)),
        servers=tuple(options.servers),
        repeated_offenders=_offenders(offenders,
                                      SourceLocation(where, detail="[respond] repeated-offenders")),
        script_timeout=float(options.script_timeout),
        route=options.route,
        wait=options.wait,
        report_unmatched=options.report_unmatched,
    )


def _keys(table: Any, allowed: set[str], where: SourceLocation) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError("must be a table", where)
    values = {key.replace("-", "_"): value for key, value in table.items()}
    for key in values:
        if key not in allowed:
            raise ConfigError(f"unknown key {key!r}", where)
    return values


def _at(where: SourceLocation, key: str) -> SourceLocation:
    return SourceLocation(where.path, where.line, f"{where.detail} {key}")


def _string(values: dict, key: str, where: SourceLocation, default: str | None = None) -> str:
    value = values.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError("required, a non-empty string" if value is None else "must be a non-empty string",
                          _at(where, key))
    return value


def _command(table: Any, search: list[Path], where: SourceLocation) -> Command:
    values = _keys(table, {"name", "executable", "expect", "timeout_allowed"}, where)
    name = _string(values, "name", where)
    executable = _string(values, "executable", where, default=name)
    expect = values.get("expect", [])
    if isinstance(expect, str):  # OSSEC writes "srcip" or "srcip,user"
        expect = [part.strip() for part in expect.split(",") if part.strip()]
    if not isinstance(expect, list) or any(e not in EXPECTS for e in expect):
        raise ConfigError(f"must be a list of {', '.join(map(repr, EXPECTS))}", _at(where, "expect"))
    timeout_allowed = values.get("timeout_allowed", True)
    if not isinstance(timeout_allowed, bool):
        raise ConfigError("must be true or false", _at(where, "timeout-allowed"))
    return Command(name, executable, find_executable(executable, search, _at(where, "executable")),
                   tuple(expect), timeout_allowed)


def find_executable(executable: str, search: list[Path], where: SourceLocation) -> Path:
    """A path as given, or a bare name looked up in the script directories (configured
    ones first, then the bundled scripts)."""
    if "/" in executable:
        path = Path(executable).expanduser().absolute()
        if not path.is_file():
            raise ConfigError(f"{executable} not found", where)
        return path
    for directory in search:
        if (directory / executable).is_file():
            return (directory / executable).absolute()
    raise ConfigError(f"{executable!r} not found in {', '.join(map(str, search))}", where)


def _response(table: Any, commands: dict[str, Command], where: SourceLocation) -> Response | None:
    values = _keys(table, {"command", "location", "agent_id", "level", "rules_id", "rules_group",
                           "timeout", "repeated_offenders", "disabled"}, where)
    name = _string(values, "command", where)
    if name not in commands:
        raise ConfigError(f"no command named {name!r}", _at(where, "command"))
    disabled = values.get("disabled", False)
    if not isinstance(disabled, bool):
        raise ConfigError("must be true or false", _at(where, "disabled"))
    location = values.get("location", "local")
    if location not in LOCATIONS:
        raise ConfigError(f"must be one of {', '.join(LOCATIONS)}", _at(where, "location"))
    agent = values.get("agent_id")
    if location == "defined-agent":
        try:
            agent = records.agent_id(agent if agent is not None else "")
        except ValueError:
            raise ConfigError("defined-agent needs agent-id, the agent's number", _at(where, "agent-id")) from None
    elif agent is not None:
        raise ConfigError("only for location = \"defined-agent\"", _at(where, "agent-id"))
    level = values.get("level")
    if level is not None and (not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 16):
        raise ConfigError("must be an integer from 0 to 16", _at(where, "level"))
    rules_id = _string_list(values.get("rules_id", []), _at(where, "rules-id"), ids=True)
    rules_group = _string_list(values.get("rules_group", []), _at(where, "rules-group"))
    if level is None and not rules_id and not rules_group:
        raise ConfigError("needs level, rules-id or rules-group, or it never fires", where)
    timeout = values.get("timeout", 0)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 0:
        raise ConfigError("must be a whole number of seconds, 0 for never", _at(where, "timeout"))
    if timeout and not commands[name].timeout_allowed:
        raise ConfigError(f"command {name!r} has timeout-allowed = false", _at(where, "timeout"))
    if disabled:
        return None
    return Response(
        command=name, location=location, agent_id=agent, level=level,
        rules_id=frozenset(rules_id), rules_group=frozenset(rules_group), timeout=timeout,
        repeated_offenders=_offenders(values.get("repeated_offenders", []), _at(where, "repeated-offenders")),
    )


def _string_list(value: Any, where: SourceLocation, ids: bool = False) -> list[str]:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError("must be a list", where)
    out = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool) and ids:
            item = str(item)  # rule ids compare as strings
        if not isinstance(item, str):
            raise ConfigError("must be a list of strings", where)
        out += [part.strip() for part in item.replace("|", ",").split(",") if part.strip()]
    return out


def _offenders(value: Any, where: SourceLocation) -> tuple[int, ...]:
    if isinstance(value, str):  # OSSEC writes "30,60,120"
        try:
            value = [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise ConfigError("must be a list of minutes", where) from None
    if not isinstance(value, list) or any(
            not isinstance(v, int) or isinstance(v, bool) or v <= 0 for v in value):
        raise ConfigError("must be a list of positive minutes", where)
    return tuple(value)


def _networks(values: list[str], where: SourceLocation) -> list:
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except (ValueError, AttributeError):
            raise ConfigError(f"{value!r} is not an address or CIDR network", where) from None
    return out
