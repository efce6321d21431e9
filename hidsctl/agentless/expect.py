"""An expect/send loop over an interactive SSH channel (``invoke_shell()``), as OSSEC's expect
scripts drive network devices: wait for one of several patterns, with a time limit for each
wait, then answer.

The loop is pexpect's, run over the paramiko channel with ``SocketSpawn``: a channel has
the socket calls it makes (fileno, sendall, recv, settimeout, gettimeout, shutdown, close).
"""

from __future__ import annotations

import codecs
import re
import socket
from dataclasses import dataclass
from typing import Sequence

import paramiko
import pexpect
from pexpect.socket_pexpect import SocketSpawn

from hidsctl.agentless.failures import CheckFailed

MAX_OUTPUT = 64 << 20  # characters of output without a prompt before the device is given up
SEND_TIMEOUT = 10.0  # seconds a device may refuse input
# Only this much of the latest output is searched for a pattern (prompts and pager lines
# are short): a long configuration costs a search per read, not a growing one.
SEARCH_WINDOW = 256 << 10


@dataclass
class Match:
    index: int  # which pattern matched
    before: str  # output up to the match
    match: re.Match


class ChannelSpawn(SocketSpawn):
    """SocketSpawn reading text: pexpect 4.9's SocketSpawn returns the bytes it received
    even when given an encoding, which its text buffer then refuses (TypeError), so the
    bytes are decoded here. It also stops a device that talks without end."""

    def __init__(self, channel: paramiko.Channel, max_output: int) -> None:
        super().__init__(channel, timeout=SEND_TIMEOUT, maxread=1 << 16,
                         searchwindowsize=SEARCH_WINDOW, encoding="utf-8",
                         codec_errors="replace")
        self.delayafterread = None  # pexpect's default pause after each read only slows us
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.max_output = max_output
        self.unmatched = 0  # characters received since the last match

    def read_nonblocking(self, size: int = 1, timeout: float | None = -1) -> str:
        text = self.decoder.decode(super().read_nonblocking(size, timeout))
        self.unmatched += len(text)
        if self.unmatched > self.max_output:
            raise CheckFailed("unexpected_output",
                              f"over {self.max_output >> 20} MiB of output without a prompt")
        return text


class Expect:
    def __init__(self, channel: paramiko.Channel, *, newline: str = "\r",
                 max_output: int = MAX_OUTPUT):
        self.newline = newline
        # Blocking with a time limit: a send to a device that takes no input fails in
        # SEND_TIMEOUT; each wait for output sets its own limit.
        channel.settimeout(SEND_TIMEOUT)
        self.spawn = ChannelSpawn(channel, max_output)

    def send(self, text: str) -> None:
        try:
            self.spawn.send(text)
        except socket.timeout:
            raise CheckFailed("timeout", "device does not take input") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise CheckFailed("unexpected_output", f"connection lost while sending: {exc}") from None

    def sendline(self, text: str = "") -> None:
        self.send(text + self.newline)

    def expect(self, patterns: Sequence[re.Pattern[str]], timeout: float, waiting_for: str) -> Match:
        """Wait up to ``timeout`` seconds for the earliest match of any pattern; the matched
        text and what came before it leave the buffer."""
        spawn = self.spawn
        try:
            index = spawn.expect_list(list(patterns), timeout=timeout)
        except pexpect.TIMEOUT:
            raise CheckFailed("timeout", f"no {waiting_for} within {timeout:g}s; "
                              f"last output: {self.tail()!r}") from None
        except pexpect.EOF:
            raise CheckFailed("unexpected_output", f"connection closed while waiting for "
                              f"{waiting_for}; last output: {self.tail()!r}") from None
        except (OSError, paramiko.SSHException) as exc:
            raise CheckFailed("unexpected_output", f"connection lost while waiting for "
                              f"{waiting_for}: {exc}") from None
        spawn.unmatched = len(spawn.buffer)
        return Match(index, spawn.before, spawn.match)

    def tail(self, size: int = 80) -> str:
        """The last of the output no pattern took (after a failed wait)."""
        before = self.spawn.before
        return before[-size:] if isinstance(before, str) else ""
