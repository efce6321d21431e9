"""Events: what the decoders and rules look at, made from records.

``log`` records are pre-decoded and decoded. The other record types reach the rules as
OSSEC's own events do, through fixed decoders and with OSSEC's text:

| record | location | text | decoder |
|---|---|---|---|
| ``syscheck`` modified | ``syscheck`` | ``Integrity checksum changed for: '/etc/passwd'`` + changes | ``syscheck_integrity_changed`` |
| ``syscheck`` deleted | ``syscheck`` | ``File '/etc/passwd' was deleted. Unable to retrieve checksum.`` | ``syscheck_deleted`` |
| ``syscheck`` added | ``syscheck`` | ``New file '/etc/passwd' added to the file system.`` | ``syscheck_new_entry`` |
| ``rootcheck`` | ``rootcheck`` | the title (and detail) | ``rootcheck`` |
| ``agent_status`` | ``ossec`` | ``ossec: Agent started: 'NAME->IP'.`` / ``ossec: Agent disconnected: 'NAME-IP'.`` | the ruleset's |
| ``ar_result`` | ``active-response`` | ``<date> /hidsctl/active-response/bin/<script> <action> <user> <srcip> <alert_id> <rule_id>`` | the ruleset's |
| ``notice`` | ``hidsctl`` | ``hidsctl: COMPONENT: CODE: MESSAGE`` | the ruleset's |
"""

from __future__ import annotations

import stat
import time
from typing import Any

from hidsctl.analysis.decoders import Decoder
from hidsctl.analysis.predecode import Header, predecode
from hidsctl.errors import SourceLocation
from hidsctl.records import Record, local_agent, record_time

_BUILTIN = SourceLocation("<built-in>")


def _builtin(name: str, category: str = "ossec") -> Decoder:
    dec = Decoder(name=name, where=_BUILTIN, type=category)
    dec.reported = name
    return dec


SYSCHECK_CHANGED = _builtin("syscheck_integrity_changed")
SYSCHECK_DELETED = _builtin("syscheck_deleted")
SYSCHECK_NEW = _builtin("syscheck_new_entry")
ROOTCHECK = _builtin("rootcheck")
ROOTCHECK.fts = ["location", "extra_data"]
NO_DECODER = _builtin("", "syslog")
NO_DECODER.reported = ""


class Event:
    """One event under analysis. Fields use alerts.json names."""

    __slots__ = ("record", "full_log", "log", "location", "hostname", "program_name",
                 "header", "decoder", "fields", "time", "agent", "matched", "syscheck",
                 "fts", "previous", "lower", "_local", "structured", "ahead",
                 "ahead_by")

    def __init__(self, record: Record | None, full_log: str, location: str, agent: dict[str, Any],
                 when: float, header: Header | None = None):
        self.record = record
        self.full_log = full_log
        self.location = location
        self.agent = agent
        self.time = when
        self.header = header
        if header is not None:
            self.log = header.log
            self.program_name = header.program_name
            self.hostname = header.hostname if header.hostname is not None else \
                _host_of(agent, location)
        else:
            self.log = full_log
            self.program_name = None
            self.hostname = _host_of(agent, location)
        self.decoder: Decoder = NO_DECODER
        self.fields: dict[str, str] = {}
        self.matched = 0
        self.syscheck: dict[str, Any] | None = None
        self.fts: bool | None = None
        self.previous: list[str] | None = None
        self.lower = self.log.lower()  # for the rules' substring prefilters
        self._local: time.struct_time | None = None
        # Fields the alert shows as JSON arrays rather than as their text (JSON decoder).
        self.structured: dict[str, list[Any]] | None = None
        # The winning rule's id as matched ahead by a decoding process (pipeline.py), -1
        # for none; None when it was not, or state decides it. ``ahead_by``: the
        # fingerprint of the ruleset it was matched with.
        self.ahead: int | None = None
        self.ahead_by: str | None = None

    def _localtime(self) -> time.struct_time:
        if self._local is None:
            self._local = time.localtime(self.time)
        return self._local

    def minute_of_day(self) -> int:
        t = self._localtime()
        return t.tm_hour * 60 + t.tm_min

    def weekday(self) -> int:
        return self._localtime().tm_wday

    def field(self, name: str) -> str | None:
        if name in ("location", "hostname", "program_name"):
            value: str | None = getattr(self, name)
            return value
        if name == "agent":
            return self.agent.get("id")
        return self.fields.get(name)


def _host_of(agent: dict[str, Any], location: str) -> str:
    if location.startswith("("):
        return location
    return str(agent.get("name") or "")


# --- records to events ------------------------------------------------------------------------

def from_log_line(line: str, location: str = "stdin", agent: dict[str, Any] | None = None,
                  when: float | None = None, record: Record | None = None) -> Event:
    return Event(record, line, location, agent or {}, time.time() if when is None else when,
                 predecode(line))


