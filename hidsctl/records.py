"""The record contract: the one place that defines, reads, validates and writes records
(the schemas themselves are in schemas.py).

Every pipeline command reads and writes UTF-8 JSON, one object per line (docs/records.md).
A bad input line is reported on stderr as ``line N: what is wrong``, counted and skipped;
the stream goes on. Records of types a command does not handle pass through unchanged.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, BinaryIO, Callable, Iterator, TextIO

import msgspec
import orjson

from hidsctl import schemas

MAX_LINE = 1 << 20  # 1 MiB: a longer input line is rejected, never buffered whole
READ_CHUNK = 1 << 16

Record = dict[str, Any]

SYSCHECK_ATTRIBUTES = (
    "size", "mode", "uid", "gid", "uname", "gname", "mtime", "inode", "sha256", "sha1", "md5",
)


# --- schemas ------------------------------------------------------------------------------
# The Structs themselves are in schemas.py (which says why); what this module uses of them:

SCHEMAS = schemas.SCHEMAS
RECORD_TYPES = schemas.RECORD_TYPES
OtherRecord = schemas.OtherRecord


# --- time -------------------------------------------------------------------------------

def format_timestamp(epoch: float | None = None) -> str:
    """RFC 3339 UTC with milliseconds: 2026-11-25T13:50:47.123Z."""
    if epoch is None:
        epoch = time.time()
    millis_total = int(round(epoch * 1000))
    whole, millis = divmod(millis_total, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def now() -> str:
    return format_timestamp(time.time())


_ts_cache: dict[str, float] = {}
# Record times are 1970 up to the end of 9998: every calendar and file-name function handles
# those, whatever offset a hostile timestamp carries.
LAST_EPOCH = 253370764800.0  # 9999-01-01T00:00:00Z
_seconds: dict[str, int] = {}  # "2026-11-25T13:50:47" of records' own form -> epoch


def parse_timestamp(text: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp; ValueError when it is not one."""
    if len(text) == 24 and text[19] == "." and text[23] == "Z":
        # Records' own form, its second seen before: what the code below returns for it.
        seen = _seconds.get(text[:19])
        millis = text[20:23]
        if seen is not None and millis.isdigit() and millis.isascii():
            return (seen * 1000 + int(millis)) / 1000
    cached = _ts_cache.get(text)
    if cached is not None:
        return cached
    if len(text) == 24 and text[19] == "." and text[23] == "Z":
        # Records' own form (format_timestamp): the whole second is parsed once and cached,
        # the milliseconds added, as exactly as datetime.timestamp() would (a + m/1000
        # correctly rounded). Distinct texts are the rule here, one a millisecond apart.
        millis = text[20:23]
        if millis.isascii() and millis.isdigit():
            second = text[:19] + "Z"
            whole = _ts_cache.get(second)
            if whole is None:
                try:
                    whole = _parse_timestamp(second)
                except ValueError:
                    whole = None
            if whole is not None:
                if len(_seconds) > 4096:
                    _seconds.clear()
                _seconds[text[:19]] = int(whole)
                return (int(whole) * 1000 + int(millis)) / 1000
    return _parse_timestamp(text)


def _parse_timestamp(text: str) -> float:
    value = text
    if value.endswith(("+0000", "-0000")):  # Wazuh writes +0000; accept it
        value = value[:-5] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        epoch = parsed.timestamp()
    except (OverflowError, ValueError):
        raise ValueError(f"{text!r} is out of range") from None
    if not 0 <= epoch < LAST_EPOCH:
        raise ValueError(f"{text!r} is out of range")
    if len(_ts_cache) > 4096:
        _ts_cache.clear()
    _ts_cache[text] = epoch
    return epoch


def record_time(record: Record) -> float:
    """The record's own time; the wall clock when it has none usable."""
    stamp = record.get("timestamp")
    if isinstance(stamp, str):
        try:
            return parse_timestamp(stamp)
        except ValueError:
            pass
    return time.time()


# --- agents -----------------------------------------------------------------------------

_local_agent: dict[str, str] | None = None


LOCAL_ID = "000"  # the host itself, as an agent


def local_agent() -> dict[str, str]:
    """The host itself, agent 000, as every locally produced record names it."""
    global _local_agent
    if _local_agent is None:
        _local_agent = {"id": LOCAL_ID, "name": socket.gethostname(), "ip": "127.0.0.1"}
    return dict(_local_agent)


def agent_id_of(agent: object) -> str:
    """Whose a record is, from its ``agent``: a record without an agent (or without an
    id) is the local host's, agent 000, as analysis reads it."""
    return str(agent.get("id", LOCAL_ID)) if isinstance(agent, dict) else LOCAL_ID


def agent_id(value: int | str) -> str:
    """Agent ids are zero-padded strings everywhere: 1 -> '001'."""
    text = str(value).strip()
    if not text.isdigit():
        raise ValueError(f"agent id must be digits, not {value!r}")
    return text.zfill(3)


# --- building and validating --------------------------------------------------------------

