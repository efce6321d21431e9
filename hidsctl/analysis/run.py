"""``hidsctl analyze``: records in, alerts out.

``log``, ``syscheck``, ``rootcheck``, ``agent_status``, ``ar_result`` and ``notice``
records become events (docs/rules.md says how); every other record passes through
unchanged and in order, unless it came from an agent or a syslog device (it has an
``origin``, hidsctl/origin.py): an ``alert`` or ``ar`` made elsewhere must not reach the
outputs or ``respond`` as if this server had made it, so it is dropped and counted in a
``notice``. Alerts carry no ``origin``: they are this server's own. Alerts at or above
``min_level`` go to stdout and, when asked, are appended to an alerts.json file and an
alerts.log file in OSSEC's text layout.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable

from hidsctl import origin
from hidsctl.gcpause import paused
from hidsctl.diagnostics import logger
from hidsctl.errors import HidsError, UsageError
from hidsctl.records import Record, RecordReader

if TYPE_CHECKING:
    from hidsctl.analysis.budget import Guard
    from hidsctl.analysis.engine import Engine
    from hidsctl.analysis.findings import Findings
    from hidsctl.analysis.readers import HintingReader
    from hidsctl.analysis.ruleset import Ruleset, RulesetSources
    from hidsctl.analysis.statefile import StateFile
    from hidsctl.deadletter import DeadLetters
    from hidsctl.records import RecordWriter

HANDLED = frozenset({"log", "syscheck", "rootcheck", "agent_status", "ar_result", "notice"})


@dataclass
class RulesetSettings:
    ossec_conf: Path | None = None
    rules: list[Path] = field(default_factory=list)
    decoders: list[Path] = field(default_factory=list)
    no_default_rules: bool = False  # only `rules`/`decoders`: no bundled ruleset under them
    crawler_dns: bool = False


@dataclass
class AnalyzeSettings(RulesetSettings):
    min_level: int = 1
    alerts_json: Path | None = None
    alerts_log: Path | None = None
    manager: str | None = None
    workers: int = 1
    event_budget: float = 50.0  # milliseconds of CPU time to decode and match one event
    # A group member on a NATS JetStream bus (hidsctl/bus/group.py, docs/scale-out.md).
    source: str | None = None        # --from nats://SERVERS/STREAM
    group: str | None = None
    to: str | None = None            # nats://SERVERS/STREAM for the output
    lease_ttl: float = 10.0
    snapshot_interval: float = 30.0
    # A rootcheck finding not seen for this long alerts again when it comes back
    # (findings.py); "0" keeps it until a bound drops it.
    rootcheck_forget: str = "2d"


def ruleset_sources(settings: RulesetSettings) -> RulesetSources:
    from hidsctl.analysis import ruleset

    return ruleset.gather_sources(settings.ossec_conf, settings.rules, settings.decoders,
                                  no_default_rules=settings.no_default_rules)


@paused()
def load_ruleset(settings: RulesetSettings) -> Ruleset:
    from hidsctl.analysis import ruleset

    sources = ruleset_sources(settings)
    if not sources.rule_files:
        raise UsageError("no rule files to load (give --rules, --ossec-conf, or install the "
                         "bundled ruleset)")
    from hidsctl.analysis import rulecache

    loaded = rulecache.load(sources, settings.ossec_conf)
    if loaded is None:
        loaded = ruleset.load(sources)
        if rulecache.active() is not None:
            _compile_for_cache(loaded)
            rulecache.save(loaded, settings.ossec_conf)
    for warning in loaded.warnings:
        logger().warning(warning)
    return loaded


def _compile_for_cache(loaded: Ruleset) -> None:
    """Fill the ruleset's memo of generated rule code (an engine compiles it), so the cache
    holds it too; the caller's own engine then finds it there."""
    from hidsctl.analysis.engine import Engine

    Engine(loaded)


