"""Wire formats for forwarded alerts (OSSEC's csyslogd): RFC 5424, RFC 3164, JSON, CEF and
Splunk key=value. Each returns one message as bytes without a newline, so it can be queued
as a line and framed by the transport."""

from __future__ import annotations

import functools
import re
import time
from typing import Any, Callable

import orjson

from hidsctl import __version__
from hidsctl.alerttext import alert_log_text, origin
from hidsctl.records import format_timestamp, record_time

FORMATS = ("rfc5424", "rfc3164", "json", "cef", "kv")
FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "local0": 16, "local1": 17, "local2": 18,
    "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}
APP_NAME = "hidsctl"
SD_ID = "alert@32473"  # 32473: the enterprise number RFC 5612 sets aside for examples

Alert = dict[str, Any]


def severity(level: int) -> int:
    """Syslog severity of a rule level: 12+ crit, 10-11 err, 7-9 warning, 4-6 notice, else info."""
    if level >= 12:
        return 2
    if level >= 10:
        return 3
    if level >= 7:
        return 4
    if level >= 4:
        return 5
    return 6


def _level(alert: Alert) -> int:
    try:
        return int((alert.get("rule") or {}).get("level", 0))
    except (TypeError, ValueError):
        return 0


# isprintable() first: on strings with nothing to escape (the usual case) it is several times
# faster than str.translate with a mapping.
def _one_line(text: str) -> str:
    """``text`` without any control character (CR and LF above all: a message is one line,
    and a field cannot forge a header or a message of its own): each shown escaped."""
    if text.isprintable():
        return text
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if text.isprintable() else _CONTROL.sub(_escaped, text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(found: re.Match) -> str:
    return found.group().encode("unicode_escape").decode("ascii")


def _escape(text: str, *specials: str) -> str:
    """Backslash before each special character (and the backslash itself), on one line."""
    text = text.replace("\\", "\\\\")
    for char in specials:
        text = text.replace(char, "\\" + char)
    return _one_line(text)


def _hostname(alert: Alert, default: str) -> str:
    name = str((alert.get("manager") or {}).get("name") or default)
    return re.sub(r"[^\x21-\x7e]", "_", name)[:255] or "-"


def summary_text(alert: Alert) -> str:
    """csyslogd's default message: level, rule, location, source, user and the log."""
    rule = alert.get("rule") or {}
    data = alert.get("data") or {}
    parts = [f"Alert Level: {_level(alert)}",
             f"Rule: {rule.get('id', '')} - {rule.get('description', '')}",
             f"Location: {origin(alert)}"]
    if data.get("srcip"):
        parts.append(f"srcip: {data['srcip']}")
    user = data.get("dstuser") or data.get("srcuser")
    if user:
        parts.append(f"user: {user}")
    parts.append(alert_log_text(alert))
    return _one_line("; ".join(parts))


@functools.lru_cache(maxsize=256)
def _bsd_time(second: int) -> str:
    stamp = time.gmtime(second)
    return time.strftime("%b ", stamp) + f"{stamp.tm_mday:>2}" + time.strftime(" %H:%M:%S", stamp)


def _bsd_header(alert: Alert, facility: int, host: str, tag: str | None) -> str:
    when = _bsd_time(int(record_time(alert)))
    pri = facility * 8 + severity(_level(alert))
    return f"<{pri}>{when} {host} " + (f"{tag}: " if tag else "")


# --- the formats ----------------------------------------------------------------------------

def rfc5424(alert: Alert, facility: int, host: str) -> bytes:
    pri = facility * 8 + severity(_level(alert))
    stamp = alert.get("timestamp")
    if not (isinstance(stamp, str) and _STAMP.fullmatch(stamp)):
        stamp = format_timestamp(record_time(alert))  # RFC 3339 with Z, whatever the input had
    header = f"<{pri}>1 {stamp} {_hostname(alert, host)} {APP_NAME} - alert"
    return f"{header} {structured_data(alert)} {summary_text(alert)}".encode("utf-8", "replace")


_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", re.ASCII)


def structured_data(alert: Alert) -> str:
    rule = alert.get("rule") or {}
    agent = alert.get("agent") or {}
    data = alert.get("data") or {}
    params = [("id", alert.get("id")), ("rule_id", rule.get("id")), ("level", rule.get("level")),
              ("groups", ",".join(rule.get("groups") or ()) or None),
              ("agent_id", agent.get("id")), ("agent_name", agent.get("name")),
              ("agent_ip", agent.get("ip")), ("location", alert.get("location"))]
    params += [(key, data.get(key)) for key in
               ("srcip", "srcport", "dstip", "dstport", "srcuser", "dstuser", "url")]
    body = "".join(f' {name}="{_sd_escape(str(value))}"' for name, value in params
                   if value not in (None, ""))
    return f"[{SD_ID}{body}]"


def _sd_escape(value: str) -> str:
    return _escape(value, '"', "]")


def rfc3164(alert: Alert, facility: int, host: str) -> bytes:
    return (_bsd_header(alert, facility, _hostname(alert, host), APP_NAME)
            + summary_text(alert)).encode("utf-8", "replace")


def json_format(alert: Alert, facility: int, host: str) -> bytes:
    return orjson.dumps(alert)


def cef(alert: Alert, facility: int, host: str) -> bytes:
    rule = alert.get("rule") or {}
    agent = alert.get("agent") or {}
    data = alert.get("data") or {}
    syscheck = alert.get("syscheck") or {}
    header = "CEF:0|" + "|".join(_cef_header(str(v)) for v in (
        "hidsctl", "hidsctl", __version__, rule.get("id", ""), rule.get("description", ""),
        min(10, max(0, _level(alert)))))
    extension = [("rt", str(int(record_time(alert) * 1000))), ("externalId", alert.get("id")),
                 ("dvchost", agent.get("name")), ("src", data.get("srcip")),
                 ("spt", data.get("srcport")), ("dst", data.get("dstip")),
                 ("dpt", data.get("dstport")), ("suser", data.get("srcuser")),
                 ("duser", data.get("dstuser")), ("request", data.get("url")),
                 ("fname", syscheck.get("path")),
                 ("cs1Label", "location"), ("cs1", alert.get("location")),
                 ("cs2Label", "groups"), ("cs2", ",".join(rule.get("groups") or ())),
                 ("cs3Label", "agent_id"), ("cs3", agent.get("id")),
                 ("msg", alert_log_text(alert))]
    ext = " ".join(f"{key}={_cef_value(str(value))}" for key, value in extension
                   if value not in (None, ""))
    line = _bsd_header(alert, facility, _hostname(alert, host), None) + f"{header}|{ext}"
    return line.encode("utf-8", "replace")


def _cef_header(value: str) -> str:
    return _escape(value, "|")


def _cef_value(value: str) -> str:
    return _escape(value, "=")


def kv(alert: Alert, facility: int, host: str) -> bytes:
    rule = alert.get("rule") or {}
    agent = alert.get("agent") or {}
    data = alert.get("data") or {}
    pairs: list[tuple[str, Any]] = [
        ("timestamp", alert.get("timestamp")), ("alert_id", alert.get("id")),
        ("rule_id", rule.get("id")), ("level", rule.get("level")),
        ("description", rule.get("description")), ("groups", ",".join(rule.get("groups") or ())),
        ("agent_id", agent.get("id")), ("agent_name", agent.get("name")),
        ("agent_ip", agent.get("ip")), ("location", alert.get("location")),
    ]
    pairs += [(key, value) for key, value in data.items() if isinstance(value, (str, int, float))]
    pairs.append(("full_log", alert_log_text(alert)))
    text = " ".join(f"{_kv_key(k)}={_kv_value(v)}" for k, v in pairs if v not in (None, ""))
    return (_bsd_header(alert, facility, _hostname(alert, host), APP_NAME) + text).encode(
        "utf-8", "replace")


@functools.lru_cache(maxsize=1024)
def _kv_key(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


def _kv_value(value: Any) -> str:
    if value.__class__ is str:
        return '"' + _escape(value, '"') + '"'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return '"' + _escape(str(value), '"') + '"'


FORMATTERS: dict[str, Callable[[Alert, int, str], bytes]] = {
    "rfc5424": rfc5424, "rfc3164": rfc3164, "json": json_format, "cef": cef, "kv": kv,
}
