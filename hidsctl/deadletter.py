"""Dead letters: records a component could not handle, set aside so the stream moves on.

A record that passes its schema can still meet a case an output, ``respond`` or ``analyze``
cannot handle. Such a record is appended, with what went wrong, to
``STATE_DIR/deadletter/COMPONENT.jsonl``; a ``notice`` record (code ``dead_letter``) says so,
and the component goes on with the next record. A poison record therefore never stops a
pipeline, never restarts a supervised component forever and never stays at the head of a
durable queue. Each file is bounded: past ``MAX_BYTES`` it becomes ``COMPONENT.jsonl.1``
(replacing the older one) and a new file starts.

Failures of the machine itself (``OSError``: a full disk, a lost connection) are not the
record's fault and are never dead-lettered: they end the command as before.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from hidsctl.diagnostics import logger
from hidsctl.records import Record, make, now, printable

MAX_BYTES = 16 << 20
NOT_THE_RECORDS_FAULT = (OSError, MemoryError)


class DeadLetters:
    def __init__(self, directory: str | os.PathLike | None, component: str, *,
                 max_bytes: int = MAX_BYTES):
        """``directory`` None: no file, the record is only reported (in-process callers)."""
        self.path = Path(directory) / f"{component}.jsonl" if directory is not None else None
        self.component = component
        self.max_bytes = max_bytes
        self.count = 0

    def put(self, record: Any, problem: BaseException | str) -> Record:
        """Keep ``record`` aside; the notice record that reports it."""
        if isinstance(problem, BaseException):
            problem = f"{type(problem).__name__}: {problem}"
        problem = printable(problem)
        self.count += 1
        if self.path is None:
            where = "skipped"
        elif self._append(_line(self.component, problem, record)):
            where = f"kept in {self.path}"
        else:
            where = f"could not be kept in {self.path}"
        message = f"record could not be handled ({problem}); {where}"
        logger(self.component).warning(message)
        return make("notice", component=self.component, code="dead_letter", count=1,
                    message=message, location=str(self.path or ""))

    def _append(self, line: bytes) -> bool:
        """One write with O_APPEND, then fsync: durable before the caller moves past it."""
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                size = os.stat(self.path).st_size
            except FileNotFoundError:
                size = 0
            if size and size + len(line) > self.max_bytes:
                os.replace(self.path, f"{self.path}.1")
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            return True
        except OSError as exc:
            logger(self.component).error(f"cannot write {self.path}: {exc.strerror or exc}")
            return False


def _line(component: str, problem: str, record: Any) -> bytes:
    entry = {"time": now(), "component": component, "problem": problem, "record": record}
    try:
        return orjson.dumps(entry, default=repr, option=orjson.OPT_APPEND_NEWLINE)
    except (TypeError, orjson.JSONEncodeError):
        entry["record"] = printable(repr(record))
        return orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)


def for_state(state_dir: str | os.PathLike, component: str) -> DeadLetters:
    """The dead letters of ``component`` under a state directory."""
    return DeadLetters(Path(state_dir) / "deadletter", component)