class AlertFiles:
    """The optional alerts.json and alerts.log outputs, appended to. What is written is
    kept until ``flush`` (or until it is a read's worth), then written in one go."""

    def __init__(self, json_path: Path | None, log_path: Path | None):
        self.json = self.log = None
        try:
            if json_path is not None:
                self.json = open(json_path, "ab")
            if log_path is not None:
                self.log = open(log_path, "ab")
        except OSError as exc:
            raise HidsError(f"cannot open alert file {exc.filename}: {exc.strerror}") from None
        self.pending_json: list[bytes] = []
        self.pending_log: list[bytes] = []
        self.pending_bytes = 0
        if self.log is not None:
            from hidsctl.alerttext import format_alert
            self.format = format_alert

    def write(self, alert: dict[str, Any], line: bytes) -> None:
        self.write_parts(line, self.format(alert) if self.log is not None else None)

    def write_parts(self, line: bytes, text: str | None) -> None:
        """An alert's JSON line (with newline) and alerts.log block (when there is a log)."""
        if self.json is not None:
            self.pending_json.append(line)
            self.pending_bytes += len(line)
        if self.log is not None and text is not None:
            data = text.encode("utf-8")
            self.pending_log.append(data)
            self.pending_bytes += len(data)
        if self.pending_bytes >= _FILE_CHUNK:
            self.flush()

    def flush(self) -> None:
        self.pending_bytes = 0
        for handle, pending in ((self.json, self.pending_json), (self.log, self.pending_log)):
            if handle is not None:
                if pending:
                    data = b"".join(pending)
                    pending.clear()
                    handle.write(data)
                handle.flush()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            for handle in (self.json, self.log):
                if handle is not None:
                    handle.close()


_FILE_CHUNK = 1 << 16  # bytes of alerts held before they are written

def input_reader(stdin: BinaryIO | None, before_block: Callable[[], None]) -> HintingReader:
    from hidsctl.analysis.readers import HintingReader

    return HintingReader(stdin, before_block=before_block)


def analyze(settings: AnalyzeSettings, stdin: BinaryIO | None = None,
            stdout: BinaryIO | None = None, dead_letters: DeadLetters | None = None,
            rootcheck_db: Path | None = None, correlation: Path | None = None) -> int:
    from hidsctl.records import RecordWriter

    engine = new_engine(settings)
    # The loaded ruleset lives as long as the run: the collector's full passes, which the
    # correlation state's growth sets off, need not walk it every time.
    gc.freeze()
    writer = RecordWriter(stdout)
    files = AlertFiles(settings.alerts_json, settings.alerts_log)

    def flush() -> None:
        writer.flush()
        files.flush()

    try:
        run_engine(engine, settings, input_reader(stdin, flush), writer, files, dead_letters,
                   rootcheck_db, correlation)
        flush()
    finally:
        files.close()
    return 0


def refusals(emit: Callable[[Record], None]) -> origin.Refusals:
    """The tally of records refused for their origin; ``emit`` writes its notices."""
    return origin.Refusals("analyze", emit, what="that analyze does not analyse")


def refused(record: Record, tally: origin.Refusals) -> bool:
    """Whether a record analyze does not analyse came from a remote origin (then it is
    counted, and dropped by the caller instead of passed through)."""
    sender = origin.remote(record)
    if sender is None:
        return False
    tally.add(sender, origin.agent_of(record["origin"]), {record["type"]: 1})
    return True


def new_engine(settings: AnalyzeSettings) -> Engine:
    from hidsctl.analysis.engine import Engine

    if settings.min_level < 0 or settings.min_level > 16:
        raise UsageError("--min-level must be 0..16")
    if not settings.event_budget > 0:
        raise UsageError("--event-budget must be a positive number of milliseconds")
    forget = forget_seconds(settings.rootcheck_forget)
    return Engine(load_ruleset(settings), crawler_dns=settings.crawler_dns,
                  manager=settings.manager, rootcheck_forget=forget)


