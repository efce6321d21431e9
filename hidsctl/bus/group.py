"""``analyze --from nats://…/IN --group NAME --to nats://…/ALERTS``: one member of an
analysis group. The members share the input stream's partitions between them.

Leases. A KV bucket ``<IN>_<GROUP>_leases`` whose entries expire ``lease_ttl`` seconds
after their last write holds ``member.<id>`` (each member's heartbeat) and
``partition.<n>`` (who owns partition n). A member renews what it owns every third of the
TTL with a compare-and-set on the revision it wrote; one that fails has lost the
partition and stops it at once. Every member aims at its share, ceil(partitions /
members alive): it takes free partitions (create: only if the key is absent, so two
members never both win) and hands back the ones above its share (snapshot, then delete).
A member that dies stops renewing; its leases expire and the others take them over.

State. Per partition, the correlation state and the last input sequence whose output is
all stored go to ``<IN>_<GROUP>_state`` under ``partition.<n>`` (snapshot.py), every
``snapshot_interval`` seconds, when a partition is handed back and at shutdown; written
with a compare-and-set on the revision the owner read, so a member that lost a
partition without noticing yet cannot overwrite its successor's state.

Input and output. An owner reads its partition through an ordered consumer starting
after the snapshot's sequence, analyses each record as ``hidsctl analyze`` does, and
publishes what analyze would write (alerts, records passed through) on the same
partition of the output stream with ``Nats-Msg-Id`` ``<IN>.<partition>.<input seq>.<index>``.
A successor replaying from an older snapshot therefore rebuilds the same state and makes
the same output under the same ids, which JetStream drops inside its duplicate window.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from hidsctl import origin
from hidsctl.bus import client, partition
from hidsctl.bus.address import BusAddress
from hidsctl.bus.snapshot import Codec, capture, install
from hidsctl.diagnostics import logger
from hidsctl.errors import HidsError, UsageError

GROUP_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
BATCH = 256  # input messages analysed between two installs of a partition's state


@dataclass
class GroupSettings:
    source: BusAddress
    group: str
    sink: BusAddress
    lease_ttl: float = 10.0
    snapshot_interval: float = 30.0
    min_level: int = 1
    event_budget: float = 50.0  # CPU ms one event may take, as in `hidsctl analyze`
    # host-pid-random: containers may share a host name and a pid
    member: str = field(default_factory=lambda: re.sub(
        r"[^A-Za-z0-9_-]", "_", socket.gethostname()) + f"-{os.getpid()}-{secrets.token_hex(3)}")

    def check(self) -> None:
        if not GROUP_NAME.fullmatch(self.group):
            raise UsageError(f"--group {self.group!r}: only letters, digits, '_' and '-'")
        if self.sink.stream == self.source.stream:
            raise UsageError("--to must name another stream than --from")
        if self.lease_ttl < 1:
            raise UsageError("--lease-ttl must be at least 1 second")


class Lost(Exception):
    """The partition now belongs to another member."""


@dataclass(eq=False)
class Owned:
    number: int
    lease_rev: int
    state_rev: int = 0        # revision of the state key this member read or wrote last
    last_seq: int = 0         # last input sequence whose output is all stored
    state: Any = None
    snapshot_seq: int = 0
    snapshot_at: float = 0.0
    stopping: bool = False    # hand back: snapshot at the next record boundary and stop
    lost: bool = False        # taken by another member: stop without writing anything
    task: asyncio.Task | None = None


class Member:
    def __init__(self, settings: GroupSettings, engine, guard=None):
        from hidsctl.analysis.budget import Guard

        self.settings = settings
        self.engine = engine
        # The per-event budget's marker; run() arms it (an unarmed Guard never interrupts).
        self.guard = guard if guard is not None else Guard(settings.event_budget)
        self.events = 0
        self.codec = Codec(engine)
        self.owned: dict[int, Owned] = {}
        self.count = 0
        self.nc_in: Any = None
        self.nc_out: Any = None

    def say(self, text: str) -> None:
        logger("analyze").info(text)

    # --- running ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        self.nc_in = await client.connect(s.source, "analyze")
        self.nc_out = self.nc_in if s.sink.servers == s.source.servers else \
            await client.connect(s.sink, "analyze")
        self.js_in, self.js_out = self.nc_in.jetstream(), self.nc_out.jetstream()
        self.publisher = client.Publisher(self.nc_out)
        await self.publisher.start()
        await client.retrying(self.setup, self.say)
        self.say(f"member {s.member} of group {s.group}: {s.source} -> {s.sink} "
                 f"({self.count} partitions)")
        trouble = ""
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                    if trouble:
                        self.say("the lease bucket answers again")
                        trouble = ""
                except Exception as exc:  # the bus away: retried next tick, leases lapse
                    if _why(exc) != trouble:  # once per distinct error, not per tick
                        trouble = _why(exc)
                        self.say(f"cannot reach the lease bucket: {trouble}")
                try:
                    await asyncio.wait_for(stop.wait(), s.lease_ttl / 3)
                except asyncio.TimeoutError:
                    pass
        finally:
            await self.shutdown()

    async def setup(self) -> None:
        """Find or make the streams and the group's buckets; safe to run again."""
        s = self.settings
        self.count = await client.ensure_stream(self.js_in, s.source.stream, None)
        # The output stream and the group's buckets are as replicated as the input.
        replicas = await client.replicas_of(self.js_in, s.source.stream)
        await client.ensure_stream(self.js_out, s.sink.stream, self.count, replicas)
        prefix = f"{s.source.stream}_{s.group}"
        self.leases = await _bucket(self.js_in, f"{prefix}_leases", s.lease_ttl, replicas)
        self.states = await _bucket(self.js_in, f"{prefix}_state", None, replicas)

    async def tick(self) -> None:
        """Heartbeat, renew, drop what failed, and move towards this member's share."""
        s = self.settings
        await self.leases.put(f"member.{s.member}", b"")
        for owned in list(self.owned.values()):
            if owned.task is not None and owned.task.done():
                self._finished(owned)
                continue
            try:
                owned.lease_rev = await self.leases.update(
                    f"partition.{owned.number}", s.member.encode(), last=owned.lease_rev)
            except Exception as exc:
                self.say(f"partition {owned.number}: lease lost ({_why(exc)}); stopping it")
                owned.lost = True
                del self.owned[owned.number]
        members = [k for k in await _keys(self.leases) if k.startswith("member.")]
        share = math.ceil(self.count / max(1, len(members)))
        active = [o for o in self.owned.values() if not o.stopping]
        for owned in sorted(active, key=lambda o: -o.number)[:max(0, len(active) - share)]:
            owned.stopping = True  # its task snapshots, then the lease is deleted
        if len(active) >= share:
            return
        start = partition.partition_of(s.member, self.count)
        for step in range(self.count):
            if len(active) >= share:
                break
            number = (start + step) % self.count
            if number in self.owned:
                continue
            try:
                rev = await self.leases.create(f"partition.{number}", s.member.encode())
            except Exception:
                continue  # someone owns it
            owned = Owned(number, rev)
            self.owned[number] = owned
            active.append(owned)
            owned.task = asyncio.get_running_loop().create_task(self.consume(owned))
            owned.task.add_done_callback(functools.partial(self._stopped, owned))

    def _stopped(self, owned: Owned, task: asyncio.Task) -> None:
        """Say why a partition's task failed, also when its lease was lost meanwhile and
        nobody else looks at the task (asyncio would print a traceback)."""
        exc = task.exception() if not task.cancelled() else None
        if exc is not None and not isinstance(exc, Lost):
            self.say(f"partition {owned.number}: stopped: {_why(exc)}")

    def _finished(self, owned: Owned) -> None:
        del self.owned[owned.number]
        if not owned.lost:  # handed back, or failed: free it for whoever comes next
            asyncio.get_running_loop().create_task(self._release(owned))

    async def _release(self, owned: Owned) -> None:
        try:
            await self.leases.delete(f"partition.{owned.number}", last=owned.lease_rev)
        except Exception:
            pass  # taken already, or it expires with its TTL

    async def shutdown(self) -> None:
        for owned in self.owned.values():
            owned.stopping = True
        tasks = [o.task for o in self.owned.values() if o.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        for owned in list(self.owned.values()):
            if owned.task is not None and owned.task.done() and not owned.lost:
                await self._release(owned)
        try:
            await self.leases.delete(f"member.{self.settings.member}")
        except Exception:
            pass
        for nc in {id(self.nc_in): self.nc_in, id(self.nc_out): self.nc_out}.values():
            if nc is not None:
                await nc.close()

    # --- one partition ------------------------------------------------------------------

    async def consume(self, owned: Owned) -> None:
        from nats.js.api import ConsumerConfig, DeliverPolicy

        await self.load(owned)
        s = self.settings
        inbox = client.Inbox(BATCH * 4)
        sub = await self.js_in.subscribe(
            partition.subject(s.source.stream, owned.number), stream=s.source.stream,
            cb=inbox.put, ordered_consumer=True, config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=owned.last_seq + 1))
        try:
            while not owned.lost:
                if owned.stopping:
                    await self.snapshot(owned)
                    return
                batch = await inbox.take(BATCH, 0.5)
                if batch:
                    await self.analyse(owned, batch)
                if time.monotonic() - owned.snapshot_at >= s.snapshot_interval:
                    await self.snapshot(owned)
        finally:
            try:
                await sub.unsubscribe()
            except Exception:
                pass

    async def load(self, owned: Owned) -> None:
        from nats.js.errors import KeyNotFoundError

        key = f"partition.{owned.number}"
        try:
            entry = await self.states.get(key)
        except KeyNotFoundError as exc:  # never snapshotted (or deleted)
            entry = getattr(exc, "entry", None)
            owned.state_rev = entry.revision if entry is not None else 0
            owned.state = self.codec.fresh()
        else:
            owned.state_rev = entry.revision
            seq_text, _, blob = (entry.value or b"").partition(b"\n")
            owned.last_seq = int(seq_text) if seq_text.isdigit() else 0
            try:
                _, owned.state = self.codec.loads(blob)
            except ValueError as exc:
                self.say(f"partition {owned.number}: correlation state not restored ({exc}); "
                         f"going on from input {owned.last_seq + 1} without it")
                owned.state = self.codec.fresh()
        owned.snapshot_seq = owned.last_seq
        owned.snapshot_at = time.monotonic()

    async def analyse(self, owned: Owned, batch: list) -> None:
        """Analyse a batch with the partition's state, publish the output, wait for it to
        be stored; only then does the partition's position move."""
        s = self.settings
        subject = partition.subject(s.sink.stream, owned.number)
        install(self.engine, owned.state)
        outputs: list[tuple[int, list[bytes]]] = []
        for msg in batch:
            seq = _stream_seq(msg.reply)
            if seq > owned.last_seq:
                outputs.append((seq, self.outputs(msg.data, seq)))
        owned.state = capture(self.engine)
        prefix = f"{s.source.stream}.{owned.number}."
        await self.publisher.publish([(subject, line, f"{prefix}{seq}.{index}")
                                      for seq, lines in outputs
                                      for index, line in enumerate(lines)])
        if outputs:
            owned.last_seq = outputs[-1][0]

    def outputs(self, data: bytes, seq: int) -> list[bytes]:
        """What ``hidsctl analyze`` writes for one input record (run.py's loop)."""
        from hidsctl.analysis.run import HANDLED
        from hidsctl.records import dumps

        try:
            record = orjson.loads(data)
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("type"), str):
            self.say(f"input {seq}: not a JSON record; skipped")
            return []
        if record["type"] not in HANDLED:
            if origin.remote(record) is not None:
                return []  # an agent's alert/ar/…: never passed on (run.py says why)
            return [data]
        from hidsctl.analysis.budget import OverBudget, culprit, notice

        self.events += 1
        self.guard.event = self.events  # the budget's marker: a new number for each event
        try:
            outcome = self.engine.process_record(record)
        except OverBudget as over:
            report = notice(record, culprit(over, self.engine), self.settings.event_budget)
            self.say(f"input {seq}: {report['message']}")
            return [dumps(report)[:-1]]
        except RecursionError:
            self.say(f"input {seq}: analysis gave up on a pathological pattern; skipped")
            return []
        finally:
            self.guard.event = 0
        alert = outcome.alert if outcome is not None else None
        if alert is not None and alert["rule"]["level"] >= max(self.settings.min_level, 1):
            return [dumps(alert)[:-1]]
        return []

    async def snapshot(self, owned: Owned) -> None:
        owned.snapshot_at = time.monotonic()
        if owned.last_seq == owned.snapshot_seq or owned.lost:
            return
        value = b"%d\n" % owned.last_seq + self.codec.dumps(owned.state, owned.last_seq)
        try:
            owned.state_rev = await self.states.update(f"partition.{owned.number}", value,
                                                       last=owned.state_rev)
        except Exception as exc:
            from nats.js.errors import KeyWrongLastSequenceError

            if isinstance(exc, KeyWrongLastSequenceError):
                owned.lost = True
                raise Lost() from None
            self.say(f"partition {owned.number}: snapshot not stored: {_why(exc)}")
            return
        owned.snapshot_seq = owned.last_seq


