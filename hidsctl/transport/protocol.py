"""The wire protocol between ``send`` and ``receive`` (docs/protocol.md), as pure functions
and small sans-I/O state machines, so every parser can be fuzzed without sockets.

Body layout (a TCP frame is a 4-byte big-endian length followed by one body; a UDP
datagram is one body)::

    version(1) kind(1) idlen(1) id(idlen ASCII digits)          clear header
    HELLO    nonce_a(32)                                        agent -> server
    WELCOME  nonce_s(32) counter(8) AEAD(b"welcome")            server -> agent
    REJECT   reason (UTF-8, at most 200 bytes)                  server -> agent
    other    counter(8) AEAD(payload)                           sealed

Sealed bodies use AES-256-GCM; the associated data is the clear header plus the counter,
the nonce is the counter. Session keys are derived per connection from the agent key and
both nonces, one per direction, so a captured session replayed to the server never opens.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hidsctl.errors import ProtocolError

VERSION = 1
HELLO, WELCOME, DATA, ACK, KEEPALIVE, COMMAND, REJECT = range(1, 8)
KIND_NAMES = {HELLO: "hello", WELCOME: "welcome", DATA: "data", ACK: "ack",
              KEEPALIVE: "keepalive", COMMAND: "command", REJECT: "reject"}
SEALED_KINDS = frozenset({DATA, ACK, KEEPALIVE, COMMAND})

NONCE_LEN = 32
TAG_LEN = 16
MAX_ID_LEN = 8
MAX_FRAME = 4 << 20  # a frame's body; a batch's plaintext is cut well below this
MAX_BATCH = 16 << 20  # decompressed batch size; more is a decompression bomb
MAX_DATAGRAM = 65000
STREAM_LEN = 16
WELCOME_TEXT = b"welcome"

_LENGTH = struct.Struct(">I")
_COUNTER = struct.Struct(">Q")
_BATCH_HEAD = struct.Struct(">16sQ")


class Rejected(ProtocolError):
    """A peer broke the protocol; ``code`` says how (for counting and notices)."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


# --- framing ------------------------------------------------------------------------------

def frame(body: bytes) -> bytes:
    """A body with its length prefix, for TCP."""
    return _LENGTH.pack(len(body)) + body


class FrameReader:
    """Cuts a TCP byte stream into bodies; rejects zero-length and oversized frames as soon
    as their length prefix arrives, before buffering them."""

    def __init__(self, max_frame: int = MAX_FRAME):
        self.max_frame = max_frame
        self.buffer = bytearray()
        self.needed = 0  # length of the body being read, 0 while reading a prefix

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        bodies: list[bytes] = []
        while True:
            if not self.needed:
                if len(self.buffer) < 4:
                    return bodies
                (length,) = _LENGTH.unpack_from(self.buffer)
                if length == 0:
                    raise Rejected("bad_frame", "zero-length frame")
                if length > self.max_frame:
                    raise Rejected("oversized", f"frame of {length} bytes exceeds "
                                                f"{self.max_frame}")
                del self.buffer[:4]
                self.needed = length
            if len(self.buffer) < self.needed:
                return bodies
            bodies.append(bytes(self.buffer[:self.needed]))
            del self.buffer[:self.needed]
            self.needed = 0

    @property
    def partial(self) -> bool:
        """Whether part of a frame is waiting for the rest (a slow or stuck sender)."""
        return bool(self.buffer) or bool(self.needed)


# --- clear header ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Header:
    kind: int
    agent: str
    end: int  # offset of what follows the header


def header(kind: int, agent: str) -> bytes:
    ident = agent.encode("ascii")
    return bytes((VERSION, kind, len(ident))) + ident


def parse_header(body: bytes) -> Header:
    if len(body) < 4:
        raise Rejected("bad_frame", f"body of {len(body)} bytes is too short")
    version, kind, idlen = body[0], body[1], body[2]
    if version != VERSION:
        raise Rejected("bad_frame", f"unknown protocol version {version}")
    if kind not in KIND_NAMES:
        raise Rejected("bad_frame", f"unknown message kind {kind}")
    if not 1 <= idlen <= MAX_ID_LEN or len(body) < 3 + idlen:
        raise Rejected("bad_frame", "bad agent id length")
    raw = body[3:3 + idlen]
    if not raw.isdigit():
        raise Rejected("bad_frame", "agent id is not digits")
    return Header(kind, raw.decode("ascii"), 3 + idlen)


# --- handshake -----------------------------------------------------------------------------

def hello(agent: str, nonce: bytes) -> bytes:
    return header(HELLO, agent) + nonce


def parse_hello(body: bytes) -> tuple[str, bytes]:
    head = parse_header(body)
    if head.kind != HELLO:
        raise Rejected("bad_handshake", f"expected hello, got {KIND_NAMES[head.kind]}")
    nonce = body[head.end:]
    if len(nonce) != NONCE_LEN:
        raise Rejected("bad_handshake", "hello nonce has the wrong length")
    return head.agent, nonce


def reject(agent: str, reason: str) -> bytes:
    return header(REJECT, agent if agent.isdigit() and len(agent) <= MAX_ID_LEN else "0") \
        + reason.encode("utf-8")[:200]


def session_keys(agent_key: bytes, agent: str, nonce_a: bytes,
                 nonce_s: bytes) -> tuple[bytes, bytes]:
    """(agent->server key, server->agent key), fresh for every connection."""
    material = HKDF(algorithm=hashes.SHA256(), length=64, salt=nonce_a + nonce_s,
                    info=b"hidsctl session v1 " + agent.encode()).derive(agent_key)
    return material[:32], material[32:]


