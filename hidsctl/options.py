"""Options that more than one command takes, defined here and only here so a flag means
the same everywhere (those of the output stages as groups, see option_groups), and the
wrapper that turns hidsctl's errors into one stderr line and an exit code. An option only
one command takes stays in that command's module."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Optional, get_type_hints

import typer

from hidsctl.diagnostics import logger
from hidsctl.errors import HidsError

StateDirOption = Annotated[
    Optional[Path],
    typer.Option("--state-dir", help="State directory [default: $HIDSCTL_STATE_DIR, else "
                 "/var/lib/hidsctl as root, else $XDG_STATE_HOME/hidsctl].", show_default=False),
]
ConfigOption = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", help="TOML config file; the command reads its own table.",
                 show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

# --- the ruleset: analyze, logtest and rules ----------------------------------------------

OssecConfOption = Annotated[
    Optional[Path],
    typer.Option("--ossec-conf", help="Load the rules and decoders an ossec.conf's <rules> "
                 "section names, in its order, from its install (<root>/etc/ossec.conf: "
                 "rules in <root>/rules, decoders in <root>/etc).", show_default=False,
                 dir_okay=False),
]
RulesOption = Annotated[
    Optional[list[Path]],
    typer.Option("--rules", help="Rule file, or directory of *.xml rule files in name order, "
                 "loaded after the base ruleset as a local_rules.xml is (repeatable).",
                 show_default=False),
]
DecodersOption = Annotated[
    Optional[list[Path]],
    typer.Option("--decoders", help="Decoder file or directory, loaded after the base "
                 "decoders (repeatable).", show_default=False),
]
NoDefaultRulesOption = Annotated[
    bool,
    typer.Option("--no-default-rules", help="No base ruleset: only what --rules and "
                 "--decoders name."),
]
CrawlerDnsOption = Annotated[
    bool,
    typer.Option("--crawler-dns", help="Confirm is_valid_crawler by reverse DNS (cached, "
                 "time-limited). Off: address blocks only."),
]
EventBudgetOption = Annotated[
    Optional[float],
    typer.Option("--event-budget", metavar="MS", help="CPU milliseconds one event may take in "
                 "decoding and rule matching; past them it is reported in a notice and "
                 "skipped [default: 50].", show_default=False),
]


def ruleset_values(ossec_conf, rules, decoders, crawler_dns, no_default_rules=False) -> dict:
    """Command-line values as config.build expects them (None = not given)."""
    return {"ossec_conf": ossec_conf, "rules": list(rules or []), "decoders": list(decoders or []),
            "crawler_dns": True if crawler_dns else None,
            "no_default_rules": True if no_default_rules else None}


# --- the output stages: mail, forward and respond ------------------------------------------

LevelOption = Annotated[Optional[int], typer.Option(
    "--level", help="Minimum rule level (default: 7 for mail, 0 for forward).", show_default=False)]
RuleIdOption = Annotated[Optional[list[str]], typer.Option(
    "--rule-id", help="Only these rule ids (repeatable).", show_default=False)]
RuleGroupOption = Annotated[Optional[list[str]], typer.Option(
    "--group", help="Only alerts in one of these rule groups (repeatable).", show_default=False)]
LingerOption = Annotated[Optional[float], typer.Option(
    "--linger", help="At end of input, seconds to keep retrying a server that is down "
    "(default: 10).", show_default=False)]
# Outputs reading alerts from a NATS JetStream stream instead of stdin: mail, forward, respond.
FromOption = Annotated[Optional[str], typer.Option(
    "--from", help="Read alerts from a NATS JetStream stream, nats://HOST:PORT[,HOST:PORT]"
    "/STREAM, instead of stdin (docs/scale-out.md).", show_default=False)]
BusGroupOption = Annotated[Optional[str], typer.Option(
    "--bus-group", help="With --from: the durable consumer's name; members of one group "
    "share the alerts.", show_default=False)]


# An output stage takes these groups as one parameter each (``alerts: AlertFilter =
# ALL_ALERTS``, ``stage: StageOptions = STAGE_DEFAULTS``); option_groups() spreads each into
# its options on the command line, so every stage spells and documents them alike.
@dataclass(frozen=True)
class AlertFilter:
    """Which alerts the stage acts on: --level, --rule-id, --group."""

    level: LevelOption = None
    rule_id: RuleIdOption = None
    group: RuleGroupOption = None


@dataclass(frozen=True)
class StageOptions:
    """Where the stage reads alerts (stdin or --from a bus stream) and keeps its state."""

    source: FromOption = None
    bus_group: BusGroupOption = None
    state_dir: StateDirOption = None
    config: ConfigOption = None


ALL_ALERTS = AlertFilter()
STAGE_DEFAULTS = StageOptions()
_GROUPS: tuple[type, ...] = (AlertFilter, StageOptions)


def option_groups(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` as typer is to see it: each AlertFilter or StageOptions parameter replaced,
    in place, by the group's options; called, it gathers them back into the group."""
    hints = get_type_hints(command, include_extras=True)
    spread: dict[str, type] = {}
    params: list[inspect.Parameter] = []
    for param in inspect.signature(command).parameters.values():
        group = hints[param.name]
        if group not in _GROUPS:
            params.append(param.replace(annotation=group))
            continue
        spread[param.name] = group
        fields = get_type_hints(group, include_extras=True)
        params += [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                     default=None, annotation=hint)
                   for name, hint in fields.items()]

    @functools.wraps(command)
    def typer_command(**values: Any) -> Any:
        for name, group in spread.items():
            fields = dataclasses.fields(group)
            values[name] = group(**{field.name: values.pop(field.name) for field in fields})
        return command(**values)

    typer_command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    typer_command.__annotations__ = {param.name: param.annotation for param in params}
    return typer_command


def fail(message: str, code: int = 1) -> typer.Exit:
    """Log ``hidsctl: error: message`` on stderr and return the Exit to raise."""
    logger().error(message)
    return typer.Exit(code)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn HidsError into one stderr line and its exit code; Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HidsError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper


def load_settings(cls: type, section: str, config_path: Path | None, **cli: Any) -> Any:
    """The command's settings: command line over ``[section]`` of the config over defaults."""
    from hidsctl import config

    return config.build(cls, cli, config.load(config_path), section, config_path)
