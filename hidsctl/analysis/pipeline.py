"""``analyze --workers N`` on one agent's stream: decoding spread out, rules kept in order.

Partitioning by agent (parallel.py) cannot split one agent's records, and a stream from
``supervise --role local`` or ``collect`` is one agent. Decoding (reading the JSON line,
pre-decoding, the decoders) does not depend on correlation state, so here it is what is
spread:

- a reader process reads the input and sends its lines, a chunk at a time, to the N
  decoding processes in turn;
- each decoding process parses and checks its lines and decodes the ``log`` records, and
  answers each chunk with one message of compact decoded events (marshal of tuples: the
  header, the decoder and the fields, with the line as it came);
- the first process matches the rules and correlates in input order, taking the chunks
  back in the order they were sent, and writes the output as one process does (run.py's
  loop). Records are written in order, so a ``checkpoint`` follows every alert of the
  records before it, and the alerts are those of one process.

Anything a decoding process cannot decode within its budget, or fails on, goes back whole,
and the first process analyses it itself, as one process would (notice, dead letter).
SIGHUP reloads the rules in the first process and the decoders in the others, each on
its next chunk.
"""

from __future__ import annotations

import contextlib
import gc
import io
import marshal
import os
import select
import signal
import struct
import sys
import traceback
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterator

import orjson

from hidsctl.analysis.children import reap, signal_all
from hidsctl.analysis.events import NO_DECODER, Event, from_record
from hidsctl.analysis.predecode import Header
from hidsctl.analysis.run import (AlertFiles, AnalyzeSettings, HintingReader, load_ruleset,
                                  run_engine)
from hidsctl.errors import SourceLocation
from hidsctl.records import Record, RecordReader, local_agent, validate

if TYPE_CHECKING:
    from pathlib import Path

    from hidsctl.analysis.decoders import Decoder, DecoderSet
    from hidsctl.analysis.engine import Engine
    from hidsctl.deadletter import DeadLetters

BATCH_LINES = 512     # lines in one chunk at most (a chunk is also cut when input runs dry)
FRAME = struct.Struct("<I")  # each message: its length, then marshal data
# What a decoding process answers for one line: (DECODED, line, time, header, decoder key,
# fields, structured) for a decoded ``log`` record; (WHOLE, line number, line) for any
# other line, which the first process checks and analyses itself.
DECODED, WHOLE = 0, 1
_STANDIN = SourceLocation("<decoded in another process>")
Item = tuple[Any, ...]


def analyze_pipeline(engine: Engine, settings: AnalyzeSettings, workers: int,
                     stdin: BinaryIO, stdout: BinaryIO | None = None,
                     dead_letters: DeadLetters | None = None,
                     rootcheck_db: Path | None = None, correlation: Path | None = None) -> int:
    """Analyse ``stdin`` with ``engine`` and ``workers`` decoding processes; the first
    process keeps the correlation state in ``correlation`` as one process does."""
    gc.freeze()
    out = stdout if stdout is not None else sys.stdout.buffer
    out.flush()
    sys.stderr.flush()
    to_decoders = [os.pipe() for _ in range(workers)]
    from_decoders = [os.pipe() for _ in range(workers)]
    pids = []
    for number in range(workers):
        keep = (to_decoders[number][0], from_decoders[number][1])
        pids.append(_fork(keep, to_decoders + from_decoders, _decoder_main, engine.decoders,
                          settings, *keep))
    reader_pid = _fork(tuple(w for _, w in to_decoders), to_decoders + from_decoders,
                       _reader_main, stdin, [w for _, w in to_decoders])
    for read_end, write_end in to_decoders:
        os.close(read_end)
        os.close(write_end)
    for _, write_end in from_decoders:
        os.close(write_end)
    # The decoders reload with the rules: run.py's SIGHUP handler chains to this one.
    signal.signal(signal.SIGHUP, lambda *_: signal_all(pids, signal.SIGHUP))
    files = AlertFiles(settings.alerts_json, settings.alerts_log)
    from hidsctl.records import RecordWriter

    writer = RecordWriter(out)

    def flush() -> None:  # the input ran dry: what was written goes out, as run.py's does
        writer.flush()
        files.flush()

    reader = DecodedReader([fd for fd, _ in from_decoders], flush)
    try:
        run_engine(engine, settings, reader, writer, files, dead_letters, rootcheck_db,
                   correlation)
        writer.flush()
    finally:
        files.close()
        reader.close()
        codes = [reap(pid, f"worker {n} (decoding)") for n, pid in enumerate(pids)]
        codes.append(reap(reader_pid, "input reader"))
    return 0 if all(code == 0 for code in codes) else 1


