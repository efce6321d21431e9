"""The bus basics: addresses, partitions, streams on a real nats-server."""

from __future__ import annotations

import zlib

import pytest

from hidsctl.bus import partition
from hidsctl.bus.address import parse
from hidsctl.bus.client import SyncBus
from hidsctl.errors import ConfigError, UsageError

from nats_support import nats_server  # noqa: F401  (fixture)


def test_address_with_several_servers():
    address = parse("nats://10.0.0.1:4222,nats-b,[::1]:5000/HIDS_IN")
    assert address.servers == ("nats://10.0.0.1:4222", "nats://nats-b:4222",
                               "nats://[::1]:5000")
    assert address.stream == "HIDS_IN"
    assert str(address) == "nats://10.0.0.1:4222,nats-b:4222,[::1]:5000/HIDS_IN"


@pytest.mark.parametrize("text, why", [
    ("http://h:1/S", "not a nats:// address"),
    ("nats://h:4222", "no stream name"),
    ("nats://h:4222/", "no stream name"),
    ("nats://h:4222/a.b", "may hold only"),
    ("nats://h:99999/S", "out of range"),
    ("nats://h:x/S", "is not HOST:PORT"),
    ("nats://,/S", "is not HOST:PORT"),
])
def test_bad_addresses_say_what_is_wrong(text, why):
    with pytest.raises(UsageError, match=why):
        parse(text)


def test_partition_is_crc32_of_the_agent_id():
    # Fixed values: changing the function would move agents between partitions of a
    # running stream, so it is pinned here.
    assert [partition.partition_of(a, 16) for a in ("000", "001", "002", "1024")] == \
        [zlib.crc32(a.encode()) % 16 for a in ("000", "001", "002", "1024")]
    assert partition.partition_of("001", 16) == 0x55B20A4B % 16 == 11
    assert all(partition.partition_of(str(i), 5) in range(5) for i in range(1000))
    counts = [0] * 8
    for i in range(8000):
        counts[partition.partition_of(f"{i:03d}", 8)] += 1
    assert min(counts) > 800  # spread evenly enough that members share the load


def test_subjects_round_trip():
    assert partition.subject("IN", 3) == "IN.p.3"
    assert partition.partition_of_subject("IN", "IN.p.3") == 3
    assert partition.partition_of_subject("IN", "OTHER.p.3") is None
    assert partition.count_from(partition.describe(12)) == 12


def test_stream_is_created_once_with_its_partition_count(nats_server):  # noqa: F811
    with SyncBus(parse(nats_server.address("IN")), "test") as bus:
        assert bus.ensure_stream(4) == 4
        assert bus.ensure_stream() == 4  # read back, not the default
        with pytest.raises(ConfigError, match="has 4 partitions, not 8"):
            bus.ensure_stream(8)
        first = bus.publish("IN.p.1", b"{}", "001.aa.1")
        again = bus.publish("IN.p.1", b"{}", "001.aa.1")
        assert again.duplicate and again.seq == first.seq
        assert [m.subject for m in bus.messages()] == ["IN.p.1"]


def test_unreachable_server_is_one_clear_error():
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    from hidsctl.errors import HidsError
    with pytest.raises(HidsError, match=f"cannot connect to NATS at nats://127.0.0.1:{port}/IN: "
                       "connection refused"):
        SyncBus(parse(f"nats://127.0.0.1:{port}/IN"), "test")


def test_a_server_that_does_not_answer_is_waited_for_up_to_the_deadline(monkeypatch):
    """Refused everywhere fails at once; one listed server that accepts but never speaks
    (a server still starting, a proxy) may yet answer: the connection waits the deadline."""
    import socket

    from hidsctl.bus import client
    from hidsctl.errors import HidsError

    monkeypatch.setattr(client, "CONNECT_DEADLINE", 0.5)
    with socket.socket() as refusing, socket.socket() as silent:
        refusing.bind(("127.0.0.1", 0))
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        hosts = f"127.0.0.1:{refusing.getsockname()[1]},127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(HidsError, match=f"cannot connect to NATS at nats://{hosts}/IN: "
                           "no answer within 0.5 s"):
            SyncBus(parse(f"nats://{hosts}/IN"), "test")


