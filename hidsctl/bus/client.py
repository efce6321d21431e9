"""Connecting to NATS and preparing streams; a sync wrapper for callers without a loop.

nats-py is asyncio only. ``receive`` and ``analyze --group`` run on their own loop and use
the async functions here; ``SyncBus`` runs a loop in a thread for synchronous callers.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from typing import Any, Sequence

from hidsctl.bus import partition
from hidsctl.bus.address import BusAddress
from hidsctl.diagnostics import logger
from hidsctl.errors import ConfigError, HidsError

CONNECT_DEADLINE = 10.0  # seconds for the first connection to any listed server
ACK_TIMEOUT = 30.0  # seconds to wait for JetStream to store what was published
DUPLICATE_WINDOW = 600.0  # seconds JetStream remembers a Nats-Msg-Id to drop a resend
# A cluster just started (or loaded) may take long to elect the leaders of new replicated
# streams and buckets: meanwhile requests time out or find nothing. Setup retries this long.
SETUP_DEADLINE = 120.0


async def connect(address: BusAddress, name: str) -> Any:
    """A connected nats-py client, reconnecting (to any listed server) for ever after.

    The first connection fails at once when every listed server refuses it (nothing
    listens there: waiting would not help), and after CONNECT_DEADLINE seconds when some
    server does not answer (a firewall, a host down, a server still starting)."""
    import nats

    log = logger(name)
    reported: dict[str, bool] = {}
    refused: set[int] = set()  # which of the first round of attempts were refused
    attempts = [0]
    all_refused = asyncio.get_running_loop().create_future()

    async def on_error(exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"
        if not reported.get(text):  # one line per distinct error, not one per retry
            reported[text] = True
            log.warning(f"NATS: {text}")
        # nats-py tries the listed servers in turn: the first len(servers) errors are
        # one attempt on each of them.
        if attempts[0] < len(address.servers):
            if isinstance(exc, ConnectionRefusedError):
                refused.add(attempts[0])
            attempts[0] += 1
            if len(refused) == len(address.servers) and not all_refused.done():
                all_refused.set_result(str(exc))

    async def on_reconnect() -> None:
        reported.clear()
        log.info("NATS: reconnected")

    # Once connected it reconnects for ever; the first connection gets a deadline.
    connecting = asyncio.ensure_future(nats.connect(
        servers=list(address.servers), name=f"hidsctl {name}", connect_timeout=5,
        max_reconnect_attempts=-1, reconnect_time_wait=0.5, error_cb=on_error,
        reconnected_cb=on_reconnect, allow_reconnect=True))
    await asyncio.wait([connecting, all_refused], timeout=CONNECT_DEADLINE,
                       return_when=asyncio.FIRST_COMPLETED)
    if connecting.done():
        try:
            return connecting.result()
        except Exception as exc:  # nats-py raises several unrelated classes here
            why = str(exc) or type(exc).__name__
    else:
        connecting.cancel()
        await asyncio.gather(connecting, return_exceptions=True)
        why = (f"connection refused ({all_refused.result()})" if all_refused.done()
               else f"no answer within {CONNECT_DEADLINE:g} s")
    raise HidsError(f"cannot connect to NATS at {address}: {why}")


async def ensure_stream(js: Any, stream: str, partitions: int | None,
                        replicas: int | None = None) -> int:
    """Create the partitioned stream if it is missing; returns its partition count.

    An existing stream keeps its count: ``partitions`` (when given) must match it.
    ``replicas`` (1 by default) is how many servers of a NATS cluster hold the stream."""
    from nats.js.api import StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        info = None
    except Exception as exc:  # no JetStream on the server (no responders), timeouts, …
        raise HidsError(f"stream {stream}: JetStream does not answer ({str(exc) or type(exc).__name__}); "
                        "is it enabled (nats-server -js)?") from None
    if info is not None:
        count = partition.count_from(info.config.description)
        if count is None:
            raise ConfigError(f"stream {stream} exists but was not made by hidsctl "
                              "(no partition count in its description)")
        if partitions is not None and partitions != count:
            raise ConfigError(f"stream {stream} has {count} partitions, not {partitions}")
        return count
    count = partitions or partition.DEFAULT_PARTITIONS
    if not 1 <= count <= partition.MAX_PARTITIONS:
        raise ConfigError(f"partitions must be 1..{partition.MAX_PARTITIONS}")
    config = StreamConfig(name=stream, subjects=[partition.wildcard(stream)],
                          description=partition.describe(count), storage=StorageType.FILE,
                          duplicate_window=DUPLICATE_WINDOW, num_replicas=replicas or 1)
    try:
        await js.add_stream(config)
    except Exception as exc:
        # Another process may have created it meanwhile: then read what it made.
        try:
            info = await js.stream_info(stream)
        except Exception:
            raise HidsError(f"cannot create stream {stream}: {exc}") from None
        return partition.count_from(info.config.description) or count
    return count


async def retrying(make, say, deadline: float = SETUP_DEADLINE):
    """``await make()`` again until it succeeds or ``deadline`` seconds pass; ``say`` gets
    each distinct failure once. Our own configuration errors are not retried."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    said = ""
    while True:
        try:
            return await make()
        except ConfigError:
            raise
        except Exception as exc:
            if loop.time() >= end:
                raise
            why = str(exc) or type(exc).__name__
            if why != said:
                said = why
                say(f"JetStream not ready ({why}); retrying")
        await asyncio.sleep(1.0)


