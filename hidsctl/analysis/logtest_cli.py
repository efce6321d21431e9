"""The ``hidsctl logtest`` loop: stdin lines (or a prompt) through one engine."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import orjson

from hidsctl.analysis.run import RulesetSettings, load_ruleset


@dataclass
class LogtestSettings(RulesetSettings):
    pass


def _lines(interactive: bool):
    if interactive:
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
    from hidsctl.analysis.engine import Engine
    from hidsctl.analysis.logtest import (as_json as outcome_json, as_text, expectation_met,
                                          parse_expectation, run_line)

    wanted = parse_expectation(expect) if expect else None
    engine = Engine(load_ruleset(settings), crawler_dns=settings.crawler_dns)
    interactive = sys.stdin.isatty() and not quiet
    out = sys.stdout
    all_met = True
    seen = 0
    for line in _lines(interactive):
        if len(line) < 2:  # ossec-logtest skips blank lines
            continue
        seen += 1
        outcome = run_line(engine, line, location)
        met = wanted is None or expectation_met(outcome, *wanted)
        all_met = all_met and met
        if quiet:
            continue
        if as_json:
            data = outcome_json(outcome)
            if wanted is not None:
                data["expected"] = met
            out.write(orjson.dumps(data).decode() + "\n")
        else:
            out.write(as_text(outcome) + "\n")
        out.flush()
    if wanted is None:
        return 0
    return 0 if all_met and seen else 1
