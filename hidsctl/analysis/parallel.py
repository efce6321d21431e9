"""``analyze --workers N``: one loaded ruleset, N forked analysis processes.

The parent loads and compiles the ruleset once, then forks the workers, which inherit it
(no start-up per worker; ``gc.freeze`` keeps the shared pages from being copied). The
parent reads and checks the input, so bad lines are reported with their own line numbers;
it sends each analysable record's line, unchanged, to the worker its agent id hashes to,
writes other records straight through, and merges the workers' alert lines, whole, into
stdout and the alert files. Correlation within one agent is therefore exact (docs/rules.md
says what partitioning means for rules that correlate across agents).

A supervisor's ``checkpoint`` record goes to every worker, and leaves once all of them have
echoed it: after every alert of the records before it, before any alert of those after.
"""

from __future__ import annotations

import gc
import io
import os
import signal
import sys
import threading
import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, cast

import orjson

from hidsctl.analysis.children import reap, signal_all
from hidsctl.analysis.run import (HANDLED, AlertFiles, AnalyzeSettings, input_reader,
                                  new_engine, refusals, refused, run_engine)
from hidsctl.errors import HidsError, UsageError
from hidsctl.records import (CHECKPOINT, CHECKPOINT_TAG, READ_CHUNK, RecordReader,
                             RecordWriter, _fileno, agent_id_of, checkpoint_record, dumps)

if TYPE_CHECKING:
    from hidsctl.analysis.engine import Engine
    from hidsctl.deadletter import DeadLetters

BATCH_BYTES = 1 << 16  # lines gathered per worker before one write to its pipe
MAX_WORKERS = 64


@dataclass(eq=False)
class Worker:
    number: int
    pid: int
    stdin: BinaryIO           # the parent's end of the worker's input pipe
    stdout: BinaryIO          # the parent's end of the worker's output pipe
    pending: list[bytes] = field(default_factory=list)
    pending_bytes: int = 0
    echoed: int = 0           # checkpoints it has echoed (Merger.pump)

    def send(self) -> None:
        if self.pending:
            data = b"".join(self.pending)
            self.pending.clear()
            self.pending_bytes = 0
            try:
                self.stdin.write(data)
                self.stdin.flush()
            except BrokenPipeError:
                raise HidsError(f"analysis worker {self.number} (pid {self.pid}) has "
                                "exited") from None


def analyze_parallel(settings: AnalyzeSettings, workers: int, stdin: BinaryIO | None = None,
                     stdout: BinaryIO | None = None,
                     dead_letters: DeadLetters | None = None,
                     rootcheck_db: Path | None = None, state_dir: Path | None = None) -> int:
    """``state_dir``: where the correlation state is saved (statefile.py): the one-agent
    pipeline correlates in one process, as ``--workers 1`` does, and shares its file; each
    agent-split worker keeps its own agents' state in a file of its own, for this count of
    workers (with another count the agents land elsewhere: those start empty)."""
    from hidsctl.analysis.statefile import path_for

    if not 1 <= workers <= MAX_WORKERS:
        raise UsageError(f"--workers must be 1..{MAX_WORKERS}")
    engine = new_engine(settings)
    source = Replay(stdin if stdin is not None else sys.stdin.buffer)
    stdin = cast(BinaryIO, source)
    if source.one_agent():
        from hidsctl.analysis.pipeline import analyze_pipeline

        return analyze_pipeline(engine, settings, workers, stdin, stdout, dead_letters,
                                rootcheck_db,
                                path_for(state_dir) if state_dir is not None else None)
    gc.freeze()
    out = stdout if stdout is not None else sys.stdout.buffer
    out.flush()
    procs: list[Worker] = []
    for number in range(workers):
        procs.append(_fork_worker(number, engine, settings, procs, dead_letters,
                                  rootcheck_db, None if state_dir is None else
                                  path_for(state_dir, number, workers)))
    del engine
    files = AlertFiles(settings.alerts_json, settings.alerts_log)
    merger = Merger(out, files, len(procs))
    signal.signal(signal.SIGHUP,
                  lambda *_: signal_all((w.pid for w in procs), signal.SIGHUP))
    pumps = [threading.Thread(target=merger.pump, args=(w,), daemon=True) for w in procs]
    for thread in pumps:
        thread.start()
    try:
        _dispatch(stdin, procs, merger)
    finally:
        for worker in procs:
            try:
                worker.stdin.close()
            except BrokenPipeError:
                pass
        codes = [reap(worker.pid, f"worker {worker.number}") for worker in procs]
        for thread in pumps:
            thread.join()
        merger.close()
    return 0 if all(code == 0 for code in codes) else 1


