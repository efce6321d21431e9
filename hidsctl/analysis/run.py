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
    workers: int = 1


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
    reload_requested = _on_sighup()
    try:
        for record in reader:
            if reload_requested:
                reload_requested.clear()
                engine = _reloaded(engine, settings)
                process = engine.process_record
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


def _on_sighup() -> list:
    """A flag (a list, true once SIGHUP arrived) for reloading the ruleset between records."""
    import signal
    import threading

    flag: list = []
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, lambda *_: flag.append(True) if not flag else None)
    return flag


def _reloaded(old, settings: AnalyzeSettings):
    """A new engine on the ruleset as it is now on disk, carrying over the correlation state
    (counts, ignore times, event windows) of every rule that is still there. A ruleset that
    no longer loads leaves the running one in place."""
    from hidsctl.analysis.engine import Engine

    try:
        engine = Engine(load_ruleset(settings), crawler_dns=settings.crawler_dns,
                        manager=settings.manager)
    except HidsError as exc:
        print(f"hidsctl: error: reload refused, the running rules stay: {exc}", file=sys.stderr,
              flush=True)
        return old
    previous = {rule.id: rule for rule in old.ruleset.tree.rules()}
    for rule in engine.ruleset.tree.rules():
        before = previous.get(rule.id)
        if before is None:
            continue
        rule.firedtimes, rule.time_ignored = before.firedtimes, before.time_ignored
        for name in ("sid_prev_matched", "search_list"):
            new_list, old_list = getattr(rule, name, None), getattr(before, name, None)
            if new_list is not None and old_list is not None and new_list is not old_list:
                _take_state(new_list, old_list)
    engine.correlation = old.correlation
    for rule in engine.ruleset.tree.rules():
        engine.correlation.register(rule)
    engine.sequence = old.sequence
    print(f"hidsctl: analyze: ruleset reloaded ({len(previous)} rules before, "
          f"{len(engine.ruleset.tree.rules())} now)", file=sys.stderr, flush=True)
    return engine


def _take_state(target, source) -> None:
    """Give ``target`` the contents of ``source`` (same class; slots or a dict)."""
    names = getattr(type(source), "__slots__", None) or list(vars(source))
    for name in ([names] if isinstance(names, str) else names):
        if hasattr(source, name):
            setattr(target, name, getattr(source, name))


def _report(reader, message: str) -> None:
    print(f"hidsctl: record {reader.stats.records}: {message}", file=sys.stderr, flush=True)


# --- several worker processes (--workers) -------------------------------------------------------

def worker_arguments(settings: AnalyzeSettings) -> list[str]:
    """The command line that runs one worker with these settings."""
    args = [sys.executable, "-m", "hidsctl", "analyze", "--min-level", str(settings.min_level)]
    if settings.ossec_conf is not None:
        args += ["--ossec-conf", str(settings.ossec_conf)]
    for path in settings.rules:
        args += ["--rules", str(path)]
    for path in settings.decoders:
        args += ["--decoders", str(path)]
    if settings.crawler_dns:
        args.append("--crawler-dns")
    return args


def analyze_parallel(settings: AnalyzeSettings, workers: int, stdin: BinaryIO | None = None,
                     stdout: BinaryIO | None = None) -> int:
    """Partition the records by agent id over ``workers`` analyze processes.

    Each worker holds the correlation state of its agents, so correlations within one agent
    are exact; rules that correlate across agents see only their partition's events (see
    docs/rules.md). This process reads and checks the input, passes unhandled records
    through, and merges the workers' alerts (whole lines) into stdout and the alert files.
    Alerts of different agents may come out in a different order than their records.
    """
    import os
    import subprocess
    import threading
    import zlib

    import orjson

    from hidsctl.records import RecordReader, RecordWriter

    load_ruleset(settings)  # fail early, with the error, before starting workers
    out = stdout if stdout is not None else sys.stdout.buffer
    lock = threading.Lock()
    writer = RecordWriter(out)
    files = AlertFiles(settings.alerts_json, settings.alerts_log)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = [subprocess.Popen(worker_arguments(settings), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env=env) for _ in range(workers)]

    def pump(proc) -> None:
        rest = b""
        while True:
            chunk = proc.stdout.read1(1 << 16)
            if not chunk:
                break
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if not cut:
                continue
            lines = data[:cut]
            with lock:
                writer.flush()
                out.write(lines)
                out.flush()
                if files.json is not None or files.log is not None:
                    for line in lines.splitlines():
                        files.write(orjson.loads(line), line + b"\n")

    threads = [threading.Thread(target=pump, args=(p,), daemon=True) for p in procs]
    for thread in threads:
        thread.start()
    pending: list[list[bytes]] = [[] for _ in procs]
    sizes = [0] * workers

    def send(i: int) -> None:
        if pending[i]:
            procs[i].stdin.write(b"".join(pending[i]))
            procs[i].stdin.flush()
            pending[i].clear()
            sizes[i] = 0

    def flush_all() -> None:
        for i in range(workers):
            send(i)
        with lock:
            writer.flush()
            files.flush()

    reader = RecordReader(stdin, before_block=flush_all)
    try:
        for record in reader:
            if record["type"] not in HANDLED:
                with lock:
                    writer.write(record)
                continue
            agent = record.get("agent")
            key = str(agent.get("id", "")) if isinstance(agent, dict) else ""
            i = zlib.crc32(key.encode()) % workers
            line = orjson.dumps(record) + b"\n"
            pending[i].append(line)
            sizes[i] += len(line)
            if sizes[i] >= 1 << 16:
                send(i)
        flush_all()
    finally:
        for proc in procs:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        codes = [proc.wait() for proc in procs]
        for thread in threads:
            thread.join()
        with lock:
            writer.flush()
            files.close()
    return 0 if all(c == 0 for c in codes) else 1
