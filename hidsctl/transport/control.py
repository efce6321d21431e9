"""The control input of ``receive``: ``ar`` records to route to agents, read from stdin
(``-``), a FIFO, or a Unix socket that ``receive`` creates (one record per line)."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from typing import Any, BinaryIO, Callable

import orjson

from hidsctl import records
from hidsctl.errors import ConfigError, StateError
from hidsctl.transport.output import BoundedLog

Route = Callable[[dict[str, Any]], None]


async def start_control(path: str, route: Route, log: BoundedLog) -> None:
    loop = asyncio.get_running_loop()
    if path == "-":
        _reader_thread(loop, route, lambda: os.fdopen(0, "rb", closefd=False), "stdin", False)
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = 0
    except OSError as exc:  # a parent that is a file, or not searchable
        raise StateError(f"--control {path}: {exc.strerror or exc}") from None
    if stat.S_ISFIFO(mode):
        # Opened read-write, so the FIFO never reports end of input between writers.
        _reader_thread(loop, route, lambda: open(os.open(path, os.O_RDWR), "rb"), path, True)
        return
    if mode and not stat.S_ISSOCK(mode):
        raise ConfigError(f"--control {path}: not a FIFO or a Unix socket")
    try:
        if mode:
            os.unlink(path)  # a socket left by an earlier run
        _make_parents(path)
    except OSError as exc:
        raise StateError(f"--control {path}: {exc.strerror or exc}"
                         f"{f' ({exc.filename})' if exc.filename else ''}") from None

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = 0
        try:
            while line := await reader.readline():
                number += 1
                _route_line(line, number, path, route, log)
        finally:
            writer.close()

    try:
        await asyncio.start_unix_server(client, path, limit=records.MAX_LINE)
    except OSError as exc:  # no permission, or a path longer than a socket address holds
        raise StateError(f"--control {path}: cannot listen: {exc.strerror or exc}") from None
    os.chmod(path, 0o600)


def _make_parents(path: str) -> None:
    """Create the socket's missing directories (/run/hidsctl, say): searchable by all, as
    the socket's own mode (0600) is what keeps others out."""
    missing = []
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for directory in reversed(missing):
        os.mkdir(directory)
        os.chmod(directory, 0o755)


def _route_line(line: bytes, number: int, where: str, route: Route, log: BoundedLog) -> None:
    if not line.strip():
        return
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        log.report("bad_control", where, f"line {number}: not valid JSON", notice=False)
        return
    problem = records.validate(record)
    if problem:
        log.report("bad_control", where, f"line {number}: {problem}", notice=False)
        return
    route(record)


def _reader_thread(loop: asyncio.AbstractEventLoop, route: Route,
                   opener: Callable[[], BinaryIO], name: str, reopen: bool) -> None:
    def work() -> None:
        while True:
            with opener() as stream:
                for record in records.RecordReader(stream, name=name):
                    loop.call_soon_threadsafe(route, record)
            if not reopen:
                return

    threading.Thread(target=work, name=f"control {name}", daemon=True).start()
