"""``hidsctl rules test|check|list``: the ruleset tools for rule authors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from hidsctl.analysis.run import RulesetSettings, load_ruleset, ruleset_sources
from hidsctl.errors import HidsError, SourceLocation, UsageError

if TYPE_CHECKING:
    from hidsctl.analysis.patterns import Pattern
    from hidsctl.analysis.ruleset import Ruleset
    from hidsctl.analysis.ruletests import CaseResult


@dataclass
class RulesSettings(RulesetSettings):
    pass


def _ini_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(path.glob("*.ini")))
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"{path}: no such test file or directory")
    if not found:
        raise UsageError("no .ini test files given")
    return found


def run_test(settings: RulesSettings, files: list[Path], *, as_json: bool = False) -> int:
    from hidsctl.analysis.ruletests import read_cases, run_cases

    ruleset = load_ruleset(settings)
    cases = []
    for path in _ini_files(files):
        cases.extend(read_cases(path))
    summary = run_cases(ruleset, cases, crawler_dns=settings.crawler_dns)
    failed = summary.failed
    if as_json:
        doc = {"total": len(summary.results), "passed": summary.passed,
               "failed": len(failed), "cases": [r.as_dict() for r in summary.results]}
        sys.stdout.write(orjson.dumps(doc).decode() + "\n")
    else:
        if sys.stdout.isatty() and failed:
            _failure_table(failed)
        else:
            for result in failed:
                c = result.case
                want = "not " if c.negate else ""
                print(f"FAIL {c.key}: expected {want}rule {c.rule} level {c.alert} decoder "
                      f"{c.decoder}; got rule {result.got_rule} level {result.got_level} "
                      f"decoder {result.got_decoder}")
                print(f"     {c.log}")
        print(f"{summary.passed} of {len(summary.results)} cases passed, {len(failed)} failed")
    return 1 if failed else 0


def _failure_table(failed: list[CaseResult]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Failed cases")
    for col in ("file", "section", "line", "expected", "got"):
        table.add_column(col, overflow="fold")
    for result in failed:
        c = result.case
        table.add_row(Path(c.file).name, c.section, c.name,
                      f"{'not ' if c.negate else ''}{c.rule}/{c.alert}/{c.decoder}",
                      f"{result.got_rule}/{result.got_level}/{result.got_decoder}")
    Console().print(table)


def run_check(settings: RulesSettings, *, as_json: bool = False) -> int:
    from hidsctl.analysis import ruleset

    sources = ruleset_sources(settings)
    errors: list[HidsError] = []
    loaded = ruleset.load(sources, errors=errors)
    loaded.warnings.extend(slow_pattern_warnings(loaded))
    if as_json:
        doc = {"decoders": loaded.decoders.count, "rules": len(loaded.tree.by_id),
               "errors": [str(e) for e in errors], "warnings": loaded.warnings}
        sys.stdout.write(orjson.dumps(doc).decode() + "\n")
    else:
        for error in errors:
            print(f"error: {error}")
        for warning in loaded.warnings:
            print(f"warning: {warning}")
        status = "OK" if not errors else f"{len(errors)} error(s)"
        print(f"{len(sources.decoder_files)} decoder files ({loaded.decoders.count} decoders), "
              f"{len(sources.rule_files)} rule files ({len(loaded.tree.by_id)} rules): {status}")
    return 1 if errors else 0


def slow_pattern_warnings(loaded: Ruleset) -> list[str]:
    """One line per pattern with a shape that backtracks slowly (shapes.py): every
    exponential one, and a quadratic one where RE2 cannot take it (analysis then runs it on
    a backtracking engine, bounded only by the event budget)."""
    from hidsctl.analysis.budget import describe

    found = []
    for where, owner, tag, pattern in _patterns(loaded):
        for shape in pattern.shapes:
            if not shape.exponential and pattern.engine == "re2":
                continue
            engine = "analysis runs it on RE2" if pattern.engine == "re2" else \
                "RE2 cannot run it, so only the event budget bounds it"
            found.append(f"{where.path}:{where.line}: {owner} <{tag}> {describe(pattern)}: "
                         f"{shape.detail}; {engine}")
    return found


def _patterns(loaded: Ruleset) -> Iterator[tuple[SourceLocation, str, str, Pattern]]:
    """(where, "rule N" or "decoder 'x'", tag, pattern) for every pattern of the ruleset."""
    seen: set[int] = set()
    for node in loaded.decoders.with_program + loaded.decoders.without_program:
        for dec in [node.decoder, *node.children]:
            if id(dec) in seen:
                continue
            seen.add(id(dec))
            for tag in ("program_name", "prematch", "regex"):
                pattern = getattr(dec, tag)
                if pattern is not None:
                    yield dec.where, f"decoder {dec.name!r}", tag, pattern
    for rule in sorted(loaded.tree.rules(), key=lambda r: (r.where.path, r.where.line or 0)):
        for key, pattern in rule.patterns.items():
            yield rule.where, f"rule {rule.id}", key, pattern
        for name, pattern in rule.field_patterns:
            yield rule.where, f"rule {rule.id}", f"field {name}", pattern


def run_list(settings: RulesSettings, *, group: str | None = None, min_level: int = 0,
             as_json: bool = False) -> int:
    loaded = load_ruleset(settings)
    rules = sorted(loaded.tree.rules(), key=lambda r: r.id)
    rows: list[dict[str, Any]] = []
    for rule in rules:
        groups = [g.strip() for g in rule.groups_text.split(",") if g.strip()]
        if group is not None and group not in groups:
            continue
        if rule.level < min_level:
            continue
        parents: list[int] | list[str] = rule.if_sid or ([rule.if_group] if rule.if_group else [])
        rows.append({"id": str(rule.id), "level": rule.level, "description": rule.description,
                     "groups": groups, "decoded_as": rule.decoded_as,
                     "if": [str(p) for p in parents],
                     "source": f"{rule.where.path}:{rule.where.line}"})
    if as_json:
        for row in rows:
            sys.stdout.write(orjson.dumps(row).decode() + "\n")
        return 0
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table()
        for col in ("id", "level", "groups", "description", "source"):
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(row["id"], str(row["level"]), ",".join(row["groups"]),
                          row["description"], row["source"])
        Console().print(table)
    else:
        for row in rows:
            print(f"{row['id']}\t{row['level']}\t{','.join(row['groups'])}\t"
                  f"{row['description']}\t{row['source']}")
    return 0
