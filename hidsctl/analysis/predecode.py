"""Pre-decoding: the syslog header OSSEC strips before decoders see a line.

The header formats are OSSEC's, recognised by the fixed positions of their separators:

- ``Dec 29 10:00:01 host prog[pid]: msg`` (RFC 3164, with or without host)
- ``2015 Dec 29 10:00:01 host …`` (year first)
- ``2007-06-14T15:48:55-04:00 host …`` and ``2009-05-22T09:36:46.214994-07:00 host …``
  (ISO 8601, syslog-ng and rsyslog)
- ``2015-04-16 21:51:02,805 host …`` (proftpd)
- ``<34>1 2003-10-11T22:14:15.003Z host app procid msgid [sd] msg`` (RFC 5424)
- xferlog, snort, suricata, apache error log, macOS ASL and squid timestamps, which are
  skipped without a host or program name.

A leading ``<PRI>`` (as a syslog socket delivers it) is removed from the text the decoders
see; ``full_log`` keeps the line as it came.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"[A-Za-z0-9\-._/()@]*")   # what OSSEC accepts in a host or program name
_PID = re.compile(r"\[[0-9]+\]")
_ALNUM = re.compile(r"[^\W_]*")
_PRI = re.compile(r"<\d{1,3}>")


def _run_end(run: re.Pattern[str], text: str, pos: int) -> int:
    """Where the run of ``run``'s characters from ``pos`` ends (``run`` matches the empty
    string, so it always matches)."""
    m = run.match(text, pos)
    return m.end() if m else pos
_RFC5424 = re.compile(
    r"<\d{1,3}>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (.*))?\Z", re.S)


class Header:
    """What pre-decoding found: the message for the decoders and the header fields."""

    __slots__ = ("log", "hostname", "program_name", "timestamp")

    def __init__(self, log: str, hostname: str | None = None,
                 program_name: str | None = None, timestamp: str | None = None):
        self.log = log
        self.hostname = hostname
        self.program_name = program_name
        self.timestamp = timestamp

    def as_dict(self) -> dict[str, str]:
        out = {}
        if self.hostname is not None:
            out["hostname"] = self.hostname
        if self.program_name is not None:
            out["program_name"] = self.program_name
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        return out


def _syslog_date_length(s: str) -> int:
    """Length of a syslog-style date prefix (and the space after it), or 0."""
    n = len(s) + 1  # OSSEC counts the terminating NUL
    if n > 17 and s[3:4] == " " and s[6:7] == " " and s[9:10] == ":" and s[12:13] == ":" \
            and s[15:16] == " ":
        return 16
    if n > 22 and s[:4].isdigit() and s[4:5] == " " and s[8:9] == " " and s[11:12] == " " \
            and s[14:15] == ":" \
            and s[17:18] == ":" and s[20:21] == " ":
        return 21
    if n > 33 and s[4:5] == "-" and s[7:8] == "-" and s[10:11] == "T" and s[13:14] == ":" \
            and s[16:17] == ":":
        if s[22:23] == ":" and s[25:26] == " ":
            return 26
        if s[19:20] == "." and s[29:30] == ":":
            return 32
    if n > 24 and s[4:5] == "-" and s[7:8] == "-" and s[10:11] == " " and s[13:14] == ":" \
            and s[16:17] == ":" and s[19:20] == ",":
        return 23
    return 0


# Every line pays for pre-decoding, so one compiled pattern answers first: its first
# branch takes the usual RFC 3164 header, ``Dec 29 10:00:01 host prog[pid]: `` (groups: the
# stamp, host and program, as _syslog_date_length's first form and _syslog find them;
# possessive, as those never try a shorter run); the others say whether any header form
# could apply, by the separators at the fixed positions each form needs and its least
# length. A line that matches none has no header; one that matches only those goes to the
# separator checks, which are the definition all of this follows.
_FAST = re.compile("|".join((
    r"(.{3} .{2} .{2}:.{2}:.{2} ) ?+([A-Za-z0-9\-._/()@]*+) ([A-Za-z0-9\-._/()@]*+)"
    r"(?:: |\[[0-9]++\](?:: | ))",
    r".{3} .{2} .{2}:.{2}:.{2} .",                  # Dec 29 10:00:01 (16)
    r".{4} .{3} .{2} .{2}:.{2}:.{2} .",             # 2015 Dec 29 10:00:01 (21)
    r".{4}-.{2}-.{2}T.{2}:.{2}:.{16}",              # ISO 8601 (26, 32)
    r".{4}-.{2}-.{2} .{2}:.{2}:.{2},.{4}",          # proftpd (23)
    r".{3} .{3} .{2} .{2}:.{2}:.{2} .{4} . .",      # xferlog
    r".{2}/.{2}-.{2}:.{2}:.{2}\..{6} .{2}",         # snort
    r".{2}/.{2}/.{4}-.{2}:.{2}:.{2}\..{6} ",        # suricata
    r"\[.{3} .{3} .{2} .{2}:.{2}:.{2} .{4}\].",      # apache error log
    r"\[T.{3} .{4}\..{2}\..{2} .{2}:.{6}",           # macOS ASL
    r"1.{9}\..{3} .{17}",                            # squid
)), re.S)


def predecode(line: str) -> Header:
    """Split one log line into its syslog header fields and the message."""
    text = line
    if text.startswith("<"):
        m = _RFC5424.match(text)
        if m:
            return _rfc5424(m)
        m = _PRI.match(text)
        if m:
            text = text[m.end():]
    m = _FAST.match(text)
    if m is None:
        return Header(text)
    stamp, hostname, program = m.groups()
    if stamp is None:
        return decode_header(text)
    log = text[m.end():]
    header = Header(log, hostname, program, stamp.rstrip())
    return _strip_id(header) if log.startswith("[ID ") else header


def decode_header(text: str) -> Header:
    """predecode() by the separator checks alone (a line without a leading ``<PRI>``)."""
    # OSSEC repairs a month written with an umlaut (Mär) before looking at positions.
    date_len = _syslog_date_length(text)
    if date_len:
        return _syslog(text, date_len)
    return _other(text)


def _syslog(text: str, date_len: int) -> Header:
    stamp = text[:date_len].rstrip()
    pos = date_len
    if text.startswith(" ", pos):
        pos += 1
    start = pos
    pos = _run_end(_NAME, text, pos)
    hostname = text[start:pos]
    if text.startswith(": ", pos):
        # No host (Solaris): the name before ': ' is the program.
        return _strip_id(Header(text[pos + 2:], None, hostname, stamp))
    if not text.startswith(" ", pos):
        return Header(text[start:], None, None, stamp)  # not a host name: no header fields
    pstart = pos + 1
    pos = _run_end(_NAME, text, pstart)
    program = text[pstart:pos]
    found = _after_program(text, pos)
    if found:
        return _strip_id(Header(text[found:], hostname, program, stamp))
    if text.startswith("|", pos) and text[pos + 1:pos + 2].islower():
        return _aix(text, pos + 1, pstart, hostname, stamp)
    return Header(text[pstart:], hostname, None, stamp)


def _after_program(text: str, pos: int) -> int:
    """Where the message starts after a program name ending at ``pos`` (``: ``,
    ``[pid]: `` or ``[pid] ``), or 0 when what follows is not one of those."""
    if text.startswith(": ", pos):
        return pos + 2
    if text.startswith("[", pos):
        m = _PID.match(text, pos)
        if m is not None:
            end = m.end()
            if text.startswith(": ", end):
                return end + 2
            if text.startswith(" ", end):
                return end + 1
    return 0


def _aix(text: str, pos: int, pstart: int, hostname: str, stamp: str) -> Header:
    pos = _run_end(_ALNUM, text, pos)
    if not text.startswith(":", pos):
        return Header(text[pstart:], hostname, None, stamp)
    pos = _run_end(_ALNUM, text, pos + 1)
    if not text.startswith(" ", pos):
        return Header(text[pstart:], hostname, None, stamp)
    start = pos + 1
    pos = _run_end(_NAME, text, start)
    program = text[start:pos]
    found = _after_program(text, pos)
    if found and text.startswith(": ", found - 2):  # AIX: "prog: " or "prog[pid]: " only
        return _strip_id(Header(text[found:], hostname, program, stamp))
    return Header(text[pstart:], hostname, program, stamp)


def _strip_id(header: Header) -> Header:
    """Drop Solaris' ``[ID 702911 auth.notice]`` after the program name."""
    log = header.log
    if log.startswith("[ID "):
        close = log.find("]", 4)
        if close >= 0:
            header.log = log[close + 2:]
    return header