def run_engine(engine: Engine, settings: AnalyzeSettings, reader: RecordReader,
               writer: RecordWriter, files: AlertFiles | None,
               dead_letters: DeadLetters | None = None,
               rootcheck_db: Path | None = None, correlation: Path | None = None) -> None:
    """The analysis loop: every record of ``reader`` analysed or passed through to
    ``writer``; alerts at or above the minimum level also go to ``files``. SIGHUP reloads
    the ruleset between records. A record analysis fails on goes to ``dead_letters`` and
    its notice to ``writer``; an event past its budget becomes a ``notice``. Rootcheck
    findings are remembered in ``rootcheck_db`` when given, else in memory for the run;
    the correlation state is restored from and saved to ``correlation`` when given
    (statefile.py)."""
    from hidsctl.analysis.budget import Guard

    findings = rootcheck_findings(settings, rootcheck_db)
    engine.state.rootcheck = findings
    saved = _state_file(correlation, settings)
    _commit_when_blocking(reader, writer, findings)
    cell = [engine]  # the running engine: a reload replaces it
    if saved is not None:
        _save_when_blocking(reader, saved, cell)
    try:
        with Guard(settings.event_budget) as guard, _on_sighup() as reload_requested:
            _loop(cell, settings, reader, writer, files, guard, dead_letters, saved,
                  reload_requested)
        writer.flush()
        findings.commit()
        if saved is not None:
            saved.close(cell[0])
    finally:
        findings.close()


def _state_file(path: Path | None, settings: AnalyzeSettings) -> StateFile | None:
    if path is None:
        return None
    from hidsctl.analysis.statefile import StateFile

    saved = StateFile(path, interval=settings.snapshot_interval)
    saved.load()
    return saved


def _save_when_blocking(reader: RecordReader, saved: StateFile, cell: list[Engine]) -> None:
    """Before the input may block: the correlation state, once the input stays quiet."""
    from hidsctl.records import _fileno

    before = reader.before_block

    def before_block() -> None:
        if before is not None:
            before()
        fd = getattr(reader, "waiting_fd", None)
        saved.idle(cell[0], fd if fd is not None else _fileno(reader.stream))

    reader.before_block = before_block


def rootcheck_findings(settings: AnalyzeSettings, path: Path | None) -> Findings:
    """The rootcheck findings table of this run (findings.py), opened in the process that
    uses it (each worker of ``--workers`` opens its own connection)."""
    from hidsctl.analysis.findings import Findings

    findings = Findings(path, forget=forget_seconds(settings.rootcheck_forget))
    if path is not None:
        findings.open()  # a state directory it cannot use stops analyze at the start
    return findings


def forget_seconds(text: str) -> float:
    """``rootcheck_forget`` in seconds; 0 (or "never") for never."""
    from hidsctl.config import parse_interval

    if text.strip() in ("0", "never"):
        return 0.0
    try:
        return parse_interval(text)
    except HidsError as exc:
        raise UsageError(f"--rootcheck-forget: {exc}") from None


def _commit_when_blocking(reader: RecordReader, writer: RecordWriter,
                          findings: Findings) -> None:
    """Sightings are written once the alerts they led to are out: at every checkpoint
    (after it is echoed, so a component killed before that is fed the batch again and
    alerts again), and, in a plain pipeline that never sees a checkpoint, whenever the
    input runs dry (after the output is flushed) and at the end."""
    before = reader.before_block

    def before_block() -> None:
        if before is not None:
            before()
        if not findings.checkpointed:
            writer.flush()
            findings.commit()

    reader.before_block = before_block


