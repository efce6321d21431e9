"""The ``hidsctl logtest`` loop: stdin lines (or a prompt) through one engine."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from hidsctl.analysis.run import RulesetSettings, load_ruleset

if TYPE_CHECKING:
    from hidsctl.analysis.engine import Outcome


@dataclass
class LogtestSettings(RulesetSettings):
    event_budget: float = 50.0  # milliseconds of CPU time to decode and match one line


def _lines(interactive: bool) -> Iterator[str]:
    if interactive:
        # the prompt of an interactive session: output for a person, not a diagnostic
        print("hidsctl logtest: Type one log per line (Ctrl-D to end).\n", file=sys.stderr)
        while True:
            try:
                yield input()
            except EOFError:
                return
    else:
        for raw in sys.stdin.buffer:
            yield raw.decode("utf-8", "replace").rstrip("\r\n")


def run(settings: LogtestSettings, *, expect: str | None = None, as_json: bool = False,
        quiet: bool = False, location: str = "stdin") -> int:
    from hidsctl.analysis.budget import Guard, OverBudget, culprit
    from hidsctl.analysis.engine import Engine
    from hidsctl.analysis.logtest import expectation_met, parse_expectation, run_line
    from hidsctl.errors import UsageError

    wanted = parse_expectation(expect) if expect else None
    if not settings.event_budget > 0:
        raise UsageError("--event-budget must be a positive number of milliseconds")
    engine = Engine(load_ruleset(settings), crawler_dns=settings.crawler_dns)
    interactive = sys.stdin.isatty() and not quiet
    all_met = True
    seen = 0
    with Guard(settings.event_budget) as guard:
        for line in _lines(interactive):
            if len(line) < 2:  # ossec-logtest skips blank lines
                continue
            seen += 1
            guard.event = seen
            try:
                outcome = run_line(engine, line, location)
                guard.event = 0
            except OverBudget as over:
                guard.event = 0
                all_met = all_met and wanted is None
                if not quiet:
                    _show_over_budget(line, location, culprit(over, engine),
                                      settings.event_budget, as_json)
                continue
            met = wanted is None or expectation_met(outcome, *wanted)
            all_met = all_met and met
            if not quiet:
                _show(outcome, met if wanted is not None else None, as_json)
    if wanted is None:
        return 0
    return 0 if all_met and seen else 1


def _show(outcome: Outcome, met: bool | None, as_json: bool) -> None:
    from hidsctl.analysis.logtest import as_json as outcome_json, as_text

    if as_json:
        data = outcome_json(outcome)
        if met is not None:
            data["expected"] = met
        sys.stdout.write(orjson.dumps(data).decode() + "\n")
    else:
        sys.stdout.write(as_text(outcome) + "\n")
    sys.stdout.flush()


def _show_over_budget(line: str, location: str, what: str, budget: float,
                      as_json: bool) -> None:
    """A line given up at the budget, with the notice ``analyze`` would emit for it."""
    from hidsctl.analysis.budget import notice

    record = notice(None, what, budget, location=location)
    if as_json:
        sys.stdout.write(orjson.dumps({"full_log": line, "decoder": None, "data": {},
                                       "rule": None, "alert": False,
                                       "notice": record}).decode() + "\n")
    else:
        sys.stdout.write(f"**Analysis stopped: {record['message']}.\n"
                         f"       full event: '{line}'\n\n")
    sys.stdout.flush()