def make(record_type: str, *, agent: dict[str, Any] | None = None, timestamp: str | None = None,
         **fields: Any) -> Record:
    """A new record with the common fields filled in."""
    record: Record = {
        "type": record_type,
        "timestamp": timestamp or now(),
        "agent": agent if agent is not None else local_agent(),
    }
    record.update(fields)
    return record


def validate(record: Any) -> str | None:
    """What is wrong with a record, or None. Unknown types only need the common fields."""
    if record.__class__ is not dict:
        return f"not a JSON object but {type(record).__name__}"
    rtype = record.get("type")
    if rtype.__class__ is not str or not rtype:
        return "missing 'type'"
    if rtype == "log" and _plain_log(record):
        return None
    try:
        # convert() of the parsed dict against one Struct: ~0.2 us a log record, cheaper than
        # decoding the line a second time or converting against the whole union (bench/analyze).
        _convert(record, SCHEMAS.get(rtype, OtherRecord))
    except msgspec.ValidationError as exc:
        return schema_problem(rtype, str(exc))
    return None


_convert = msgspec.convert
_good_ids: set[str] = set()  # agent ids LogRecord has accepted


def _plain_log(record: Record) -> bool:
    """Whether a ``log`` record parsed from JSON is of the usual form, with every field it
    has as LogRecord types it: checked here, in half of convert()'s time (each input line is
    one). Any other record, good or bad, is left to convert(), which words the problem."""
    get = record.get
    if get("log").__class__ is not str or get("location").__class__ is not str:
        return False
    stamp = get("timestamp")
    if stamp is not None and stamp.__class__ is not str:
        return False
    agent = get("agent")
    if agent is not None:
        if agent.__class__ is not dict:
            return False
        got = agent.get("id")
        name = agent.get("name")
        ip = agent.get("ip")
        if got is not None and (got.__class__ is not str or got not in _good_ids
                                and not _good_id(got)) or \
                name is not None and name.__class__ is not str or \
                ip is not None and ip.__class__ is not str:
            return False
    return not ("data" in record or "truncated" in record or "format" in record)


def _good_id(value: Any) -> bool:
    """Whether an agent id passes Agent's check (then it is remembered)."""
    try:
        _convert({"id": value}, schemas.Agent)
    except msgspec.ValidationError:
        return False
    if len(_good_ids) > 4096:
        _good_ids.clear()
    _good_ids.add(value)
    return True


_AT = re.compile(r"(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?", re.S)
_MISSING = re.compile(r"Object missing required field `(?P<name>.*)`", re.S)
MAX_PROBLEM = 300  # characters of a value quoted in a problem report


def schema_problem(rtype: str, message: str) -> str:
    """msgspec's message as ``field PATH: expected object, got array`` (``PATH`` such as
    ``rule.groups[0]``), or ``TYPE record without 'PATH'`` for a missing field."""
    found = _AT.fullmatch(message)
    what, path = (found["what"], (found["path"] or "").lstrip(".")) if found else (message, "")
    missing = _MISSING.fullmatch(what)
    if missing:
        name = f"{path}.{missing['name']}" if path else missing["name"]
        return printable(f"{rtype} record without {name!r}")
    what = what.replace("`", "").replace(" | null", "")
    what = what[:1].lower() + what[1:]
    return printable(f"field {path}: {what}" if path else what)


def printable(text: str) -> str:
    """``text`` on one line of printable characters (escapes for the rest), cut short: a
    report quoting a hostile value cannot forge lines or flood the terminal."""
    if len(text) > MAX_PROBLEM:
        text = text[:MAX_PROBLEM] + "..."
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def fill_defaults(record: Record) -> Record:
    """Give a hand-written record the common fields it left out."""
    if "timestamp" not in record:
        record["timestamp"] = now()
    if "agent" not in record:
        record["agent"] = local_agent()
    return record


# --- supervisor checkpoints ---------------------------------------------------------------

CHECKPOINT = "checkpoint"
CHECKPOINT_TAG = b'"checkpoint"'  # in every checkpoint line: a cheap test before parsing


def checkpoint_record(line: bytes) -> Record | None:
    """The record of a supervisor's ``checkpoint`` line, else None; cheap for every other
    line."""
    if CHECKPOINT_TAG not in line:
        return None
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if isinstance(record, dict) and record.get("type") == CHECKPOINT:
        return record
    return None


def parse_checkpoint(line: bytes) -> tuple[str, int] | None:
    """(queue, offset) of a supervisor's ``checkpoint`` record line, else None."""
    record = checkpoint_record(line)
    if record is None:
        return None
    try:
        return str(record.get("queue")), int(record.get("offset", 0))
    except (TypeError, ValueError):
        return None


# --- reading ------------------------------------------------------------------------------

@dataclass
class InputStats:
    lines: int = 0
    records: int = 0
    bad: int = 0
    problems: list[str] = field(default_factory=list)


