"""What ``hidsctl scan`` does with its settings: one scan, scheduled scans, realtime
watching, rootcheck, and ``--query``."""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from hidsctl import records, state
from hidsctl.config import parse_interval
from hidsctl.diagnostics import logger
from hidsctl.errors import HidsError, UsageError
from hidsctl.scan import baseline as baseline_mod, pathtext
from hidsctl.scan.engine import ScanResult, Scanner
from hidsctl.scan.settings import (DirOptions, RootcheckSettings, ScanSettings, build_directories,
                                   build_rootcheck, normalise)
from hidsctl.scan.walk import Root


@dataclass
class Plan:
    """Everything one invocation was asked to do."""

    settings: ScanSettings
    directories: list[DirOptions]
    rootcheck: RootcheckSettings | None
    state_dir: Path
    run_fim: bool = True
    verbose: bool = False
    missing: list[str] = field(default_factory=list)  # named on the command line, not there


def make_plan(settings: ScanSettings, paths: list[str], rootcheck_flag: bool,
              state_dir_override, config_path) -> Plan:
    rootcheck_settings, rootcheck_always = build_rootcheck(settings.rootcheck, config_path)
    configured = build_directories(settings.directories, settings, config_path,
                                   realtime=settings.realtime)
    if paths:
        by_path = {d.path: d for d in configured}
        plain = build_directories([normalise(p) for p in paths], settings, config_path,
                                  realtime=settings.realtime)
        directories = [by_path.get(d.path, d) for d in plain]
    else:
        directories = configured
    # --rootcheck alone runs only rootcheck; with paths it runs both.
    run_fim = bool(paths) or not rootcheck_flag
    rootcheck = rootcheck_settings if rootcheck_flag or rootcheck_always else None
    if settings.every:
        parse_interval(settings.every)
    if settings.init and not run_fim:
        raise UsageError("--init rebuilds the integrity baseline; it does not go with "
                         "--rootcheck alone")
    # Paths from the command line that are not there (configured ones may come and go).
    missing = [d.path for d in directories if not os.path.lexists(d.path)] if paths else []
    return Plan(settings, directories, rootcheck, state.state_dir(state_dir_override),
                run_fim=run_fim, missing=missing)


class Shutdown:
    """SIGTERM ends a long-running scan between batches: a batch whose records are out is
    always committed to the baseline before the process exits."""

    def __init__(self) -> None:
        self.busy = False
        self.requested = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.busy:
            self.requested = True
        else:
            raise SystemExit(0)

    @contextmanager
    def batch(self) -> Iterator[None]:
        self.busy = True
        try:
            yield
        finally:
            self.busy = False
        if self.requested:
            raise SystemExit(0)


shutdown = Shutdown()


def execute(plan: Plan) -> int:
    """Run the plan. Exit code 1 when a path named on the command line is not there and
    never was (a path the baseline knows is scanned: its files are reported deleted)."""
    long_running = watching(plan) or bool(plan.settings.every)
    if long_running:
        shutdown.install()
    writer = records.RecordWriter(line_buffered=long_running)
    lock = baseline_mod.lock(plan.state_dir) if plan.run_fim else None
    failed = False
    try:
        scanner = _scanner(plan, writer) if plan.run_fim else None
        try:
            if scanner is not None:
                failed = _drop_unknown_missing(plan, scanner)
            _loop(plan, scanner, writer)
        finally:
            if scanner is not None:
                scanner.close()
    finally:
        writer.flush()
        if lock is not None:
            lock.release()
    return 1 if failed else 0


def _drop_unknown_missing(plan: Plan, scanner: Scanner) -> bool:
    unknown = {p for p in plan.missing
               if next(scanner.baseline.under(os.fsencode(p)), None) is None}
    for path in sorted(unknown):
        logger("scan").error(f"{path}: no such file or directory")
    plan.directories = [d for d in plan.directories if d.path not in unknown]
    return bool(unknown)