class Replay(io.RawIOBase):
    """The input with its first chunk read ahead, to see whose records it holds."""

    def __init__(self, stream: BinaryIO):
        super().__init__()
        self.stream = stream
        self.fd = _fileno(stream)
        self.ahead = self._read(READ_CHUNK)

    def _read(self, size: int) -> bytes:
        if self.fd is not None:
            return os.read(self.fd, size)
        return self.stream.read1(size)  # type: ignore[attr-defined, no-any-return]

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        if self.ahead:
            data, self.ahead = self.ahead, b""
            return data
        return self._read(size if size > 0 else READ_CHUNK)

    def one_agent(self) -> bool:
        """Whether the analysable records of the first chunk are all one agent's (the
        stream of ``supervise --role local`` or ``collect``): partitioning by agent would
        give one worker everything, so decoding is spread instead (pipeline.py)."""
        agents = set()
        for line in self.ahead.split(b"\n")[:-1]:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict) and record.get("type") in HANDLED:
                agents.add(agent_id_of(record.get("agent")))
        return len(agents) <= 1


def _dispatch(stdin: BinaryIO | None, procs: list[Worker], merger: "Merger") -> None:
    """Read the input; analysable records to their agent's worker, others straight out."""
    count = len(procs)
    slot_of: dict[str, int] = {}

    def flush_all() -> None:
        for worker in procs:
            worker.send()
        merger.flush()

    reader = input_reader(stdin, flush_all)
    tally = refusals(lambda notice: merger.write_through(dumps(notice)[:-1]))
    for raw, record in reader.pairs():
        rtype = record["type"]
        if rtype not in HANDLED:
            if refused(record, tally):
                continue
            if tally.pending:
                tally.flush()
            if rtype == CHECKPOINT:
                for worker in procs:
                    worker.pending.append(raw + b"\n")
                    worker.send()
            else:
                merger.write_through(raw)
            continue
        key = agent_id_of(record.get("agent"))
        slot = slot_of.get(key)
        if slot is None:
            if len(slot_of) > 65536:
                slot_of.clear()
            slot = slot_of[key] = zlib.crc32(key.encode()) % count
        worker = procs[slot]
        worker.pending.append(raw + b"\n")
        worker.pending_bytes += len(raw) + 1
        if worker.pending_bytes >= BATCH_BYTES:
            worker.send()
    tally.flush(force=True)
    flush_all()


class Merger:
    """Writes the workers' output lines, whole, to stdout and the alert files."""

    def __init__(self, out: BinaryIO, files: AlertFiles, workers: int):
        self.out = out
        self.files = files
        self.lock = threading.Lock()
        self.writer = RecordWriter(out)  # records written straight through by the parent
        self.withheld = False  # a checkpoint can no longer complete: output stops
        self.gate = CheckpointGate(workers, self._emit_checkpoint)

    def write_through(self, raw: bytes) -> None:
        with self.lock:
            self.writer.write_raw(raw)

    def flush(self) -> None:
        with self.lock:
            self.writer.flush()
            self.files.flush()

    def close(self) -> None:
        with self.lock:
            self.writer.flush()
            self.files.close()

    def pump(self, worker: Worker) -> None:
        rest = b""
        try:
            while True:
                chunk = worker.stdout.read(BATCH_BYTES)
                if not chunk:
                    break
                data = rest + chunk if rest else chunk
                cut = data.rfind(b"\n") + 1
                rest = data[cut:]
                if not cut:
                    continue
                if CHECKPOINT_TAG in data[:cut]:
                    self._emit_with_checkpoints(data[:cut], worker)
                else:
                    self._emit(data[:cut])
        finally:
            self.gate.ended(worker.echoed)  # nobody waits for its echo of a later one any more

    def _emit(self, lines: bytes) -> None:
        if not lines or self.withheld:
            return
        with self.lock:
            self.writer.flush()
            self.out.write(lines)
            self.out.flush()
            if self.files.json is not None or self.files.log is not None:
                for line in lines.splitlines():
                    record = orjson.loads(line)
                    if record.get("type") == "alert":  # not a worker's notice
                        self.files.write(record, line + b"\n")

    def _emit_with_checkpoints(self, lines: bytes, worker: Worker) -> None:
        """Write ``worker``'s ``lines``, letting each checkpoint among them out through the
        gate."""
        start = 0
        for line in lines.splitlines(keepends=True):
            if checkpoint_record(line) is not None:
                self._emit(lines[:start])
                lines, start = lines[start + len(line):], 0
                worker.echoed += 1
                if not self.gate.echo(worker.echoed, line):
                    # A worker ended without echoing it: analyze exits with an error, and
                    # what follows the last whole checkpoint is withheld, as the records
                    # after it will be fed again.
                    self.withheld = True
            else:
                start += len(line)
        self._emit(lines)

    def _emit_checkpoint(self, line: bytes) -> None:
        with self.lock:
            self.writer.flush()
            self.files.flush()  # what the checkpoint vouches for is in the files too
            self.out.write(line)
            self.out.flush()