def _loop(cell: list[Engine], settings: AnalyzeSettings, reader: RecordReader,
          writer: RecordWriter, files: AlertFiles | None, guard: Guard,
          dead_letters: DeadLetters | None, saved: StateFile | None,
          reload_requested: list[bool]) -> None:
    from hidsctl.analysis.budget import OverBudget, culprit, notice
    from hidsctl.deadletter import NOT_THE_RECORDS_FAULT, DeadLetters
    from hidsctl.analysis.events import from_record
    from hidsctl.records import CHECKPOINT

    if dead_letters is None:
        dead_letters = DeadLetters(None, "analyze")

    min_level = max(settings.min_level, 1)
    # A reader may hand over events it decoded elsewhere (pipeline.py).
    event_of = getattr(reader, "event", None) or from_record

    write_line = writer.write_line
    wants_files = files is not None and (files.json is not None or files.log is not None)
    write_files = files.write_parts if files is not None and wants_files else None
    text = files is not None and files.log is not None
    tally = refusals(writer.write)
    number = 0
    engine = cell[0]
    restoring = saved is not None
    for record in reader:
        if reload_requested:
            reload_requested.clear()
            engine = cell[0] = _reloaded(engine, settings)
            _refreeze()
        if restoring and saved is not None and not (
                record["type"] == CHECKPOINT and saved.note_resume(record)):
            saved.restore(engine)  # the state of where the input resumes
            restoring = False
        if record["type"] not in HANDLED:
            if refused(record, tally):
                continue
            if tally.pending:  # what was counted since the last report, when it is due
                tally.flush()
            if record["type"] == CHECKPOINT:
                if saved is not None:  # on disk before the checkpoint can be echoed
                    saved.checkpoint(engine, record.get("queue"), record.get("offset"))
                writer.write(record)
                _checkpointed(engine.state.rootcheck, writer, files)
            else:
                writer.write(record)
            continue
        number += 1
        if saved is not None:
            saved.record()
        guard.event = number
        try:
            ev = event_of(record)
            rule = engine.winner(ev) if ev is not None else None
            alerts = rule is not None and ev is not None and engine.alerts(rule, ev)
            guard.event = 0
            if rule is None or ev is None or not alerts:
                continue
            if rule.level < min_level:
                engine.skip_alert()
                continue
            line, block = engine.alert_line(rule, ev, text)
            write_line(line)
            if write_files is not None:
                write_files(line, block)
        except OverBudget as over:
            guard.event = 0
            report = notice(record, culprit(over, engine), settings.event_budget)
            _report(reader, report["message"])
            writer.write(report)
            continue
        except RecursionError:
            guard.event = 0
            _report(reader, "analysis gave up on a pathological pattern; record skipped")
        except NOT_THE_RECORDS_FAULT:
            raise
        except Exception as exc:  # a case analysis misses: set the record aside, go on
            guard.event = 0
            writer.write(dead_letters.put(record, exc))
    tally.flush(force=True)


def _checkpointed(findings: Findings, writer: RecordWriter, files: AlertFiles | None) -> None:
    findings.checkpointed = True
    if findings.pending:
        writer.flush()
        if files is not None:
            files.flush()
        findings.commit()


@contextlib.contextmanager
def _on_sighup() -> Iterator[list[bool]]:
    """A flag (a list, true once SIGHUP arrived) for reloading the ruleset between records.
    A handler set before (pipeline.py's, passing the signal on) still runs, and is put back
    when the loop ends, so analyze run in-process leaves no handler behind."""
    import signal
    import threading

    flag: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGHUP)

    def on_hup(signum: int, frame: Any) -> None:
        if not flag:
            flag.append(True)
        if callable(previous):
            previous(signum, frame)
    signal.signal(signal.SIGHUP, on_hup)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGHUP, previous if previous is not None else signal.SIG_DFL)


def _refreeze() -> None:
    """After a reload, what was frozen (analyze's ruleset, or all a forked worker got) is
    given back to the collector, so the replaced ruleset's cycles are freed, and what
    lives on is frozen again."""
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()
        gc.freeze()


def _reloaded(old: Engine, settings: AnalyzeSettings) -> Engine:
    """A new engine on the ruleset as it is now on disk, carrying over the correlation state
    (counts, ignore times, event windows) of every rule that is still there. A ruleset that
    no longer loads leaves the running one in place."""
    from hidsctl.analysis.engine import Engine

    try:
        engine = Engine(load_ruleset(settings), crawler_dns=settings.crawler_dns,
                        manager=settings.manager, rootcheck_forget=old.rootcheck_forget)
    except HidsError as exc:
        logger().error(f"reload refused, the running rules stay: {exc}")
        return old
    before = len(old.ruleset.tree.rules())
    if old.fingerprint is not None:  # decoding processes match ahead (pipeline.py)
        fingerprinted(engine, settings)
    engine.state = old.state.carried_to(engine.plan)
    logger("analyze").info(f"ruleset reloaded ({before} rules before, "
                           f"{len(engine.ruleset.tree.rules())} now)")
    return engine


def fingerprinted(engine: Engine, settings: AnalyzeSettings) -> Engine:
    """``engine`` with the fingerprint of the files its ruleset was just loaded from."""
    from hidsctl.analysis import rulecache

    engine.fingerprint = rulecache.fingerprint(engine.ruleset, settings.ossec_conf)
    return engine


def _report(reader: RecordReader, message: str) -> None:
    logger("analyze").warning(f"record {reader.stats.records}: {message}")