def _stream_seq(reply: str) -> int:
    """A delivered message's stream sequence, read from its ack subject (nats-py's
    ``Msg.metadata`` builds three objects and a datetime for it): ``$JS.ACK.<stream>.
    <consumer>.<delivered>.<stream seq>.…`` (9 tokens), or with a domain and an account
    hash after ``$JS.ACK`` (11 or 12)."""
    tokens = reply.split(".")
    return int(tokens[5] if len(tokens) == 9 else tokens[7])


async def _bucket(js, name: str, ttl: float | None, replicas: int):
    from nats.js.errors import BucketNotFoundError

    try:
        return await js.key_value(name)
    except BucketNotFoundError:
        pass
    try:
        return await js.create_key_value(bucket=name, ttl=ttl, history=1, replicas=replicas)
    except Exception:
        return await js.key_value(name)  # another member created it meanwhile


async def _keys(kv) -> list[str]:
    from nats.js.errors import NoKeysError

    try:
        return await kv.keys()
    except NoKeysError:
        return []


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def run_settings(analyze) -> int:
    """``analyze`` with ``--from``: check the options, load the ruleset, run a member."""
    from hidsctl.analysis.run import new_engine
    from hidsctl.bus.address import parse

    if not (analyze.source and analyze.group and analyze.to):
        raise UsageError("--from, --group and --to go together")
    if analyze.workers != 1 or analyze.alerts_json or analyze.alerts_log:
        raise UsageError("--from takes no --workers, --alerts-json or --alerts-log: run more "
                         "members, and write alert files from the --to stream")
    settings = GroupSettings(parse(analyze.source, "--from"), analyze.group,
                             parse(analyze.to, "--to"), lease_ttl=analyze.lease_ttl,
                             snapshot_interval=analyze.snapshot_interval,
                             min_level=analyze.min_level, event_budget=analyze.event_budget)
    settings.check()
    return run(settings, new_engine(analyze))


def run(settings: GroupSettings, engine) -> int:
    import signal

    settings.check()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        client.quiet_loop(loop, "analyze")
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        # The budget's timer runs only while the loop does: armed after the loop set its
        # signal wake-up fd, disarmed before the loop closes it.
        with Guard(settings.event_budget) as guard:
            member = Member(settings, engine, guard=guard)
            loop.add_signal_handler(signal.SIGHUP, lambda: member.say(
                "SIGHUP: a group member does not reload its ruleset; restart it instead"))
            await member.run(stop)

    from hidsctl.analysis.budget import Guard

    try:
        asyncio.run(main())
    except HidsError:
        raise
    except Exception as exc:  # nats-py's own errors, e.g. a bucket it cannot create
        raise HidsError(f"analyze group {settings.group}: {str(exc) or type(exc).__name__}"
                        ) from None
    return 0