class Channel:
    """One direction of a session: AES-256-GCM under its own key, counters from 0.

    ``strict`` (TCP) accepts only the next counter; otherwise (UDP) any higher one, so a
    late datagram is dropped and the sender retransmits it under a new counter."""

    def __init__(self, key: bytes, agent: str, strict: bool = True):
        self.aead = AESGCM(key)
        self.agent = agent
        self.counter = 0  # next to send, or next expected
        self.strict = strict

    def seal(self, kind: int, payload: bytes) -> bytes:
        counter = _COUNTER.pack(self.counter)
        self.counter += 1
        aad = header(kind, self.agent) + counter
        return aad + self.aead.encrypt(b"\0\0\0\0" + counter, payload, aad)

    def open(self, body: bytes) -> tuple[int, bytes]:
        head = parse_header(body)
        if head.kind not in SEALED_KINDS and head.kind != WELCOME:
            raise Rejected("bad_frame", f"unexpected {KIND_NAMES[head.kind]} in a session")
        if head.agent != self.agent:
            raise Rejected("bad_frame", "agent id changed within a session")
        start = head.end
        if head.kind == WELCOME:
            start += NONCE_LEN
        if len(body) < start + 8 + TAG_LEN:
            raise Rejected("bad_frame", "sealed message too short")
        (counter,) = _COUNTER.unpack_from(body, start)
        stale = counter != self.counter if self.strict else counter < self.counter
        if stale:
            raise Rejected("replay", f"counter {counter} where {self.counter} was expected")
        aad = body[:start + 8]
        try:
            payload = self.aead.decrypt(b"\0\0\0\0" + body[start:start + 8],
                                        body[start + 8:], aad)
        except InvalidTag:
            raise Rejected("bad_tag", "authentication failed (wrong key or altered data)") \
                from None
        self.counter = counter + 1
        return head.kind, payload


@dataclass
class Session:
    agent: str
    send: Channel
    recv: Channel

    def seal(self, kind: int, payload: bytes) -> bytes:
        return self.send.seal(kind, payload)

    def open(self, body: bytes) -> tuple[int, bytes]:
        return self.recv.open(body)


class AgentHandshake:
    """The agent's side: ``start()`` gives the hello, ``finish(welcome)`` the session."""

    def __init__(self, agent: str, agent_key: bytes, strict: bool = True):
        self.agent = agent
        self.agent_key = agent_key
        self.strict = strict
        self.nonce = os.urandom(NONCE_LEN)

    def start(self) -> bytes:
        return hello(self.agent, self.nonce)

    def finish(self, body: bytes) -> Session:
        head = parse_header(body)
        if head.kind == REJECT:
            reason = body[head.end:].decode("utf-8", "replace")
            raise Rejected("refused", f"server refused the connection: {reason}")
        if head.kind != WELCOME or head.agent != self.agent:
            raise Rejected("bad_handshake", "expected a welcome")
        nonce_s = body[head.end:head.end + NONCE_LEN]
        if len(nonce_s) != NONCE_LEN:
            raise Rejected("bad_handshake", "welcome too short")
        a2s, s2a = session_keys(self.agent_key, self.agent, self.nonce, nonce_s)
        session = Session(self.agent, Channel(a2s, self.agent, self.strict),
                          Channel(s2a, self.agent, self.strict))
        kind, text = session.open(body)
        if text != WELCOME_TEXT:
            raise Rejected("bad_handshake", "welcome does not prove the server's key")
        return session


def server_handshake(body: bytes, lookup: Callable[[str], bytes | None],
                     strict: bool = True) -> tuple[str, bytes, Session]:
    """Answer a hello: (agent id, welcome body, session). ``lookup`` gives the derived
    agent key, or None for an unknown or disallowed agent."""
    agent, nonce_a = parse_hello(body)
    agent_key = lookup(agent)
    if agent_key is None:
        raise Rejected("unknown_agent", f"no key for agent {agent}")
    nonce_s = os.urandom(NONCE_LEN)
    a2s, s2a = session_keys(agent_key, agent, nonce_a, nonce_s)
    session = Session(agent, Channel(s2a, agent, strict), Channel(a2s, agent, strict))
    counter = _COUNTER.pack(session.send.counter)
    session.send.counter += 1
    aad = header(WELCOME, agent) + nonce_s + counter
    welcome = aad + session.send.aead.encrypt(b"\0\0\0\0" + counter, WELCOME_TEXT, aad)
    return agent, welcome, session


# --- payloads ------------------------------------------------------------------------------

def encode_batch(stream: bytes, first_seq: int, lines: list[bytes]) -> bytes:
    """A DATA payload: the sender's stream id and the first record's sequence number in the
    clear (inside the AEAD), then the records as zlib-compressed JSON lines."""
    return _BATCH_HEAD.pack(stream, first_seq) + zlib.compress(b"\n".join(lines), 1)


def decode_batch(payload: bytes, limit: int = MAX_BATCH) -> tuple[bytes, int, list[bytes]]:
    if len(payload) < _BATCH_HEAD.size:
        raise Rejected("bad_payload", "batch too short")
    stream, first_seq = _BATCH_HEAD.unpack_from(payload)
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(payload[_BATCH_HEAD.size:], limit)
    except zlib.error as exc:
        raise Rejected("bad_payload", f"batch does not decompress: {exc}") from None
    if inflater.unconsumed_tail:
        raise Rejected("bad_payload", f"batch inflates past {limit} bytes")
    if not inflater.eof:
        raise Rejected("bad_payload", "batch is truncated")
    return stream, first_seq, text.split(b"\n") if text else []


def encode_ack(counter: int) -> bytes:
    return _COUNTER.pack(counter)


def decode_ack(payload: bytes) -> int:
    if len(payload) != 8:
        raise Rejected("bad_payload", "ack of the wrong length")
    counter: int = _COUNTER.unpack(payload)[0]
    return counter