class RecordReader:
    """Reads JSON-lines records from a binary stream, reporting and skipping bad lines.

    Reading is chunked: before each read that may block, ``before_block`` runs (commands
    pass their writer's flush), so output is flushed exactly when the input runs dry.
    """

    def __init__(self, stream: BinaryIO | None = None, *, name: str = "",
                 stderr: TextIO | None = None, before_block: Callable[[], None] | None = None,
                 strict_types: bool = True):
        self.stream = stream if stream is not None else sys.stdin.buffer
        self.name = name
        self.stderr = stderr if stderr is not None else sys.stderr
        self.before_block = before_block
        self.strict_types = strict_types
        self.stats = InputStats()

    def report(self, line_no: int, problem: str) -> None:
        self.stats.bad += 1
        prefix = f"{self.name}: " if self.name else ""
        message = f"{prefix}line {line_no}: {problem}"
        if len(self.stats.problems) < 100:
            self.stats.problems.append(message)
        try:
            print(message, file=self.stderr, flush=True)
        except (BrokenPipeError, ValueError):
            pass

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, raw line without newline); over-long lines are reported here."""
        fd = _fileno(self.stream)
        pending = b""
        skipping = False  # inside a line already reported as too long
        line_no = 0
        while True:
            if self.before_block is not None:
                self.before_block()
            # a stream without a descriptor is an in-memory io.BufferedIOBase: it has read1
            chunk = os.read(fd, READ_CHUNK) if fd is not None \
                else self.stream.read1(READ_CHUNK)  # type: ignore[union-attr]
            if not chunk:
                break
            start = 0
            data = pending + chunk if pending else chunk
            pending = b""
            while True:
                end = data.find(b"\n", start)
                if end < 0:
                    rest = data[start:]
                    if skipping:
                        break
                    if len(rest) > MAX_LINE:
                        line_no += 1
                        self.report(line_no, f"longer than {MAX_LINE} bytes; skipped")
                        skipping = True
                    else:
                        pending = rest
                    break
                if skipping:
                    skipping = False
                else:
                    line_no += 1
                    if end - start > MAX_LINE:
                        self.report(line_no, f"longer than {MAX_LINE} bytes; skipped")
                    else:
                        yield line_no, data[start:end]
                start = end + 1
        if pending and not skipping:
            line_no += 1
            yield line_no, pending
        self.stats.lines = line_no

    def __iter__(self) -> Iterator[Record]:
        for _raw, record in self.pairs():
            yield record

    def pairs(self) -> Iterator[tuple[bytes, Record]]:
        """Each good record with its raw line (without newline), for passing it on as is."""
        checked = self.checked
        for line_no, raw in self.lines():
            if not raw or raw.isspace():
                continue
            record = checked(line_no, raw)
            if record is not None:
                yield raw, record

    def checked(self, line_no: int, raw: bytes) -> Record | None:
        """The record of one non-blank line, or None when it is reported as bad."""
        try:
            # Any JSON value (an array, a number): validate() names what a non-object is. Typed
            # Record only once checked, as compiled code (mypyc) enforces a variable's type.
            parsed: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self.report(line_no, _json_problem(raw, exc))
            return None
        problem = validate(parsed) if self.strict_types else (
            None if isinstance(parsed, dict) and isinstance(parsed.get("type"), str)
            else validate(parsed))
        if problem:
            self.report(line_no, problem)
            return None
        self.stats.records += 1
        record: Record = parsed
        return record


def _json_problem(raw: bytes, exc: Exception) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"not valid UTF-8 (byte {err.start})"
    return f"not valid JSON ({str(exc).split(':')[0]})"


def _fileno(stream: Any) -> int | None:
    try:
        number: int = stream.fileno()
        return number
    except (AttributeError, OSError, ValueError):
        return None


# --- writing ------------------------------------------------------------------------------

class RecordWriter:
    """Writes records as JSON lines. ``flush`` is cheap when nothing is pending.

    A closed pipe downstream (``hidsctl ... | head``) ends the command quietly.
    """

    def __init__(self, stream: BinaryIO | None = None, *, line_buffered: bool = False):
        self.stream = stream if stream is not None else sys.stdout.buffer
        self.line_buffered = line_buffered
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.written = 0

    def write(self, record: Record) -> None:
        self.write_line(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE,
                                     default=_json_default))

    def write_raw(self, line: bytes) -> None:
        """Pass an already serialised record through untouched (newline added)."""
        self.write_line(line + b"\n")

    def write_line(self, line: bytes) -> None:
        """An already serialised record that ends with its newline."""
        self.pending.append(line)
        self.pending_bytes += len(line)
        self.written += 1
        if self.line_buffered or self.pending_bytes >= READ_CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        data = b"".join(self.pending)
        self.pending.clear()
        self.pending_bytes = 0
        try:
            self.stream.write(data)
            self.stream.flush()
        except BrokenPipeError:
            _quiet_exit_on_broken_pipe()


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write {type(value).__name__} in a record")


def dumps(record: Record) -> bytes:
    """One record as a JSON line (with newline)."""
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE, default=_json_default)


def _quiet_exit_on_broken_pipe() -> None:
    # Point stdout at /dev/null so the interpreter's final flush does not raise again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
    raise SystemExit(0)
