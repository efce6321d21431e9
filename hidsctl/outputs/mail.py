"""E-mail alerts (OSSEC's maild): filtered, grouped, capped per hour, queued on disk.

Every alert that passes the filter is appended to a durable queue first; a message is
committed only after the SMTP server accepted it, so an outage delays mail and loses none.
Alerts arriving within ``group_window`` seconds of the first pending one go in one message.
After ``max_per_hour`` messages in a clock hour, the rest wait; at the next hour one summary
message carries everything held back. The daily report (OSSEC's reportd) goes through the
same queue, outside the cap.
"""

from __future__ import annotations

import json
import os
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Callable, Optional

import orjson

from hidsctl.deadletter import NOT_THE_RECORDS_FAULT, DeadLetters
from hidsctl.diagnostics import logger
from hidsctl.errors import ConfigError, UsageError
from hidsctl.outputs import mailtext
from hidsctl.outputs.clock import Clock, system_clock, utc_day
from hidsctl.outputs.filters import AlertFilter
from hidsctl.outputs.outbox import Outbox
from hidsctl.records import Record, make
from hidsctl.state import atomic_write

log = logger("mail")
TLS_MODES = ("none", "starttls", "ssl")
SUMMARY_MAX = 100_000  # alerts read into one summary message


@dataclass
class MailSettings:
    to: list[str] = field(default_factory=list)
    smtp: str = "localhost:25"
    sender: Optional[str] = None
    level: int = 7
    rule_id: list[str] = field(default_factory=list)
    group: list[str] = field(default_factory=list)
    tls: str = "none"
    ca_file: Optional[Path] = None
    user: Optional[str] = None
    password_file: Optional[Path] = None
    group_window: float = 3.0
    max_group: int = 100
    max_per_hour: int = 12
    daily_report: bool = False
    linger: float = 10.0
    timeout: float = 30.0

    def check(self) -> None:
        if not self.to:
            raise UsageError("mail needs at least one --to address")
        if self.tls not in TLS_MODES:
            raise UsageError(f"--tls must be one of {', '.join(TLS_MODES)}, not {self.tls!r}")
        split_host_port(self.smtp, 25)
        if self.max_per_hour < 1 or self.max_group < 1:
            raise UsageError("--max-per-hour and --max-group must be at least 1")


def split_host_port(text: str, default_port: int) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"expected HOST:PORT, not {text!r}")
    return host, int(port)


# --- SMTP -------------------------------------------------------------------------------

class TemporaryFailure(Exception):
    """The server is down or said try later: keep the message queued."""


class PermanentFailure(Exception):
    """The server refused the message for good (5xx): retrying would block the queue."""