def test_a_server_without_jetstream_is_one_clear_error(tmp_path):
    from hidsctl.errors import HidsError
    from nats_support import NatsServer

    server = NatsServer(tmp_path / "plain", jetstream=False)
    try:
        with SyncBus(parse(server.address("IN")), "test") as bus:
            with pytest.raises(HidsError, match="is it enabled"):
                bus.ensure_stream()
    finally:
        server.stop()


def test_setup_is_retried_while_jetstream_is_not_ready(monkeypatch):
    import asyncio

    from hidsctl.bus import client

    monkeypatch.setattr(asyncio, "sleep", _no_sleep(asyncio.sleep))
    failures = [TimeoutError("nats: timeout"), TimeoutError("nats: timeout"),
                RuntimeError("no leader")]
    said: list[str] = []

    async def make():
        if failures:
            raise failures.pop(0)
        return "made"

    assert asyncio.run(client.retrying(make, said.append)) == "made"
    assert said == ["JetStream not ready (nats: timeout); retrying",
                    "JetStream not ready (no leader); retrying"]  # once per distinct error

    async def misconfigured():
        raise ConfigError("stream IN has 4 partitions, not 8")

    with pytest.raises(ConfigError):  # our own mistakes are not waited out
        asyncio.run(client.retrying(misconfigured, said.append))

    async def never():
        raise TimeoutError("nats: timeout")

    with pytest.raises(TimeoutError):  # gives up after the deadline
        asyncio.run(client.retrying(never, said.append, deadline=0))


def _no_sleep(sleep):
    async def fast(_seconds, *args):
        await sleep(0)
    return fast


def test_an_exception_nobody_awaited_is_one_line_not_a_traceback(capfd):
    import asyncio
    import gc

    from hidsctl.bus import client

    async def main():
        client.quiet_loop(asyncio.get_running_loop(), "analyze")

        async def fails():
            raise ConnectionResetError("node gone")
        task = asyncio.get_running_loop().create_task(fails())
        await asyncio.sleep(0.01)
        del task
        gc.collect()  # asyncio reports a never-retrieved exception when the task is freed

    asyncio.run(main())
    err = capfd.readouterr().err
    assert "hidsctl analyze: NATS: ConnectionResetError: node gone" in err
    assert "Traceback" not in err


def test_nats_py_logging_an_error_is_one_line_not_a_traceback(capfd):
    import asyncio
    import logging

    from hidsctl.bus import client

    async def main():
        client.quiet_loop(asyncio.get_running_loop(), "analyze")
        try:
            raise KeyError("sid")
        except KeyError as exc:  # what nats-py's read loop does with an unexpected error
            logging.getLogger("nats.aio.client").error("nats: encountered error", exc_info=exc)

    asyncio.run(main())
    err = capfd.readouterr().err
    assert err == "hidsctl analyze: NATS: nats: encountered error: KeyError: 'sid'\n"
    assert "Traceback" not in err


def test_pipelined_publishes_are_stored_in_order_deduplicated_or_refused(nats_server):  # noqa: F811
    from hidsctl.bus.client import Publisher
    from hidsctl.errors import HidsError

    with SyncBus(parse(nats_server.address("IN")), "test") as bus:
        bus.ensure_stream(2)
        publisher = Publisher(bus.nc)
        bus.call(publisher.start())
        batch = [("IN.p.0", b'{"n":%d}' % i, f"a.{i}") for i in range(500)]
        bus.call(publisher.publish(batch))
        bus.call(publisher.publish(batch[:10] + [("IN.p.1", b'{"n":"x"}', None)]))
        data = [m.data for m in bus.messages()]
        assert data == [b'{"n":%d}' % i for i in range(500)] + [b'{"n":"x"}']
        # No stream takes the subject: the batch fails, and no reply is left waited for.
        with pytest.raises(HidsError, match="did not store.*503"):
            bus.call(publisher.publish([("ELSEWHERE.p.0", b"{}", "b.1")]))
        assert publisher.waiting == {}