# --- processes ---------------------------------------------------------------------------------

def _fork(keep: tuple[int, ...], pipes: list[tuple[int, int]], main: Any, *args: Any) -> int:
    """Fork a child that keeps only the pipe ends ``keep`` (so every pipe sees EOF when its
    last writer ends) and runs ``main(*args)``."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for pair in pipes:
            for fd in pair:
                if fd not in keep:
                    os.close(fd)
        code = main(*args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BrokenPipeError:
        code = 1  # the process after this one has ended; it reports why
    except BaseException:  # noqa: BLE001 - reported, then the process ends
        traceback.print_exc()
    finally:
        os._exit(code)


def _reader_main(stdin: BinaryIO, outputs: list[int]) -> int:
    """Read the input; chunks of (line number, line) to the decoders in turn."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sinks = [os.fdopen(fd, "wb") for fd in outputs]
    numbers: list[int] = []
    lines: list[bytes] = []
    turn = 0

    def send() -> None:
        nonlocal turn
        if numbers:
            _write_frame(sinks[turn], marshal.dumps((numbers, lines)))
            numbers.clear()
            lines.clear()
            turn = (turn + 1) % len(sinks)

    # Over-long lines are reported here, by line number, as one process reports them.
    reader = RecordReader(stdin, before_block=send)
    for number, line in reader.lines():
        numbers.append(number)
        lines.append(line)
        if len(numbers) >= BATCH_LINES:
            send()
    send()
    for sink in sinks:
        sink.close()
    return 0


def _decoder_main(decoders: DecoderSet, settings: AnalyzeSettings, in_fd: int,
                  out_fd: int) -> int:
    from hidsctl.analysis.budget import Guard

    reload: list[bool] = []
    signal.signal(signal.SIGHUP, lambda *_: reload.append(True))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # the first process's stdin and stdout are its own
    os.dup2(devnull, 1)
    os.close(devnull)
    source = os.fdopen(in_fd, "rb")
    sink = os.fdopen(out_fd, "wb")
    with Guard(settings.event_budget) as guard:
        while (frame := _read_frame(source)) is not None:
            if reload:
                reload.clear()
                decoders = _reloaded(decoders, settings)
            numbers, lines = marshal.loads(frame)
            items = [_decoded(number, line, decoders, guard)
                     for number, line in zip(numbers, lines)]
            _write_frame(sink, marshal.dumps([item for item in items if item is not None]))
    sink.close()
    return 0