def _other(text: str) -> Header:
    s = text
    n = len(s) + 1
    if n > 28 and s[3:4] == " " and s[7:8] == " " and s[10:11] == " " and s[13:14] == ":" \
            and s[16:17] == ":" and s[19:20] == " " and s[24:25] == " " and s[26:27] == " ":
        return Header(s[24:], timestamp=s[:24])  # xferlog
    if n > 24 and s[2:3] == "/" and s[5:6] == "-" and s[8:9] == ":" and s[11:12] == ":" \
            and s[14:15] == "." and s[21:22] == " ":
        return Header(s[23:], timestamp=s[:21])  # snort
    if n > 26 and s[2:3] == "/" and s[5:6] == "/" and s[10:11] == "-" and s[13:14] == ":" \
            and s[16:17] == ":" and s[19:20] == "." and s[26:27] == " ":
        return Header(s[28:], timestamp=s[:26])  # suricata
    if n > 27 and s[0:1] == "[" and s[4:5] == " " and s[8:9] == " " and s[11:12] == " " \
            and s[14:15] == ":" and s[17:18] == ":" and s[20:21] == " " and s[25:26] == "]":
        return Header(s[27:], timestamp=s[1:25])  # apache error log
    if n > 26 and s[0:2] == "[T" and s[5:6] == " " and s[10:11] == "." and s[13:14] == "." \
            and s[16:17] == " " and s[19:20] == ":":
        return _asl(s)
    if n > 32 and s[0:1] == "1" and s[1:4].isdigit() and s[10:11] == "." \
            and s[13:14].isdigit() and s[14:15] == " " and (s[21:22] == " " or s[22:23] == " "):
        return Header(s[14:].lstrip(" "), timestamp=s[:14])  # squid
    return Header(s)


def _asl(s: str) -> Header:
    """macOS ASL: ``[Time …] [Facility …] [Sender sshd] … [Message …] … [Host h]``."""
    header = Header(s[25:], timestamp=s[6:25].rstrip("] "))
    pos = s.find("[", 25)
    done_message = False
    while pos >= 0:
        pos += 1
        if s.startswith("Sender ", pos) and header.program_name is None:
            end = s.find("]", pos + 7)
            if end < 0:
                break
            header.program_name = s[pos + 7:end]
            pos = end + 1
        elif s.startswith("Message ", pos) and not done_message:
            done_message = True
            end = s.find("]", pos + 8)
            if end < 0:
                header.log = s[pos + 8:]
                break
            header.log = s[pos + 8:end]
            pos = end + 1
        elif s.startswith("Host ", pos):
            end = s.find("]", pos + 5)
            if end >= 0:
                header.hostname = s[pos + 5:end]
            break
        pos = s.find("[", pos)
    return header


def _rfc5424(m: re.Match[str]) -> Header:
    stamp, host, app, procid, msgid, sd, msg = m.groups()
    msg = msg or ""
    if msg.startswith("\ufeff"):
        msg = msg[1:]
    return Header(msg, None if host == "-" else host, None if app == "-" else app, stamp)
