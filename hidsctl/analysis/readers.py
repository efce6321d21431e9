"""analyze's input readers, compiled with the per-event modules (setup.py).

- ``HintingReader`` reads a stream of records, and says once what to do instead when the
  input is plain log lines;
- ``DecodedReader`` reads the chunks ``--workers N`` decoding processes answer with
  (pipeline.py), in input order, and hands each decoded event over with its record;
- ``decoded_item`` is the decoding process's side: what it answers for one line.
"""

from __future__ import annotations

import io
import marshal
import os
import select
import struct
from typing import Any, BinaryIO, Callable, Iterator

import orjson

from hidsctl.analysis.decoders import Decoder, DecoderSet
from hidsctl.analysis.engine import Engine
from hidsctl.analysis.events import NO_DECODER, Event, from_record
from hidsctl.analysis.predecode import Header
from hidsctl.errors import SourceLocation
from hidsctl.records import Record, RecordReader, local_agent, validate

PLAIN_TEXT_HINT = ("hidsctl analyze: hint: analyze reads JSON records; for plain log lines use "
                   "`hidsctl collect FILE | hidsctl analyze` or `hidsctl logtest`")

FRAME = struct.Struct("<I")  # each message: its length, then marshal data
# A decoding process's message for a chunk: (fingerprint of the ruleset it matched ahead
# with, items). An item: (DECODED, line, time, header, decoder key, fields, structured,
# winning rule id matched ahead or None) for a decoded ``log`` record; (WHOLE, line
# number, line) for any other line, which the first process checks and analyses itself.
# (The line, not the parsed record: orjson parses it again in less time than marshal
# loads the dict.)
DECODED, WHOLE = 0, 1
_STANDIN = SourceLocation("<decoded in another process>")
Item = tuple[Any, ...]
DecoderKey = tuple[Any, ...]


class HintingReader(RecordReader):
    """analyze's input reader: after the first line that is not JSON (plain log lines
    piped straight in, most often) it says once what to do instead."""

    def __init__(self, stream: BinaryIO | None = None, *,
                 before_block: Callable[[], None] | None = None):
        super().__init__(stream, before_block=before_block)
        self.hinted = False

    def report(self, line_no: int, problem: str) -> None:
        super().report(line_no, problem)
        if not self.hinted and problem.startswith("not valid JSON"):
            self.hinted = True
            try:
                print(PLAIN_TEXT_HINT, file=self.stderr, flush=True)
            except (BrokenPipeError, ValueError):
                pass


# --- the decoding process's side ----------------------------------------------------------------

def decoded_item(number: int, line: bytes, decoders: DecoderSet, guard: Any,
                 ahead: Engine | None = None) -> Item | None:
    """One line as the first process gets it back (None for a blank line). With
    ``ahead`` (an engine whose state is ``Stateless``), the event's winning rule comes too,
    when no state decides it."""
    from hidsctl.analysis.budget import OverBudget

    if not line or line.isspace():
        return None  # skipped without a word, as RecordReader skips it
    try:
        parsed: Any = orjson.loads(line)
    except orjson.JSONDecodeError:
        return (WHOLE, number, line)  # the first process reports it, in its words
    if not isinstance(parsed, dict) or parsed.get("type") != "log" or validate(parsed):
        return (WHOLE, number, line)
    record: Record = parsed
    try:
        guard.event = number
        ev = from_record(record)
        if ev is None:
            return (WHOLE, number, line)
        decoders.decode(ev)
        winner = None if ahead is None else ahead.match_ahead(ev)
    except (OverBudget, RecursionError, Exception):
        return (WHOLE, number, line)  # analysed again by the first process: it reports
    finally:
        guard.event = 0
    header = ev.header
    head = None if header is None else (header.log, header.hostname, header.program_name,
                                        header.timestamp)
    return (DECODED, line, ev.time, head, decoder_key(ev.decoder), ev.fields, ev.structured,
            winner)


def decoder_key(decoder: Decoder) -> DecoderKey | None:
    """What the rules and the alert read of a decoder (its attributes, not the object: the
    first process may have reloaded another ruleset a chunk earlier or later)."""
    if decoder is NO_DECODER:
        return None
    return (decoder.name, decoder.reported, decoder.parent_reported, decoder.type,
            tuple(decoder.fts))


# --- the first process's side: the decoders' chunks in order --------------------------------

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
        self.standins: dict[DecoderKey | None, Decoder] = {}
        self.waiting_fd: int | None = None
        self.ahead_by: str | None = None  # the fingerprint the chunk was matched ahead with

    def pairs(self) -> Iterator[tuple[bytes, Record]]:
        turn = 0
        while (frame := self._frame(turn)) is not None:
            turn = (turn + 1) % len(self.fds)
            items: list[Item]
            self.ahead_by, items = marshal.loads(frame)
            for item in items:
                if item[0] == WHOLE:
                    checked = self.checked(item[1], item[2])
                    if checked is not None:
                        yield item[2], checked
                    continue
                line: bytes = item[1]
                record: Record = orjson.loads(line)
                self.stats.records += 1
                self.prepared_for = record
                self.prepared = self._event(record, item)
                yield line, record

    def event(self, record: Record) -> Event | None:
        """The event of ``record``: the decoded one when it came decoded."""
        if record is self.prepared_for:
            ev, self.prepared, self.prepared_for = self.prepared, None, None
            return ev
        return from_record(record)

    def _event(self, record: Record, item: Item) -> Event:
        head: tuple[str, str | None, str | None, str | None] | None = item[3]
        key: DecoderKey | None = item[4]
        agent = record.get("agent")
        if not isinstance(agent, dict):
            agent = record["agent"] = local_agent()
        ev = Event(record, record.get("log", ""), record.get("location") or "stdin", agent,
                   item[2], None if head is None else Header(*head))
        decoder = self.standins.get(key)
        if decoder is None:
            decoder = self.standins[key] = _standin(key)
        ev.decoder = decoder
        ev.fields = item[5]
        ev.structured = item[6]
        ev.ahead = item[7]
        ev.ahead_by = self.ahead_by
        return ev

    def _frame(self, turn: int) -> bytes | None:
        """The next message from decoding process ``turn``; None at its end."""
        fd, buf = self.fds[turn], self.buffers[turn]
        while True:
            if len(buf) >= FRAME.size:
                size: int = FRAME.unpack_from(buf)[0]
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
            try:
                os.close(fd)
            except OSError:
                pass


def _standin(key: DecoderKey | None) -> Decoder:
    """A decoder with the attributes of the one a decoding process used. "No decoder" is
    a copy of NO_DECODER, not itself: the engine decodes events that have NO_DECODER."""
    if key is None:
        key = (NO_DECODER.name, NO_DECODER.reported, None, NO_DECODER.type, ())
    name, reported, parent, category, fts = key
    decoder = Decoder(name=name, where=_STANDIN, type=category, fts=list(fts))
    decoder.reported, decoder.parent_reported = reported, parent
    return decoder