class CheckpointGate:
    """A checkpoint leaves once every worker has echoed it (all the records before it are
    analysed). A worker that ends, normally or not, has echoed all it ever will: a
    checkpoint beyond its count can no longer complete, and its waiters are told so."""

    def __init__(self, workers: int, emit: Callable[[bytes], None]):
        self.workers = workers
        self.emit = emit
        self.cond = threading.Condition()
        self.arrived: dict[int, int] = {}  # checkpoint number -> workers that echoed it
        self.passed = 0  # the last checkpoint out
        self.reachable = sys.maxsize  # the last checkpoint that can still complete

    def echo(self, number: int, line: bytes) -> bool:
        """A worker echoed checkpoint ``number`` (1, 2, ...): True once it is out, False
        when it never will be."""
        with self.cond:
            count = self.arrived[number] = self.arrived.get(number, 0) + 1
            if count == self.workers and number <= self.reachable:
                del self.arrived[number]
                self.emit(line)
                self.passed = number
                self.cond.notify_all()
            self.cond.wait_for(lambda: self.passed >= number or number > self.reachable)
            return self.passed >= number

    def ended(self, echoed: int) -> None:
        with self.cond:
            self.reachable = min(self.reachable, echoed)
            self.cond.notify_all()


# --- the worker processes ---------------------------------------------------------------------

def _fork_worker(number: int, engine: Engine, settings: AnalyzeSettings,
                 earlier: list[Worker], dead_letters: DeadLetters | None = None,
                 rootcheck_db: Path | None = None, correlation: Path | None = None) -> Worker:
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        code = 1
        try:
            os.close(in_write)
            os.close(out_read)
            for other in earlier:  # their pipes must see EOF when the parent closes them
                os.close(other.stdin.fileno())
                os.close(other.stdout.fileno())
            code = _worker_main(number, engine, settings, in_read, out_write, dead_letters,
                                rootcheck_db, correlation)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - reported, then the worker ends
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(in_read)
    os.close(out_write)
    return Worker(number, pid, os.fdopen(in_write, "wb"), os.fdopen(out_read, "rb", buffering=0))


def _worker_main(number: int, engine: Engine, settings: AnalyzeSettings, in_fd: int,
                 out_fd: int, dead_letters: DeadLetters | None = None,
                 rootcheck_db: Path | None = None, correlation: Path | None = None) -> int:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until run_engine takes it over
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # the parent's stdin and stdout are the parent's alone
    os.dup2(devnull, 1)
    os.close(devnull)
    writer = RecordWriter(os.fdopen(out_fd, "wb"))
    # Lines come checked by the parent: only the record type needs looking at again.
    reader = RecordReader(os.fdopen(in_fd, "rb", buffering=0), name=f"worker {number}",
                          before_block=writer.flush, strict_types=False)
    # Each worker holds its own agents' findings; the database file is shared.
    run_engine(engine, settings, reader, writer, None, dead_letters, rootcheck_db,
               correlation)
    writer.flush()
    return 0
