"""The control input of ``receive``: ``ar`` records to route to agents, read from stdin
(``-``), a FIFO, or a Unix socket that ``receive`` creates (one record per line)."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from typing import Any, Callable

import orjson

from hidsctl import records
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
    if stat.S_ISFIFO(mode):
        # Opened read-write, so the FIFO never reports end of input between writers.
        _reader_thread(loop, route, lambda: open(os.open(path, os.O_RDWR), "rb"), path, True)
        return
    if mode and not stat.S_ISSOCK(mode):
        from hidsctl.errors import ConfigError
        raise ConfigError(f"--control {path}: not a FIFO or a Unix socket")
    if mode:
        os.unlink(path)  # a socket left by an earlier run

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = 0
        try:
            while line := await reader.readline():
                number += 1
                _route_line(line, number, path, route, log)
        finally:
            writer.close()

    await asyncio.start_unix_server(client, path, limit=records.MAX_LINE)
    os.chmod(path, 0o600)


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


def _reader_thread(loop: asyncio.AbstractEventLoop, route: Route, opener, name: str,
                   reopen: bool) -> None:
    def work() -> None:
        while True:
            with opener() as stream:
                for record in records.RecordReader(stream, name=name):
                    loop.call_soon_threadsafe(route, record)
            if not reopen:
                return

    threading.Thread(target=work, name=f"control {name}", daemon=True).start()
