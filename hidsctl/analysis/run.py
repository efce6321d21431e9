"""``hidsctl analyze``: records in, alerts out.

``log``, ``syscheck``, ``rootcheck``, ``agent_status``, ``ar_result`` and ``notice``
records become events (docs/rules.md says how); every other record passes through
unchanged and in order. Alerts at or above ``min_level`` go to stdout and, when asked, are
appended to an alerts.json file and an alerts.log file in OSSEC's text layout.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from hidsctl.errors import HidsError, UsageError

HANDLED = frozenset({"log", "syscheck", "rootcheck", "agent_status", "ar_result", "notice"})


@dataclass
class RulesetSettings:
    ossec_conf: Path | None = None
    rules: list[Path] = field(default_factory=list)
    decoders: list[Path] = field(default_factory=list)
    crawler_dns: bool = False


@dataclass
class AnalyzeSettings(RulesetSettings):
    min_level: int = 1
    alerts_json: Path | None = None
    alerts_log: Path | None = None
    manager: str | None = None


def load_ruleset(settings: RulesetSettings):
    from hidsctl.analysis import ruleset

    sources = ruleset.gather_sources(settings.ossec_conf, settings.rules, settings.decoders)
    if not sources.rule_files:
        raise UsageError("no rule files to load (give --rules, --ossec-conf, or install the "
                         "bundled ruleset)")
    loaded = ruleset.load(sources)
    for warning in loaded.warnings:
        print(f"hidsctl: warning: {warning}", file=sys.stderr)
    return loaded


class AlertFiles:
    """The optional alerts.json and alerts.log outputs, appended to."""

    def __init__(self, json_path: Path | None, log_path: Path | None):
        self.json = self.log = None
        try:
            if json_path is not None:
                self.json = open(json_path, "ab")
            if log_path is not None:
                self.log = open(log_path, "a", encoding="utf-8")
        except OSError as exc:
            raise HidsError(f"cannot open alert file {exc.filename}: {exc.strerror}") from None
        if self.log is not None:
            from hidsctl.alerttext import format_alert
            self.format = format_alert

    def write(self, alert: dict, line: bytes) -> None:
        if self.json is not None:
            self.json.write(line)
        if self.log is not None:
            self.log.write(self.format(alert))

    def flush(self) -> None:
        for handle in (self.json, self.log):
            if handle is not None:
                handle.flush()

    def close(self) -> None:
        for handle in (self.json, self.log):
            if handle is not None:
                handle.close()


def analyze(settings: AnalyzeSettings, stdin: BinaryIO | None = None,
            stdout: BinaryIO | None = None) -> int:
    from hidsctl.analysis.engine import Engine
    from hidsctl.records import RecordReader, RecordWriter, dumps

    if settings.min_level < 0 or settings.min_level > 16:
        raise UsageError("--min-level must be 0..16")
    engine = Engine(load_ruleset(settings), crawler_dns=settings.crawler_dns,
                    manager=settings.manager)
    writer = RecordWriter(stdout)
    files = AlertFiles(settings.alerts_json, settings.alerts_log)

    def flush() -> None:
        writer.flush()
        files.flush()

    reader = RecordReader(stdin, before_block=flush)
    min_level = max(settings.min_level, 1)
    process = engine.process_record
    write_raw = writer.write_raw
    try:
        for record in reader:
            if record["type"] not in HANDLED:
                writer.write(record)
                continue
            try:
                outcome = process(record)
            except RecursionError:
                _report(reader, "analysis gave up on a pathological pattern; record skipped")
                continue
            alert = outcome.alert if outcome is not None else None
            if alert is not None and alert["rule"]["level"] >= min_level:
                line = dumps(alert)
                write_raw(line[:-1])
                files.write(alert, line)
        flush()
    finally:
        files.close()
    return 0


def _report(reader, message: str) -> None:
    print(f"hidsctl: record {reader.stats.records}: {message}", file=sys.stderr, flush=True)