def _scanner(plan: Plan, writer: records.RecordWriter) -> Scanner:
    settings = plan.settings
    return Scanner(plan.state_dir, skip=frozenset(os.fsencode(normalise(p)) for p in settings.skip),
                   threads=settings.threads, diff_size_limit=settings.diff_size_limit,
                   hash_size_limit=settings.hash_size_limit,
                   emit=writer.write, progress=sys.stderr.isatty())


def _loop(plan: Plan, scanner: Scanner | None, writer: records.RecordWriter) -> None:
    settings = plan.settings
    every = parse_interval(settings.every) if settings.every else None
    if watching(plan) and scanner is not None:
        from hidsctl.scan.realtime import watch

        if plan.rootcheck is not None:
            run_rootcheck(plan.rootcheck, writer)
            writer.flush()
        # scans, then watches
        watch(plan.directories, scanner, writer, every, PlanScans(plan, scanner),
              init=settings.init)
        return
    first = True
    while True:
        started = time.monotonic()
        with shutdown.batch():
            if scanner is not None:
                full_scan(plan, scanner, init=settings.init and first)
                writer.flush()
            if plan.rootcheck is not None:
                run_rootcheck(plan.rootcheck, writer)
                writer.flush()
        first = False
        if every is None:
            return
        time.sleep(max(0.0, every - (time.monotonic() - started)))


def watching(plan: Plan) -> bool:
    """Realtime for every directory (--realtime) or for those configured with it."""
    return plan.run_fim and any(d.realtime for d in plan.directories)


def roots_of(directories: list[DirOptions]) -> list[Root]:
    return [Root.of(d) for d in directories]


def full_scan(plan: Plan, scanner: Scanner, *, init: bool = False) -> ScanResult:
    roots = roots_of(plan.directories)
    prune = frozenset(r.path for r in roots)
    result = scanner.scan(roots, fast=plan.settings.fast, init=init, prune=prune)
    if sys.stderr.isatty() or plan.verbose:
        logger("scan").info(
            f"{result.files} files ({result.hashed} hashed, {result.bytes / 1e6:.1f} MB) in "
            f"{result.seconds:.1f}s: {result.added} added, {result.modified} modified, "
            f"{result.deleted} deleted"
            + (f", {result.special} special files skipped" if result.special else "")
            + (f", {result.errors} errors" if result.errors else ""))
    return result


class PlanScans:
    """The plan's full scan and the SIGTERM guard, as realtime watching uses them."""

    def __init__(self, plan: Plan, scanner: Scanner):
        self.plan = plan
        self.scanner = scanner

    def full(self, init: bool = False) -> ScanResult:
        return full_scan(self.plan, self.scanner, init=init)

    def batch(self) -> AbstractContextManager[None]:
        return shutdown.batch()


def run_rootcheck(settings: RootcheckSettings, writer: records.RecordWriter) -> None:
    from hidsctl.scan.rootcheck import run_checks

    for record in run_checks(settings):
        writer.write(record)


# --- --query ---------------------------------------------------------------------------------

def query(state_dir: Path, path: str) -> list[dict[str, Any]]:
    """What the baseline holds for ``path`` (a file, or every file under a directory)."""
    from hidsctl.scan import attributes

    if not baseline_mod.exists(state_dir):
        raise HidsError(f"no integrity baseline in {state_dir}; run 'hidsctl scan' first")
    base = baseline_mod.Baseline(state_dir)
    try:
        raw = os.fsencode(normalise(os.fsdecode(pathtext.parse(path))))  # as records show it
        found = []
        for file, row in base.under(raw):
            shown = {"path": pathtext.show(file)}
            shown.update(attributes.public(attributes.entry_of(row)))
            found.append(shown)
    finally:
        base.close()
    if not found:
        raise HidsError(f"{path} is not in the integrity baseline")
    return found
