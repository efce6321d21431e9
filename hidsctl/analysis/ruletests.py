"""OSSEC-format rule tests (``tests/*.ini``), as OSSEC's runtests.py runs them.

Each section names the expected ``rule``, ``alert`` (level) and ``decoder``; every
``log N pass = LINE`` must produce exactly that and every ``log N fail = LINE`` must not.
Each line is its own case with fresh correlation state, as each was a separate
``ossec-logtest -U`` run. hidsctl adds one optional key, ``time = YYYY-MM-DD HH:MM`` (the
analysing host's local time, so a case means the same in every time zone): the section's
events happen then, for ``<time>`` and ``<weekday>`` rules; without it they happen now. The ini format is read as runtests.py reads it: option names
lowercased, a repeated option keeps its last value, no ``%`` interpolation (so ``%%``
stays two characters), `` ;`` starts a comment.
"""

from __future__ import annotations

import configparser
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hidsctl.analysis.logtest import expectation_met, run_line
from hidsctl.analysis.ruleset import Ruleset
from hidsctl.errors import ConfigError, SourceLocation


@dataclass
class Case:
    file: str
    section: str
    name: str
    log: str
    rule: str
    alert: str
    decoder: str
    negate: bool
    when: float | None = None

    @property
    def key(self) -> str:
        return f"{Path(self.file).name}:[{self.section}]:{self.name}"


@dataclass
class CaseResult:
    case: Case
    passed: bool
    got_rule: str | None
    got_level: int | None
    got_decoder: str | None

    def as_dict(self) -> dict[str, Any]:
        c = self.case
        return {"file": c.file, "section": c.section, "line": c.name, "log": c.log,
                "expect": {"rule": c.rule, "level": c.alert, "decoder": c.decoder,
                           "match": not c.negate},
                "got": {"rule": self.got_rule, "level": self.got_level,
                        "decoder": self.got_decoder},
                "passed": self.passed}


@dataclass
class Summary:
    results: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]


def read_cases(path: Path) -> list[Case]:
    parser = configparser.RawConfigParser(strict=False, inline_comment_prefixes=(";",),
                                          empty_lines_in_values=False)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            parser.read_file(handle, str(path))
    except configparser.Error as exc:
        raise ConfigError(f"not an OSSEC rule test file: {exc}".splitlines()[0],
                          SourceLocation(str(path))) from None
    cases = []
    for section in parser.sections():
        items = dict(parser.items(section))
        missing = [k for k in ("rule", "alert", "decoder") if k not in items]
        if missing:
            raise ConfigError(f"section [{section}] lacks {', '.join(missing)}",
                              SourceLocation(str(path)))
        when = _local_time(items["time"], path, section) if "time" in items else None
        for name, value in items.items():
            if not name.startswith("log "):
                continue
            cases.append(Case(str(path), section, name, value, items["rule"].strip(),
                              items["alert"].strip(), items["decoder"].strip(),
                              name.endswith("fail"), when))
    return cases


def _local_time(text: str, path: Path, section: str) -> float:
    try:
        return time.mktime(time.strptime(text.strip(), "%Y-%m-%d %H:%M"))
    except ValueError:
        raise ConfigError(f"section [{section}]: time {text.strip()!r} is not "
                          "YYYY-MM-DD HH:MM", SourceLocation(str(path))) from None


def run_cases(ruleset: Ruleset, cases: list[Case], **engine_options: Any) -> Summary:
    from hidsctl.analysis.engine import Engine

    summary = Summary()
    engine = Engine(ruleset, **engine_options)
    for case in cases:
        engine.reset()  # each case starts from nothing, as a separate ossec-logtest run
        result = run_line(engine, case.log, location="stdin", when=case.when)
        ok = expectation_met(result, case.rule, case.alert, case.decoder)
        rule = result.rule
        summary.results.append(CaseResult(
            case, ok is not case.negate,
            str(rule.id) if rule is not None else None,
            rule.level if rule is not None else None,
            result.event.decoder.reported or None))
    return summary
