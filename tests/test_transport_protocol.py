"""The wire protocol's pure functions: round trips, and property tests that arbitrary
bytes never crash a parser (only Rejected, which drops the peer)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings, strategies as st

from hidsctl.origin import AGENT_TYPES
from hidsctl.transport import protocol
from hidsctl.transport.protocol import Rejected
from hidsctl.transport.server import stamp
from hidsctl.transport.syslog import OctetStream, parse_message
from hidsctl.errors import ProtocolError

AGENT_KEY = os.urandom(32)


def handshake(agent: str = "001"):
    client = protocol.AgentHandshake(agent, AGENT_KEY)
    _, welcome, server = protocol.server_handshake(client.start(), lambda a: AGENT_KEY)
    return client.finish(welcome), server


def test_a_session_carries_batches_both_ways():
    agent, server = handshake()
    body = agent.seal(protocol.DATA, protocol.encode_batch(b"s" * 16, 7, [b'{"a":1}', b"x"]))
    kind, payload = server.open(body)
    assert kind == protocol.DATA
    assert protocol.decode_batch(payload) == (b"s" * 16, 7, [b'{"a":1}', b"x"])
    kind, payload = agent.open(server.seal(protocol.ACK, protocol.encode_ack(1)))
    assert (kind, protocol.decode_ack(payload)) == (protocol.ACK, 1)


def test_replayed_reordered_and_cross_session_messages_are_rejected():
    agent, server = handshake()
    first = agent.seal(protocol.DATA, protocol.encode_batch(b"s" * 16, 0, [b"1"]))
    second = agent.seal(protocol.DATA, protocol.encode_batch(b"s" * 16, 1, [b"2"]))
    with pytest.raises(Rejected, match="counter") as exc:
        server.open(second)  # reordered
    assert exc.value.code == "replay"
    server.open(first)
    with pytest.raises(Rejected):
        server.open(first)  # replayed
    _, other_server = handshake()
    with pytest.raises(Rejected) as exc:
        other_server.open(first)  # a new connection never opens an old session's bytes
    assert exc.value.code in ("bad_tag", "replay")


def test_a_wrong_key_cannot_finish_the_handshake():
    client = protocol.AgentHandshake("001", os.urandom(32))
    _, welcome, _ = protocol.server_handshake(client.start(), lambda a: AGENT_KEY)
    with pytest.raises(Rejected) as exc:
        client.finish(welcome)
    assert exc.value.code == "bad_tag"


def test_every_flipped_bit_is_rejected():
    agent, server = handshake()
    body = agent.seal(protocol.DATA, protocol.encode_batch(b"s" * 16, 0, [b"hello"]))
    for position in range(len(body)):
        fresh_agent, fresh_server = handshake()
        clean = fresh_agent.seal(protocol.DATA, protocol.encode_batch(b"s" * 16, 0, [b"hello"]))
        altered = clean[:position] + bytes([clean[position] ^ 0x40]) + clean[position + 1:]
        with pytest.raises(Rejected):
            fresh_server.open(altered)


def test_frame_reader_cuts_any_chunking_the_same():
    bodies = [b"a" * n for n in (1, 5, 300)]
    stream = b"".join(protocol.frame(b) for b in bodies)
    for size in (1, 2, 3, 7, 1000):
        reader = protocol.FrameReader()
        got = []
        for i in range(0, len(stream), size):
            got += reader.feed(stream[i:i + size])
        assert got == bodies and not reader.partial


def test_decompression_bombs_and_oversized_frames_are_refused():
    bomb = protocol.encode_batch(b"s" * 16, 0, [b"0" * (2 << 20)])
    with pytest.raises(Rejected, match="inflates"):
        protocol.decode_batch(bomb, limit=1 << 20)
    with pytest.raises(Rejected) as exc:
        protocol.FrameReader().feed(b"\xff\xff\xff\xff")
    assert exc.value.code == "oversized"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_frame_reader_survives_arbitrary_bytes(chunks):
    reader = protocol.FrameReader(max_frame=1 << 16)
    try:
        for chunk in chunks:
            for body in reader.feed(chunk):
                assert 0 < len(body) <= 1 << 16
    except Rejected:
        pass


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_message_parsers_survive_arbitrary_bytes(data):
    for parse in (protocol.parse_header, protocol.parse_hello, protocol.decode_batch,
                  protocol.decode_ack):
        try:
            parse(data)
        except Rejected:
            pass
    agent, server = handshake()
    for channel in (server.recv, agent.recv):
        try:
            channel.open(data)
        except Rejected:
            pass
    try:
        protocol.server_handshake(data, lambda a: AGENT_KEY)
    except Rejected:
        pass
    try:
        protocol.AgentHandshake("001", AGENT_KEY).finish(data)
    except Rejected:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40).map(lambda tail: bytes([1]) + tail))
def test_near_valid_headers_never_crash(data):
    try:
        head = protocol.parse_header(data)
        assert head.agent.isdigit()
    except Rejected:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=10))
def test_stamp_keeps_only_valid_records_and_always_overwrites_agent_and_origin(lines):
    identity = {"id": "001", "name": "web1", "ip": "127.0.0.1"}
    out, problems, refused = stamp(
        lines + [b'{"type":"log","location":"x","log":"y","agent":{"id":"000"},"origin":{}}'],
        identity)
    import orjson
    assert orjson.loads(out[-1])["agent"] == identity
    for line in out:
        record = orjson.loads(line)
        assert record["agent"] == identity
        assert record["origin"] == {"kind": "agent", **identity}
        assert record["type"] in AGENT_TYPES


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=10))
def test_syslog_framing_and_parsing_survive_arbitrary_bytes(chunks):
    stream = OctetStream(limit=1000)
    try:
        for chunk in chunks:
            for message in stream.feed(chunk):
                text, data = parse_message(message)
                assert isinstance(text, str)
    except ProtocolError:
        pass