def quiet_loop(loop: asyncio.AbstractEventLoop, name: str) -> None:
    """Report as one line what asyncio or nats-py would log with a traceback: an exception
    nobody awaited (nats-py's background tasks while a server is away), or one nats-py's
    read loop hit while handling what the server sent (it logs it, then reconnects)."""
    def say(text: str) -> None:
        logger(name).warning(f"NATS: {text}")

    def on_loop_error(_loop, context: dict) -> None:
        exc = context.get("exception")
        say(f"{type(exc).__name__}: {exc}" if exc is not None
            else str(context.get("message", "an error in the event loop")))

    class OneLine(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            exc = record.exc_info[1] if record.exc_info else None
            say(record.getMessage() + (f": {type(exc).__name__}: {exc}" if exc else ""))

    loop.set_exception_handler(on_loop_error)
    nats_log = logging.getLogger("nats")
    nats_log.handlers[:] = [OneLine(logging.WARNING)]
    nats_log.propagate = False


async def replicas_of(js: Any, stream: str) -> int:
    info = await js.stream_info(stream)
    return info.config.num_replicas or 1


class SyncBus:
    """A NATS connection on a private event loop thread, called synchronously."""

    def __init__(self, address: BusAddress, name: str):
        self.address = address
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="nats")
        self.thread.start()
        try:
            self.nc = self.call(connect(address, name))
        except BaseException:
            self._stop()
            raise
        self.js = self.nc.jetstream()

    def call(self, coro, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def ensure_stream(self, partitions: int | None = None, replicas: int | None = None) -> int:
        return self.call(ensure_stream(self.js, self.address.stream, partitions, replicas))

    def publish(self, subject: str, data: bytes, msg_id: str | None = None):
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        return self.call(self.js.publish(subject, data, headers=headers))

    def messages(self, subject: str | None = None, idle: float = 1.0) -> list[Any]:
        """Every message now in the stream (on ``subject``), oldest first."""
        return self.call(read_all(self.js, self.address.stream, subject, idle))

    def close(self) -> None:
        try:
            self.call(self.nc.close(), timeout=10)
        finally:
            self._stop()

    def _stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def __enter__(self) -> "SyncBus":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


async def read_all(js: Any, stream: str, subject: str | None, idle: float) -> list[Any]:
    """The stream's messages (on ``subject``) up to its last sequence at the time of the
    call; ``idle`` seconds without a message end it early."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    info = await js.stream_info(stream)
    last = info.state.last_seq
    out: list[Any] = []
    if info.state.messages == 0:
        return out
    sub = await js.pull_subscribe(subject or f"{stream}.>", stream=stream, config=ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30))
    try:
        # How many messages the filter matches: the stream's last one may be on another
        # subject, and waiting for it would cost the whole idle time.
        pending = (await sub.consumer_info()).num_pending
        while len(out) < pending:
            try:
                batch = await sub.fetch(min(256, pending - len(out)), timeout=idle)
            except asyncio.TimeoutError:
                return out
            for msg in batch:
                if msg.metadata.sequence.stream > last:
                    return out
                out.append(msg)
        return out
    finally:
        await sub.unsubscribe()


class Publisher:
    """Pipelined JetStream publishing. A batch's messages go out back to back, each with a
    reply subject under one inbox subscription, and the batch waits once for all their
    PubAcks. nats-py's ``publish_async`` does the same, but per message it takes a
    semaphore under ``wait_for``, draws a random token and builds a future and a PubAck
    object: most of a member's and a receiver's CPU per event went there."""

    def __init__(self, nc: Any):
        self.nc = nc
        self.prefix = ""
        self.counter = 0
        self.waiting: dict[int, _Batch] = {}

    async def start(self) -> None:
        self.prefix = self.nc.new_inbox() + "."
        await self.nc.subscribe(self.prefix + "*", cb=self._reply)

    async def publish(self, messages: Sequence[tuple[str, bytes, str | None]],
                      timeout: float = ACK_TIMEOUT) -> None:
        """Publish (subject, payload, Nats-Msg-Id or None) in order; return once JetStream
        stored each of them, raise on the first refusal or after ``timeout`` seconds."""
        await self.confirm(await self.send(messages), timeout)

    async def send(self, messages: Sequence[tuple[str, bytes, str | None]]) -> _Batch:
        """The sending half of ``publish``: once it returns, later sends follow these."""
        batch = _Batch(self.counter, len(messages))
        self.counter = batch.end
        try:
            for n, (subject, data, msg_id) in enumerate(messages, batch.first):
                self.waiting[n] = batch
                await self.nc.publish(subject, data, reply=f"{self.prefix}{n}",
                                      headers={"Nats-Msg-Id": msg_id} if msg_id else None)
        except BaseException:
            self._forget(batch)
            raise
        return batch

    async def confirm(self, batch: _Batch, timeout: float = ACK_TIMEOUT) -> None:
        """The waiting half of ``publish``."""
        if batch.left == 0:
            return
        try:
            await asyncio.wait_for(batch.done, timeout)
        finally:
            self._forget(batch)

    def _forget(self, batch: _Batch) -> None:
        if batch.left:  # acks that never came (or came after a refusal)
            for n in range(batch.first, batch.end):
                if self.waiting.get(n) is batch:
                    del self.waiting[n]

    async def _reply(self, msg: Any) -> None:
        try:
            batch = self.waiting.pop(int(msg.subject[len(self.prefix):]), None)
        except ValueError:
            return
        if batch is None or batch.done.done():
            return
        error = _refusal(msg)
        if error is not None:
            batch.done.set_exception(HidsError(f"JetStream did not store a message: {error}"))
            return
        batch.left -= 1
        if batch.left == 0:
            batch.done.set_result(None)


class _Batch:
    __slots__ = ("first", "end", "left", "done")

    def __init__(self, first: int, count: int):
        self.first, self.end, self.left = first, first + count, count
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


def _refusal(msg: Any) -> str | None:
    """Why a PubAck reply says the message was not stored, or None if it was."""
    import orjson

    headers = msg.headers or {}
    if headers.get("Status"):  # 503: no stream listens on the subject
        return f"status {headers['Status']} {headers.get('Description', '')}".strip()
    try:
        reply = orjson.loads(msg.data)
    except orjson.JSONDecodeError:
        return f"not a PubAck: {bytes(msg.data[:80])!r}"
    if not isinstance(reply, dict) or "stream" not in reply and "error" not in reply:
        return f"not a PubAck: {bytes(msg.data[:80])!r}"
    error = reply.get("error")
    if error is not None:
        return f"{error.get('description', error)} (code {error.get('err_code', '?')})" \
            if isinstance(error, dict) else str(error)
    return None


class Inbox:
    """A push subscription's messages, handed out in batches. Its callback ``put`` waits
    while ``limit`` messages are held, so the rest stay queued in nats-py (and the server's
    flow control applies) as with ``next_msg``, which costs a task and a timer per message."""

    def __init__(self, limit: int):
        self.limit = limit
        self.items: collections.deque[Any] = collections.deque()
        self.arrived = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()

    async def put(self, msg: Any) -> None:
        while len(self.items) >= self.limit:
            self.room.clear()
            await self.room.wait()
        self.items.append(msg)
        self.arrived.set()

    async def take(self, most: int, timeout: float) -> list[Any]:
        """Up to ``most`` messages; waits up to ``timeout`` s for the first one."""
        if not self.items:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout)
            except asyncio.TimeoutError:
                return []
        items = self.items
        batch = [items.popleft() for _ in range(min(most, len(items)))]
        self.room.set()
        return batch