class SmtpTransport:
    def __init__(self, settings: MailSettings):
        self.host, self.port = split_host_port(settings.smtp, 465 if settings.tls == "ssl" else 25)
        self.tls = settings.tls
        self.timeout = settings.timeout
        self.user = settings.user
        self.password = _password(settings) if settings.user else None
        self.context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None) \
            if settings.tls != "none" else None

    def send(self, message: EmailMessage) -> None:
        try:
            if self.tls == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                        context=self.context)
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                client.ehlo()
                if self.tls == "starttls":
                    client.starttls(context=self.context)
                    client.ehlo()
                if self.user:
                    client.login(self.user, self.password or "")
                refused = client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise (PermanentFailure if all(c >= 500 for c in codes) else TemporaryFailure)(
                f"recipients refused: {exc.recipients}") from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise (PermanentFailure if exc.smtp_code >= 500 else TemporaryFailure)(
                f"{exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(f"SMTP {self.host}:{self.port}: {exc}") from None
        if refused:
            log.warning(f"recipients refused: {sorted(refused)}")


def _text(reply: bytes | str) -> str:
    """An SMTP server's reply text (smtplib hands over bytes, or str for its own errors)."""
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def _password(settings: MailSettings) -> str:
    if settings.password_file is not None:
        try:
            return settings.password_file.read_text().splitlines()[0]
        except (OSError, IndexError) as exc:
            raise ConfigError(f"cannot read password file {settings.password_file}: {exc}") from None
    password = os.environ.get("HIDSCTL_SMTP_PASSWORD")
    if password is None:
        raise UsageError("--user needs --password-file or HIDSCTL_SMTP_PASSWORD")
    return password


# --- the mailer -------------------------------------------------------------------------

class Mailer:
    def __init__(self, settings: MailSettings, state: str | os.PathLike, *,
                 now: Clock = system_clock, transport: Any = None,
                 emit: Callable[[Record], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 dead_letters: DeadLetters | None = None):
        settings.check()
        self.settings = settings
        self.dead_letters = dead_letters or DeadLetters(Path(state) / "deadletter", "mail")
        self.now = now
        self.sleep = sleep
        self.emit = emit or (lambda record: None)
        self.state = Path(state)
        self.transport = transport or SmtpTransport(settings)
        self.filter = AlertFilter.build(settings.level, settings.rule_id, settings.group)
        self.outbox = Outbox(self.state / "queue", component="mail", what=settings.smtp,
                             now=now)
        self.cap_path = self.state / "hourly.json"
        self.cap = self._load_cap()
        self.first_pending: float | None = now() if self.outbox.has_pending() else None
        self.sender = settings.sender or f"hidsctl@{socket.gethostname()}"
        self.stats = None
        self.report_day = utc_day(now())
        if settings.daily_report:
            from hidsctl.outputs.report import DailyStats

            self.stats = DailyStats(self.state / "report.db")
            self._queue_reports()
        self.sent_messages = 0

    # --- input --------------------------------------------------------------------------

    def handle(self, record: Record) -> None:
        if record.get("type") != "alert":
            return
        if self.stats is not None:
            self.stats.count(record)
        rule = record.get("rule") or {}
        if self.filter.matches(record) or rule.get("mail") is True:
            self.outbox.put(orjson.dumps({"alert": record}))
            if self.first_pending is None:
                self.first_pending = self.now()

    def tick(self, final: bool = False) -> None:
        now = self.now()
        if self.stats is not None and utc_day(now) != self.report_day:
            self.report_day = utc_day(now)
            self._queue_reports()
        if not self.outbox.has_pending():
            self.first_pending = None
            return
        if self.first_pending is None:
            self.first_pending = now
        if not final and now - self.first_pending < self.settings.group_window:
            return
        if self.outbox.ready():
            self._deliver()

    def mark(self) -> int:
        """Where the queue ends now: everything handled so far is before it."""
        return self.outbox.queue.end_offset()

    def sent(self, mark: int) -> bool:
        """Whether the queue was delivered (or set aside) up to ``mark``."""
        return self.outbox.offset >= mark

    def finish(self) -> None:
        """End of input: report finished days, send what is due, retry a while if down."""
        if self.stats is not None:
            self._queue_reports()
        deadline = time.monotonic() + self.settings.linger
        self.tick(final=True)
        while self._deliverable() and self.outbox.reported_down and time.monotonic() < deadline:
            self.sleep(max(0.05, min(self.outbox.next_attempt - self.now(),
                                     deadline - time.monotonic())))
            self.tick(final=True)
        if self.outbox.has_pending():
            reason = "held by the hourly cap" if self.cap["held"] else "undelivered"
            log.warning(f"{self._pending_count()} queued item(s) {reason} remain in "
                        f"{self.outbox.queue.dir}; the next run sends them")

    def close(self) -> None:
        if self.stats is not None:
            self.stats.close()
        self.outbox.close()

    # --- delivery -----------------------------------------------------------------------

    def _deliverable(self) -> bool:
        return self.outbox.has_pending() and not (
            self.cap["held"] and self.cap["hour"] == self._hour())

    def _deliver(self) -> None:
        while True:
            items = self.outbox.pending(self.settings.max_group)
            if not items:
                self.first_pending = None
                return
            entries = [self._entry(item.data) for item in items]
            if isinstance(entries[0], str):  # no message can carry it: never let it block
                self._set_aside(items[0], entries[0])
                continue
            if "report" in entries[0]:
                report = entries[0]["report"]
                # _send calls write() at once, before the loop moves on
                if not self._send(lambda: (report["subject"], report["body"]),  # noqa: B023
                                  items[0].next_offset):
                    return
                continue
            count = next((i for i, e in enumerate(entries)
                          if isinstance(e, str) or "alert" not in e), len(entries))
            hour = self._hour()
            if self.cap["hour"] != hour:
                held = self.cap["held"]
                self._set_cap(hour, 0, False)
                if held:
                    if not self._send_summary():
                        self._set_cap(hour, 0, True)
                        return
                    continue
            if self.cap["sent"] >= self.settings.max_per_hour:
                self._set_cap(hour, self.cap["sent"], True)
                return
            alerts = [e["alert"] for e in entries[:count] if isinstance(e, dict)]
            # _send calls write() at once, before the loop moves on
            if not self._send(lambda: (mailtext.subject(alerts), mailtext.body(alerts)),  # noqa: B023
                              items[count - 1].next_offset, alerts):
                return
            self._set_cap(hour, self.cap["sent"] + 1, False)

    def _entry(self, data: bytes) -> dict | str:
        """A queued entry (``{"alert": ...}`` or ``{"report": ...}``), or what is wrong with
        it: unreadable, or an alert whose notification cannot be written."""
        try:
            entry = orjson.loads(data)
            if isinstance(entry, dict) and isinstance(entry.get("alert"), dict):
                mailtext.subject([entry["alert"]])
                mailtext.notification(entry["alert"])
                return entry
            report = entry.get("report") if isinstance(entry, dict) else None
            if isinstance(report, dict) and isinstance(report.get("subject"), str) \
                    and isinstance(report.get("body"), str):
                return entry
            return "not an alert or a report"
        except NOT_THE_RECORDS_FAULT:
            raise
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"

    def _set_aside(self, item, problem: str) -> None:
        """Dead-letter the queue's head item and commit past it."""
        try:
            entry = orjson.loads(item.data)
            record = entry.get("alert", entry) if isinstance(entry, dict) else entry
        except orjson.JSONDecodeError:
            record = item.data.decode("utf-8", "replace")
        self.emit(self.dead_letters.put(record, problem))
        self.outbox.done(item.next_offset)

    def _send_summary(self) -> bool:
        items = self.outbox.pending(SUMMARY_MAX)
        alerts = []
        end = self.outbox.offset
        for item in items:
            entry = self._entry(item.data)
            if isinstance(entry, str) or "alert" not in entry:
                break
            alerts.append(entry["alert"])
            end = item.next_offset
        if not alerts:
            return True
        sent = self._send(lambda: (mailtext.summary_subject(len(alerts)),
                                   mailtext.summary_body(alerts, self.settings.max_per_hour)),
                          end, alerts)
        if sent:
            self._set_cap(self._hour(), 1, False)
        return sent

    def _send(self, write: Callable[[], tuple[str, str]], next_offset: int,
              alerts: list | None = None) -> bool:
        """Send the message ``write`` returns (subject, body); commit the queue up to
        ``next_offset`` once it is accepted. A message that cannot be written (a case the
        checks missed) sends its alerts to the dead letters instead of retrying forever."""
        try:
            message = self._message(*write())
        except NOT_THE_RECORDS_FAULT:
            raise
        except Exception as exc:
            for alert in alerts or [{"message": "daily report"}]:
                self.emit(self.dead_letters.put(alert, exc))
            self.outbox.done(next_offset)
            return True
        try:
            self.transport.send(message)
        except TemporaryFailure as exc:
            self.outbox.failed(exc)
            return False
        except PermanentFailure as exc:
            log.warning(f"message refused for good, dropped: {exc}")
            self.emit(make("notice", component="mail", code="dropped", count=1,
                           message=f"mail refused by {self.settings.smtp}: {exc}",
                           location=self.settings.smtp))
        else:
            self.outbox.succeeded()
            self.sent_messages += 1
        self.outbox.done(next_offset)
        return True

    def _message(self, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.settings.to)
        message["Subject"] = subject
        message["Date"] = formatdate(self.now(), usegmt=True)
        message["Message-ID"] = make_msgid(domain=socket.gethostname())
        message["X-Mailer"] = "hidsctl"
        message.set_content(body)
        return message

    # --- the hourly cap and the daily report --------------------------------------------

    def _hour(self) -> int:
        return int(self.now() // 3600)

    def _load_cap(self) -> dict[str, Any]:
        try:
            cap = json.loads(self.cap_path.read_text())
            return {"hour": int(cap["hour"]), "sent": int(cap["sent"]), "held": bool(cap["held"])}
        except (OSError, ValueError, KeyError, TypeError):
            return {"hour": -1, "sent": 0, "held": False}

    def _set_cap(self, hour: int, sent: int, held: bool) -> None:
        cap = {"hour": hour, "sent": sent, "held": held}
        if cap != self.cap:
            self.cap = cap
            atomic_write(self.cap_path, json.dumps(cap) + "\n")

    def _pending_count(self) -> int:
        return len(self.outbox.pending(SUMMARY_MAX))

    def _queue_reports(self) -> None:
        assert self.stats is not None
        for day in self.stats.unreported_before(utc_day(self.now()).isoformat()):
            subject, body = self.stats.report(day)
            self.outbox.put(orjson.dumps({"report": {"subject": subject, "body": body}}))
            self.stats.mark_reported(day)
            if self.first_pending is None:
                self.first_pending = self.now()
