"""OSSEC's plugin decoders (``<plugin_decoder>``), written for hidsctl.

Each takes the event and fills decoded fields from the message, as the named OSSEC
plugin does for its log format.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from hidsctl.analysis.jsondecode import json_decoder

if TYPE_CHECKING:
    from hidsctl.analysis.events import Event

_PF = re.compile(
    r"(?:rule \S+\s*)?(?:\(match\):\s*)?(\w+) (?:in|out) on \S+: "
    r"(\[[^\]]*\] )?(\S+?)\.(\d+) > (\S+?)\.(\d+):?(?: (\w+))?")
_PF_NOPORT = re.compile(r"(\w+) (?:in|out) on \S+: (\S+) > (\S+?):? (\w+)")


def pf_decoder(ev: Event) -> None:
    f = ev.fields
    m = _PF.search(ev.log)
    if m:
        f["action"], _, f["srcip"], f["srcport"], f["dstip"], f["dstport"] = m.groups()[:6]
        if m.group(7):
            f["protocol"] = m.group(7)
        return
    m = _PF_NOPORT.search(ev.log)
    if m:
        f["action"], f["srcip"], f["dstip"], f["protocol"] = m.groups()


_KV = re.compile(r'(\w+)=("[^"]*"|\S+)')


def sonicwall_decoder(ev: Event) -> None:
    f = ev.fields
    for key, value in _KV.findall(ev.log):
        value = value.strip('"')
        if key in ("src", "dst"):
            parts = value.split(":")
            f[f"{key}ip"] = parts[0]
            if len(parts) > 1 and parts[1]:
                f[f"{key}port"] = parts[1]
        elif key == "m":
            f["id"] = value
        elif key == "proto":
            f["protocol"] = value.split("/")[0]
        elif key == "msg":
            f["action"] = value
        elif key == "pri":
            f["status"] = value


def symantec_ws_decoder(ev: Event) -> None:
    parts = ev.log.split(",")
    f = ev.fields
    if len(parts) > 2:
        f["id"] = parts[1]
    for part in parts:
        if part.count(".") == 3 and all(p.isdigit() for p in part.split(".")):
            if "srcip" not in f:
                f["srcip"] = part
            elif "dstip" not in f:
                f["dstip"] = part


_OSSEC_ALERT = re.compile(
    r"(?:ossec: )?Alert Level: (\d+); Rule: (\d+) - (.*?); Location: ([^;]*);\s*(.*)\Z", re.S)
_OSSEC_ALERT_FIELDS = re.compile(r"(srcip|user|dstip): ([^;]*);\s*")


def ossec_alert_decoder(ev: Event) -> None:
    """An alert relayed as text (``ossec: Alert Level: N; Rule: ID - desc; Location: …``)."""
    m = _OSSEC_ALERT.search(ev.log)
    if not m:
        return
    rest = m.group(5)
    while True:
        fm = _OSSEC_ALERT_FIELDS.match(rest)
        if not fm:
            break
        name = "dstuser" if fm.group(1) == "user" else fm.group(1)
        ev.fields[name] = fm.group(2)
        rest = rest[fm.end():]
    ev.fields["id"] = m.group(2)
    ev.fields["extra_data"] = m.group(3)


PLUGINS = {
    "PF_Decoder": pf_decoder,
    "SonicWall_Decoder": sonicwall_decoder,
    "SymantecWS_Decoder": symantec_ws_decoder,
    "OSSECAlert_Decoder": ossec_alert_decoder,
    "JSON_Decoder": json_decoder,
}