def from_record(record: Record) -> Event | None:
    """The event a record becomes, or None for records that pass through untouched."""
    rtype = record.get("type")
    agent = record.get("agent")
    if not isinstance(agent, dict):
        agent = record["agent"] = local_agent()
    when = record_time(record)
    if rtype == "log":  # from_log_line's work, without its call: this is every log line
        line = record.get("log", "")
        return Event(record, line, record.get("location") or "stdin", agent, when,
                     predecode(line))
    if rtype == "syscheck":
        return _syscheck(record, agent, when)
    if rtype == "rootcheck":
        title = str(record.get("title", ""))
        detail = record.get("detail")
        if detail and str(detail) not in title:
            title = f"{title} {detail}"
        ev = Event(record, title, "rootcheck", agent, when)
        ev.decoder = ROOTCHECK
        if record.get("file"):
            ev.fields["filename"] = str(record["file"])
        return ev
    text: str | None = None
    location = ""
    if rtype == "agent_status":
        text, location = agent_status_text(record, agent), "ossec"
    elif rtype == "ar_result":
        text, location = ar_result_text(record, when), "active-response"
    elif rtype == "notice":
        text, location = (f"hidsctl: {record.get('component', '')}: "
                          f"{record.get('code', 'notice')}: {record.get('message', '')}"), "hidsctl"
    if text is None:
        return None
    return Event(record, text, location, agent, when, predecode(text))


def agent_status_text(record: Record, agent: dict[str, Any]) -> str:
    name = agent.get("name") or agent.get("id") or "unknown"
    ip = agent.get("ip") or "any"
    status = record.get("status")
    if status == "connected":
        return f"ossec: Agent started: '{name}->{ip}'."
    if status == "disconnected":
        return f"ossec: Agent disconnected: '{name}-{ip}'."
    return f"ossec: Agent {status}: '{name}->{ip}'."


def ar_result_text(record: Record, when: float) -> str:
    stamp = time.strftime("%a %b %e %H:%M:%S UTC %Y", time.gmtime(when))
    command = str(record.get("command") or "unknown")
    script = record.get("executable") or record.get("script") or (
        command if "." in command else f"{command}.sh")
    status = record.get("status")
    action = str(record.get("action") or "add")
    if status == "undone":
        action = "delete"
    elif status in ("skipped", "failed"):
        action = str(status)
    user = record.get("user") or "-"
    srcip = record.get("srcip") or "-"
    return (f"{stamp} /hidsctl/active-response/bin/{script} {action} {user} {srcip} "
            f"{record.get('alert_id') or '-'} {record.get('rule_id') or '-'}")


def _perm(mode: Any) -> str:
    try:
        return stat.filemode(int(str(mode), 8))[1:]
    except (ValueError, OverflowError):  # not octal, or past what a mode can hold
        return str(mode)


SYSCHECK_LINES = (
    ("size", "Size changed from '{old}' to '{new}'"),
    ("mode", "Permissions changed from '{old}' to '{new}'"),
    ("uid", "Ownership was '{old}', now it is '{new}'"),
    ("gid", "Group ownership was '{old}', now it is '{new}'"),
    ("uname", "User name was '{old}', now it is '{new}'"),
    ("gname", "Group name was '{old}', now it is '{new}'"),
    ("mtime", "Old modification time was: '{old}', now it is '{new}'"),
    ("inode", "Old inode was: '{old}', now it is '{new}'"),
    ("md5", "Old md5sum was: '{old}'\nNew md5sum is : '{new}'"),
    ("sha1", "Old sha1sum was: '{old}'\nNew sha1sum is : '{new}'"),
    ("sha256", "Old sha256sum was: '{old}'\nNew sha256sum is : '{new}'"),
)
_WAZUH_NAMES = {"mode": "perm", "uname": "uname", "gname": "gname"}


def _syscheck(record: Record, agent: dict[str, Any], when: float) -> Event:
    path = str(record.get("path", ""))
    event = record.get("event")
    old, new = record.get("old"), record.get("new")
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    changed = [c for c in (record.get("changed") or []) if isinstance(c, str)]
    if event == "deleted":
        text, decoder = f"File '{path}' was deleted. Unable to retrieve checksum.", \
            SYSCHECK_DELETED
    elif event == "added":
        text, decoder = f"New file '{path}' added to the file system.", SYSCHECK_NEW
    else:
        lines = [f"Integrity checksum changed for: '{path}'"]
        for name, layout in SYSCHECK_LINES:
            if name in changed:
                before, after = old.get(name, ""), new.get(name, "")
                if name == "mode":
                    before, after = _perm(before), _perm(after)
                lines.append(layout.format(old=before, new=after))
        text, decoder = "\n".join(lines), SYSCHECK_CHANGED
    diff = record.get("diff")
    if diff:
        text += f"\nWhat changed:\n{diff}"
    ev = Event(record, text, str(record.get("location") or "syscheck"), agent, when)
    ev.decoder = decoder
    ev.fields["filename"] = path
    ev.syscheck = syscheck_object(path, event, changed, old, new, diff)
    return ev


def syscheck_object(path: str, event: Any, changed: list[str], old: dict[str, Any],
                    new: dict[str, Any], diff: Any) -> dict[str, Any]:
    """The alert's Wazuh-style ``syscheck`` object."""
    out: dict[str, Any] = {"path": path, "event": event, "changed_attributes": changed}
    for name in ("size", "mode", "uid", "gid", "uname", "gname", "mtime", "inode", "md5",
                 "sha1", "sha256"):
        key = _WAZUH_NAMES.get(name, name)
        if name in old:
            out[f"{key}_before"] = _perm(old[name]) if name == "mode" else old[name]
        if name in new:
            out[f"{key}_after"] = _perm(new[name]) if name == "mode" else new[name]
    if diff:
        out["diff"] = diff
    return out
