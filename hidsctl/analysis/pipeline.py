"""``analyze --workers N`` on one agent's stream: decoding spread out, rules kept in order.

Partitioning by agent (parallel.py) cannot split one agent's records, and a stream from
``supervise --role local`` or ``collect`` is one agent. Decoding (reading the JSON line,
pre-decoding, the decoders) does not depend on correlation state, so here it is what is
spread:

- the first decoding process also reads the input: it cuts it into chunks of lines, keeps
  every Nth chunk for itself and passes the others to the other decoding processes in
  turn (no process of its own for reading: one interpreter less in memory);
- each decoding process parses and checks its lines and decodes the ``log`` records, and
  answers each chunk with one message of compact decoded events (marshal of tuples: the
  header, the decoder and the fields, with the line as it came);
- each decoding process also matches the rules ahead, with a state that answers nothing
  (correlation.Stateless): where the tree reaches no check the state decides (a
  correlation search, first time seen, a diff), the winner is the one the first process
  would find, whatever its state, and comes with the event (about two events in three of
  OSSEC's test lines); the first process takes it instead of running the tree, and runs
  the tree itself for the others;
- the first process matches the rules and correlates in input order, taking the chunks
  back in the order they were sent, and writes the output as one process does (run.py's
  loop). Records are written in order, so a ``checkpoint`` follows every alert of the
  records before it, and the alerts are those of one process.

Anything a decoding process cannot decode within its budget, or fails on, goes back whole,
and the first process analyses it itself, as one process would (notice, dead letter).
SIGHUP reloads the rules in every process, each on its next chunk. Each chunk comes with
the fingerprint of the ruleset it was matched ahead with (rulecache.fingerprint: the
sources' hashes), and the first process takes a winner matched ahead only from a ruleset
of its own engine's fingerprint: a chunk matched before the reload, or after a reload
that failed on one side, is matched again.
"""

from __future__ import annotations

import contextlib
import gc
import io
import marshal
import os
import signal
import sys
import traceback
from typing import TYPE_CHECKING, Any, BinaryIO

from hidsctl.analysis.children import reap, roomy_pipe, signal_all
from hidsctl.analysis.readers import FRAME, DecodedReader, decoded_item
from hidsctl.analysis.run import (AlertFiles, AnalyzeSettings, fingerprinted, new_engine,
                                  run_engine)
from hidsctl.records import RecordReader

if TYPE_CHECKING:
    from pathlib import Path

    from hidsctl.analysis.engine import Engine
    from hidsctl.deadletter import DeadLetters

BATCH_LINES = 512     # lines in one chunk at most (a chunk is also cut when input runs dry)


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
    # Decoding process 0 reads the input and passes chunks to the others (to_decoders[k]
    # feeds process k + 1); every decoding process answers the first on from_decoders.
    fingerprinted(engine, settings)  # the decoding processes match ahead with this engine
    to_decoders = [roomy_pipe() for _ in range(workers - 1)]
    from_decoders = [roomy_pipe() for _ in range(workers)]
    pipes = to_decoders + from_decoders
    pids = [_fork((*(w for _, w in to_decoders), from_decoders[0][1]), pipes,
                  _reading_decoder_main, stdin, engine, settings,
                  [w for _, w in to_decoders], from_decoders[0][1])]
    for number in range(1, workers):
        keep = (to_decoders[number - 1][0], from_decoders[number][1])
        pids.append(_fork(keep, pipes, _decoder_main, engine, settings, *keep))
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


class Decoding:
    """A decoding process's work: each chunk of (line number, line) answered with one
    message: the fingerprint of the ruleset its rules were matched ahead with, and the
    decoded items. SIGHUP reloads the ruleset before the next chunk."""

    def __init__(self, engine: Engine, settings: AnalyzeSettings, guard: Any):
        self.settings, self.guard = settings, guard
        self.engine = _matching_ahead(engine)
        self.reload: list[bool] = []
        signal.signal(signal.SIGHUP, lambda *_: self.reload.append(True))

    def answer(self, numbers: list[int], lines: list[bytes]) -> bytes:
        if self.reload:
            self.reload.clear()
            self.engine = _reloaded(self.engine, self.settings)
        engine = self.engine
        items = [decoded_item(number, line, engine.decoders, self.guard, engine)
                 for number, line in zip(numbers, lines)]
        return marshal.dumps((engine.fingerprint, [item for item in items if item is not None]))


def _matching_ahead(engine: Engine) -> Engine:
    """``engine`` with a state that answers nothing (correlation.Stateless): matching with
    it gives the winner no state decides, and stops where state would."""
    from hidsctl.analysis.correlation import Stateless

    engine.state = Stateless(engine.plan)
    return engine


def _reading_decoder_main(stdin: BinaryIO, engine: Engine, settings: AnalyzeSettings,
                          forward: list[int], out_fd: int) -> int:
    """Decoding process 0: read the input; of each N chunks of lines, decode the first and
    pass the others, as (line numbers, lines), to decoding processes 1..N-1 in turn."""
    from hidsctl.analysis.budget import Guard

    _quiet_stdout()
    sinks = [os.fdopen(out_fd, "wb"), *(os.fdopen(fd, "wb") for fd in forward)]
    numbers: list[int] = []
    lines: list[bytes] = []
    turn = 0
    with Guard(settings.event_budget) as guard:
        decoding = Decoding(engine, settings, guard)

        def send() -> None:
            nonlocal turn
            if numbers:
                # Chunk k is answered (or passed on) before chunk k + 1 is read, so the
                # first process, which takes the answers in this order, never waits on
                # a chunk still unread here.
                frame = decoding.answer(numbers, lines) if turn == 0 \
                    else marshal.dumps((numbers, lines))
                _write_frame(sinks[turn], frame)
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


def _decoder_main(engine: Engine, settings: AnalyzeSettings, in_fd: int,
                  out_fd: int) -> int:
    """Decoding processes 1..N-1: answer each chunk process 0 passes on."""
    from hidsctl.analysis.budget import Guard

    _quiet_stdout()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the input is process 0's to read
    os.close(devnull)
    source = os.fdopen(in_fd, "rb")
    sink = os.fdopen(out_fd, "wb")
    with Guard(settings.event_budget) as guard:
        decoding = Decoding(engine, settings, guard)
        while (frame := _read_frame(source)) is not None:
            numbers, lines = marshal.loads(frame)
            _write_frame(sink, decoding.answer(numbers, lines))
    sink.close()
    return 0


def _quiet_stdout() -> None:
    """The first process's stdout is its own: a decoding process's goes nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _reloaded(engine: Engine, settings: AnalyzeSettings) -> Engine:
    """The ruleset as it is on disk now, to decode and match ahead with; the first process
    reports on the reload. One that does not load leaves the running one."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return _matching_ahead(fingerprinted(new_engine(settings), settings))
    except Exception:  # noqa: BLE001 - the first process says why; the old one stays
        return engine


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
