"""Every table a hidsctl config may hold, and how to check it.

Each command keeps its own settings dataclass next to its core; this registry names them,
so `hidsctl config check` validates a whole file with the very code each command runs.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hidsctl import config
from hidsctl.errors import ConfigError, SourceLocation


@dataclass
class AlertsSettings:
    """The ``[alerts]`` table of a supervised topology."""

    json: Path | None = None  # a flat alerts.json every alert is appended to
    log: Path | None = None  # a flat alerts.log in OSSEC's text layout
    dir: Path | None = None  # the dated alert tree (logs write --dir)


@dataclass(frozen=True)
class Section:
    settings: str  # "module:Class" of the settings dataclass
    check: Callable[[Any, Path | None], None] | None = None


def _check_collect(settings: Any, path: Path | None) -> None:
    from hidsctl.collect import settings as collect_settings

    collect_settings.sources(settings, path)


def _check_scan(settings: Any, path: Path | None) -> None:
    from hidsctl.scan import settings as scan_settings

    scan_settings.build_directories(settings.directories, settings, path)
    if getattr(settings, "rootcheck", None) is not None:
        scan_settings.build_rootcheck(settings.rootcheck, path)


def _check_respond(settings: Any, path: Path | None) -> None:
    from hidsctl.respond import settings as respond_settings

    respond_settings.build(settings, path)


def _check_agentless(settings: Any, path: Path | None) -> None:
    from hidsctl.agentless import settings as agentless_settings

    agentless_settings.parse_hosts(settings, path)


def _check_ruleset(settings: Any, path: Path | None) -> None:
    """Load the ruleset a table names, as the command would: a config that passes the
    check must not stop `analyze` at its first line."""
    from hidsctl.analysis.run import load_ruleset

    key = (settings.ossec_conf, tuple(settings.rules), tuple(settings.decoders),
           settings.no_default_rules)
    if key not in _LOADED_RULESETS:  # [analyze], [logtest], [rules] often name the same one
        load_ruleset(settings)
        _LOADED_RULESETS.add(key)


_LOADED_RULESETS: set[tuple] = set()  # within one check()


SECTIONS: dict[str, Section] = {
    "collect": Section("hidsctl.collect.settings:CollectSettings", _check_collect),
    "scan": Section("hidsctl.scan.settings:ScanSettings", _check_scan),
    "analyze": Section("hidsctl.analysis.run:AnalyzeSettings", _check_ruleset),
    "logtest": Section("hidsctl.analysis.run_logtest:LogtestSettings", _check_ruleset),
    "rules": Section("hidsctl.analysis.run_rules:RulesSettings", _check_ruleset),
    "respond": Section("hidsctl.respond.settings:RespondOptions", _check_respond),
    "send": Section("hidsctl.transport.agent:SendSettings"),
    "receive": Section("hidsctl.transport.server:ReceiveSettings"),
    "agentless": Section("hidsctl.agentless.settings:AgentlessSettings", _check_agentless),
    "logs": Section("hidsctl.commands.logs:LogsSettings"),
    "mail": Section("hidsctl.outputs.mail:MailSettings"),
    "forward": Section("hidsctl.outputs.forward:ForwardSettings"),
    "supervise": Section("hidsctl.supervise.topology:SuperviseSettings"),
    "alerts": Section("hidsctl.configtool.sections:AlertsSettings"),
}


def settings_class(section: str) -> type | None:
    """The settings dataclass of a table; None when that command is not installed."""
    module_name, _, class_name = SECTIONS[section].settings.partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        return None


def check(cfg: dict[str, Any], path: Path | None) -> dict[str, Any]:
    """Validate every table; returns the effective settings per table. Raises ConfigError."""
    where = str(path or "config")
    effective: dict[str, Any] = {}
    _LOADED_RULESETS.clear()
    for name, value in cfg.items():
        if name not in SECTIONS:
            raise ConfigError(f"unknown table [{name}]; known: {', '.join(sorted(SECTIONS))}",
                              SourceLocation(where))
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table", SourceLocation(where))
    for name, section in SECTIONS.items():
        cls = settings_class(name)
        if cls is None:
            continue
        settings: Any = config.build(cls, {}, cfg, name, path)
        if section.check is not None and name in cfg:
            section.check(settings, path)
        effective[name] = settings
    return effective


def as_plain(settings: Any) -> dict[str, Any]:
    """A settings dataclass as TOML-ready values: dashes in keys, no None, paths as text."""
    out: dict[str, Any] = {}
    for item in dataclasses.fields(settings):
        value = _plain(getattr(settings, item.name))
        if value is not None:
            out[item.name.replace("_", "-")] = value
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value if v is not None]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if dataclasses.is_dataclass(value):
        return as_plain(value)
    return value


__all__ = ["AlertsSettings", "SECTIONS", "check", "as_plain", "settings_class", "field"]