def _reloaded(decoders: DecoderSet, settings: AnalyzeSettings) -> DecoderSet:
    """The decoders as they are on disk now; the first process reports on the reload."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return load_ruleset(settings).decoders
    except Exception:  # noqa: BLE001 - the first process says why; the old ones stay
        return decoders


def _decoded(number: int, line: bytes, decoders: DecoderSet, guard: Any) -> Item | None:
    """One line as the first process gets it back (None for a blank line)."""
    from hidsctl.analysis.budget import OverBudget

    if not line or line.isspace():
        return None  # skipped without a word, as RecordReader skips it
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return (WHOLE, number, line)  # the first process reports it, in its words
    if not isinstance(record, dict) or record.get("type") != "log" or validate(record):
        return (WHOLE, number, line)
    try:
        guard.event = number
        ev = from_record(record)
        if ev is None:
            return (WHOLE, number, line)
        decoders.decode(ev)
    except (OverBudget, RecursionError, Exception):
        return (WHOLE, number, line)  # analysed again by the first process: it reports
    finally:
        guard.event = 0
    header = ev.header
    head = None if header is None else (header.log, header.hostname, header.program_name,
                                        header.timestamp)
    return (DECODED, line, ev.time, head, _key(ev.decoder), ev.fields, ev.structured)


def _key(decoder: Decoder) -> tuple[Any, ...] | None:
    """What the rules and the alert read of a decoder (its attributes, not the object: the
    first process may have reloaded another ruleset a chunk earlier or later)."""
    if decoder is NO_DECODER:
        return None
    return (decoder.name, decoder.reported, decoder.parent_reported, decoder.type,
            tuple(decoder.fts))


# --- the first process's input: the decoders' chunks in order ----------------------------------

class DecodedReader(HintingReader):
    """The records of the decoders' answers, in input order. A decoded ``log`` record
    comes with its event (``event``); other lines are checked here, so bad ones are
    reported with their line numbers as one process reports them."""

    def __init__(self, fds: list[int], before_block: Callable[[], None]):
        super().__init__(io.BytesIO(), before_block=before_block)
        self.fds = fds
        self.buffers = [bytearray() for _ in fds]
        self.prepared: Event | None = None
        self.prepared_for: Record | None = None
        self.standins: dict[tuple[Any, ...] | None, Decoder] = {}
        self.waiting_fd: int | None = None

    def pairs(self) -> Iterator[tuple[bytes, Record]]:
        turn = 0
        checked = self.checked
        while (frame := self._frame(turn)) is not None:
            turn = (turn + 1) % len(self.fds)
            for item in marshal.loads(frame):
                if item[0] == WHOLE:
                    record = checked(item[1], item[2])
                    if record is not None:
                        yield item[2], record
                    continue
                record = orjson.loads(item[1])
                self.stats.records += 1
                self.prepared_for = record
                self.prepared = self._event(record, item)
                yield item[1], record

    def event(self, record: Record) -> Event | None:
        """The event of ``record``: the decoded one when it came decoded."""
        if record is self.prepared_for:
            ev, self.prepared, self.prepared_for = self.prepared, None, None
            return ev
        return from_record(record)

    def _event(self, record: Record, item: Item) -> Event:
        _kind, _line, when, head, key, fields, structured = item
        agent = record.get("agent")
        if not isinstance(agent, dict):
            agent = record["agent"] = local_agent()
        ev = Event(record, record.get("log", ""), record.get("location") or "stdin", agent,
                   when, None if head is None else Header(*head))
        decoder = self.standins.get(key)
        if decoder is None:
            decoder = self.standins[key] = _standin(key)
        ev.decoder = decoder
        ev.fields = fields
        ev.structured = structured
        return ev

    def _frame(self, turn: int) -> bytes | None:
        """The next message from decoding process ``turn``; None at its end."""
        fd, buf = self.fds[turn], self.buffers[turn]
        while True:
            if len(buf) >= FRAME.size:
                (size,) = FRAME.unpack_from(buf)
                if len(buf) >= FRAME.size + size:
                    frame = bytes(buf[FRAME.size:FRAME.size + size])
                    del buf[:FRAME.size + size]
                    return frame
            if self.before_block is not None and not select.select([fd], [], [], 0)[0]:
                self.waiting_fd = fd  # what a wait for more input waits on (run.py)
                self.before_block()  # the input has run dry: the output is flushed
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            buf += chunk

    def close(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def _standin(key: tuple[Any, ...] | None) -> Decoder:
    """A decoder with the attributes of the one a decoding process used. "No decoder" is
    a copy of NO_DECODER, not itself: the engine decodes events that have NO_DECODER."""
    from hidsctl.analysis.decoders import Decoder

    if key is None:
        key = (NO_DECODER.name, NO_DECODER.reported, None, NO_DECODER.type, ())
    name, reported, parent, category, fts = key
    decoder = Decoder(name=name, where=_STANDIN, type=category, fts=list(fts))
    decoder.reported, decoder.parent_reported = reported, parent
    return decoder


def _write_frame(sink: BinaryIO, data: bytes) -> None:
    sink.write(FRAME.pack(len(data)))
    sink.write(data)
    sink.flush()


def _read_frame(source: BinaryIO) -> bytes | None:
    head = source.read(FRAME.size)
    if len(head) < FRAME.size:
        return None
    (size,) = FRAME.unpack(head)
    return source.read(size)
