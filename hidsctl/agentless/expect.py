"""An expect/send loop over an interactive SSH channel (``invoke_shell()``), as OSSEC's expect
scripts drive network devices: wait for one of several patterns, with a time limit for each
wait, then answer."""

from __future__ import annotations

import codecs
import re
import select
import socket
import time
from dataclasses import dataclass
from typing import Sequence

import paramiko

from hidsctl.agentless.failures import CheckFailed

MAX_BUFFER = 64 << 20


@dataclass
class Match:
    index: int  # which pattern matched
    before: str  # output up to the match
    match: re.Match


class Expect:
    def __init__(self, channel: paramiko.Channel, *, newline: str = "\r"):
        self.channel = channel
        self.newline = newline
        self.buffer = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        channel.setblocking(False)

    def send(self, text: str) -> None:
        data = text.encode("utf-8")
        deadline = time.monotonic() + 10
        try:
            while data:
                if time.monotonic() > deadline:
                    raise CheckFailed("timeout", "device does not take input")
                try:
                    sent = self.channel.send(data)
                except socket.timeout:
                    select.select([], [], [], 0.05)
                    continue
                data = data[sent:]
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise CheckFailed("unexpected_output", f"connection lost while sending: {exc}") from None

    def sendline(self, text: str = "") -> None:
        self.send(text + self.newline)

    def expect(self, patterns: Sequence[re.Pattern[str]], timeout: float, waiting_for: str) -> Match:
        """Wait up to ``timeout`` seconds for the earliest match of any pattern; the matched
        text and what came before it leave the buffer."""
        deadline = time.monotonic() + timeout
        while True:
            found = self._search(patterns)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CheckFailed("timeout", f"no {waiting_for} within {timeout:g}s; "
                                  f"last output: {self.tail()!r}")
            if not self._read(remaining):
                raise CheckFailed("unexpected_output", f"connection closed while waiting for "
                                  f"{waiting_for}; last output: {self.tail()!r}")

    def _search(self, patterns: Sequence[re.Pattern[str]]) -> Match | None:
        best: Match | None = None
        for index, pattern in enumerate(patterns):
            found = pattern.search(self.buffer)
            if found and (best is None or found.start() < best.match.start()):
                best = Match(index, self.buffer[:found.start()], found)
        if best is not None:
            self.buffer = self.buffer[best.match.end():]
        return best

    def _read(self, remaining: float) -> bool:
        """Wait for data up to ``remaining`` seconds; False at end of stream."""
        select.select([self.channel], [], [], min(remaining, 1.0))
        got_any = False
        while self.channel.recv_ready():
            data = self.channel.recv(1 << 16)
            if not data:
                break
            self.buffer += self._decoder.decode(data)
            got_any = True
        if len(self.buffer) > MAX_BUFFER:
            raise CheckFailed("unexpected_output", f"over {MAX_BUFFER >> 20} MiB of output without a prompt")
        if not got_any and (self.channel.eof_received or self.channel.closed):
            return False
        return True

    def tail(self, size: int = 80) -> str:
        return self.buffer[-size:]

