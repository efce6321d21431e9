"""The decisions: which responses an alert calls for, where each runs, whether it may run
at all; carrying out ``ar`` records; undoing actions whose time is up. Every outcome is
one ``ar_result`` record."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import orjson

from hidsctl import origin, records
from hidsctl.respond import accounts, scripts, values
from hidsctl.respond.allowlist import AllowList
from hidsctl.respond.routing import Router
from hidsctl.respond.settings import Command, RespondSettings, Response
from hidsctl.respond.timers import Action, Subject, Timers, action_key

UNDO_ATTEMPTS = 3
UNDO_RETRY_SECONDS = 60.0
LOCAL_TARGETS = ("", "local", "server", "000")
MAX_TIMEOUT = 10 * 365 * 86400  # seconds; beyond, an undo time is past what dates can show

Record = dict[str, Any]


class Skip(Exception):
    """Why a response is not carried out (the ``reason`` of a skipped ar_result)."""


class Responder:
    def __init__(self, settings: RespondSettings, timers: Timers, allow: AllowList,
                 router: Router | None = None, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.timers = timers
        self.allow = allow
        self.router = router
        self.clock = clock

    # --- input ------------------------------------------------------------------------

    def handle(self, record: Record) -> list[Record]:
        """The ar_result records for one input record; [record] for other types."""
        kind = record.get("type")
        if kind in origin.ACTIONABLE and "origin" in record:
            return [self.untrusted(record)]
        if kind == "alert":
            return self.handle_alert(record)
        if kind == "ar":
            return self.handle_ar(record)
        return [record]

    def handle_alert(self, alert: Record) -> list[Record]:
        rule = alert.get("rule") or {}
        out = []
        for response in self.settings.responses:
            if response.matches(rule):
                out += self.respond(response, alert)
        if not out and self.settings.report_unmatched:
            out.append(self.result("skipped", reason="no matching response",
                                   rule_id=str(rule.get("id", "")), alert_id=_text(alert.get("id"))))
        return out

    def untrusted(self, record: Record) -> Record:
        """An alert or ``ar`` that came from an agent or a device (``receive`` stamped its
        ``origin``) is what that peer says, not a decision of this server: never acted on."""
        reason = f"not made on this host: it came from {origin.remote(record)}"
        if record.get("type") == "alert":
            rule = record.get("rule")
            return self.result("skipped", reason=reason, alert_id=_text(record.get("id")),
                               rule_id=_text(rule.get("id")) if isinstance(rule, dict) else None)
        return self.result("skipped", reason=reason, command=_text(record.get("command")),
                           action=_text(record.get("action")), target=_text(record.get("target")))

    def respond(self, response: Response, alert: Record) -> list[Record]:
        command = self.settings.commands[response.command]
        base = {"command": command.name, "action": "add", "timeout": response.timeout}
        try:
            subject = self.subject_of_alert(command, alert)
        except Skip as why:
            return [self.result("skipped", reason=str(why), **base,
                                rule_id=_text((alert.get("rule") or {}).get("id")),
                                alert_id=_text(alert.get("id")))]
        out = []
        here, targets = self.where(response, subject.agent)
        if here:
            offenders = response.repeated_offenders or self.settings.repeated_offenders
            out.append(self.add(command, subject, alert, response.timeout, offenders))
        for target in targets:
            out.append(self.route(command, subject, alert, response.timeout, target))
        return out

    def where(self, response: Response, agent: str) -> tuple[bool, list[str]]:
        """(run here?, agents to route to) as OSSEC's locations mean them."""
        if response.location == "server":
            return True, []
        if response.location == "all":
            return True, ["all"]
        # settings give every defined-agent response its agent id
        target = (response.agent_id or "") if response.location == "defined-agent" else agent
        if target in ("", "000"):
            return True, []
        return False, [target]

    def handle_ar(self, ar: Record) -> list[Record]:
        name, action = ar.get("command"), ar.get("action")
        timeout = ar.get("timeout") or 0
        target = ar.get("target") or "local"
        base = {"command": _text(name), "action": _text(action), "target": _text(target)}
        command = self.settings.commands.get(name) if isinstance(name, str) else None
        try:
            if command is None:
                raise Skip("unknown command")
            if action not in ("add", "delete"):
                raise Skip("unknown action")
            if not isinstance(timeout, int) or isinstance(timeout, bool) \
                    or not 0 <= timeout <= MAX_TIMEOUT:
                raise Skip("invalid timeout")
            alert = _dict(ar.get("alert"))
            subject = self.subject_of_ar(command, ar)
        except Skip as why:
            return [self.result("skipped", reason=str(why), **base)]
        out = []
        if self.router is not None and target not in LOCAL_TARGETS:
            # A router forwards commands for agents; "all" includes this host.
            out.append(self.route(command, subject, alert, timeout, target, action=action))
            if target != "all":
                return out
        if action == "delete":
            out.append(self.delete(command, subject, alert))
        else:
            out.append(self.add(command, subject, alert, timeout, self.settings.repeated_offenders))
        return out

    # --- values -------------------------------------------------------------------------

    def subject_of_alert(self, command: Command, alert: Record) -> Subject:
        data = _dict(alert.get("data"))
        agent = _dict(alert.get("agent"))
        syscheck = _dict(alert.get("syscheck"))
        user = data.get("dstuser") if data.get("dstuser") is not None else data.get("srcuser")
        if agent.get("id") is not None and values.agent_id(agent.get("id")) is None:
            raise Skip("invalid agent id")  # never guess where to run
        return self.checked(command, data.get("srcip"), user, Subject(
            rule_id=values.rule_id((alert.get("rule") or {}).get("id")) or "",
            alert_id=values.alert_id(alert.get("id")) or "",
            agent=values.agent_id(agent.get("id")) or "",
            filename=values.filename(syscheck.get("path")) or "",
        ))

    def subject_of_ar(self, command: Command, ar: Record) -> Subject:
        alert = _dict(ar.get("alert"))
        agent = _dict(alert.get("agent"))
        return self.checked(command, ar.get("srcip"), ar.get("user"), Subject(
            rule_id=values.rule_id(ar.get("rule_id")) or "",
            alert_id=values.alert_id(ar.get("alert_id")) or "",
            agent=values.agent_id(agent.get("id")) or "",
        ))

    def checked(self, command: Command, srcip: Any, user: Any, subject: Subject) -> Subject:
        """The values the command expects, each checked; values it does not expect are
        dropped unchecked, so an odd user name in a log line cannot stop an address block."""
        if "srcip" in command.expect:
            if srcip is None or srcip == "":
                raise Skip("no srcip")
            subject.srcip = values.srcip(srcip) or ""
            if not subject.srcip:
                raise Skip("invalid srcip")
            kind = values.not_a_host(subject.srcip)
            if kind:
                raise Skip(f"srcip is not a host address ({kind})")
        if "user" in command.expect:
            if user is None or user == "":
                raise Skip("no user")
            subject.user = values.user(user) or ""
            if not subject.user:
                raise Skip("invalid user")
        return subject

    def refused(self, subject: Subject) -> str | None:
        if subject.srcip and self.allow.contains(subject.srcip):
            return "allow-listed"
        if subject.user and subject.user in self.settings.allow_users:
            return "allow-listed user"
        if subject.user:
            return accounts.refused(subject.user, self.settings.uid_min, self.settings.system_users)
        return None

    # --- actions ------------------------------------------------------------------------

    def add(self, command: Command, subject: Subject, alert: Record, timeout: int,
            offenders: tuple[int, ...]) -> Record:
        base = self.fields(command, subject, "add")
        why = self.refused(subject)
        if why:
            return self.result("skipped", reason=why, **base, timeout=timeout)
        now = self.clock()
        key = action_key(command.name, subject.srcip, subject.user)
        existing = self.timers.get(key)
        # An add a kill cut short comes again with its alert: its offence is counted already.
        count = self.timers.offences(key) if existing is not None and not existing.ran \
            else self.timers.offence(key, now)
        timeout = escalated(timeout, count, offenders) if command.timeout_allowed else 0
        expires = now + timeout if timeout else None
        if existing is not None and existing.ran:
            if existing.expires is not None and expires is not None:
                expires = max(expires, existing.expires)
            else:
                expires = None  # one of them never expires
            self.timers.extend(key, expires, timeout)
            return self.result("extended", **base, timeout=timeout, offences=count,
                               **_expiry(expires))
        action = Action(command=command.name, path=str(command.path), **asdict(subject),
                        alert=orjson.dumps(script_alert(alert, subject)).decode(),
                        added=now, timeout=timeout, expires=expires, ran=0)
        # Recorded before the script runs: a crash mid-script still undoes, and an add
        # recorded but never finished (``existing``, not run) runs again (timers.py).
        self.timers.put(action)
        outcome = self.run(action, "add")
        if not outcome.ok:
            self.timers.remove(key)
            return self.result("failed", reason=outcome.problem, **base, timeout=timeout,
                               exit_code=outcome.exit_code, output=outcome.output)
        self.timers.mark_ran(key)
        return self.result("ran", **base, timeout=timeout, offences=count, exit_code=0,
                           output=outcome.output, **_expiry(expires))

    def delete(self, command: Command, subject: Subject, alert: Record) -> Record:
        base = self.fields(command, subject, "delete")
        why = subject.user and accounts.refused(subject.user, self.settings.uid_min,
                                                self.settings.system_users)
        if why:  # never unlock a system account on a command's say-so either
            return self.result("skipped", reason=why, **base)
        key = action_key(command.name, subject.srcip, subject.user)
        action = self.timers.get(key) or Action(
            command=command.name, path=str(command.path), **asdict(subject),
            alert=orjson.dumps(script_alert(alert, subject)).decode())
        outcome = self.run(action, "delete")
        if not outcome.ok:
            return self.result("failed", reason=outcome.problem, **base,
                               exit_code=outcome.exit_code, output=outcome.output)
        self.timers.remove(key)
        return self.result("undone", **base, exit_code=0, output=outcome.output)

    def undo_due(self) -> list[Record]:
        """Undo every action whose time is up (including while ``respond`` was down)."""
        out = []
        now = self.clock()
        for action in self.timers.due(now):
            base = {"command": action.command, "action": "delete", "srcip": action.srcip or None,
                    "user": action.user or None, "rule_id": action.rule_id or None,
                    "alert_id": action.alert_id or None, "target": "local",
                    "timeout": action.timeout}
            outcome = self.run(action, "delete")
            if outcome.ok:
                self.timers.remove(action.key)
                out.append(self.result("undone", **base, exit_code=0, output=outcome.output))
                continue
            attempts = action.attempts + 1
            if attempts >= UNDO_ATTEMPTS:
                self.timers.remove(action.key)
                reason = f"{outcome.problem}; gave up after {attempts} attempts"
            else:
                self.timers.retry_later(action.key, now + UNDO_RETRY_SECONDS * attempts, attempts)
                reason = f"{outcome.problem}; will retry"
            out.append(self.result("failed", reason=reason, **base,
                                   exit_code=outcome.exit_code, output=outcome.output))
        return out

    def run(self, action: Action, verb: str) -> scripts.ScriptResult:
        path = Path(action.path)
        args = scripts.arguments(verb, action.user, action.srcip, action.alert_id, action.rule_id,
                                action.agent, action.filename)
        stdin = scripts.message(verb, path, orjson.loads(action.alert))
        # disable-account checks the account again with the same limits
        env = {"HIDSCTL_UID_MIN": str(self.settings.uid_min),
               "HIDSCTL_SYSTEM_USERS": ",".join(sorted(self.settings.system_users))}
        return scripts.run(path, args, stdin, self.settings.script_timeout, env)

    def route(self, command: Command, subject: Subject, alert: Record, timeout: int,
              target: str, action: str = "add") -> Record:
        base = self.fields(command, subject, action)
        base["target"] = target
        if self.router is None:
            return self.result("skipped", reason="no route to agents (--route not given)",
                               **base, timeout=timeout)
        ar = records.make("ar", command=command.name, action=action, timeout=timeout,
                          **{k: v for k, v in base.items() if k not in ("command", "action") and v},
                          alert=script_alert(alert, subject))
        problem = self.router.send(ar)
        if problem:
            return self.result("failed", reason=problem, **base, timeout=timeout)
        return self.result("routed", **base, timeout=timeout)

    # --- records ------------------------------------------------------------------------

    @staticmethod
    def fields(command: Command, subject: Subject, action: str) -> Record:
        return {"command": command.name, "action": action, "srcip": subject.srcip or None,
                "user": subject.user or None, "rule_id": subject.rule_id or None,
                "alert_id": subject.alert_id or None, "target": "local"}

    @staticmethod
    def result(status: str, **fields: Any) -> Record:
        return records.make("ar_result", status=status,
                            **{k: v for k, v in fields.items() if v is not None and v != ""})


def escalated(timeout: int, offences: int, offenders: tuple[int, ...]) -> int:
    """The first offence gets ``timeout``; the next ones the repeated-offender steps
    (minutes), the last step for every offence after that."""
    if not timeout or offences <= 1 or not offenders:
        return timeout
    return offenders[min(offences - 2, len(offenders) - 1)] * 60


def script_alert(alert: Record, subject: Subject) -> Record:
    """The alert as scripts see it on stdin, its srcip and user replaced by the validated
    values (Wazuh scripts read them from there)."""
    copy = dict(alert)
    data = dict(_dict(copy.get("data")))
    for key, value in (("srcip", subject.srcip), ("dstuser", subject.user)):
        if value:
            data[key] = value
        else:
            data.pop(key, None)  # never a value that was not checked
    if data.get("srcuser") != subject.user:
        data.pop("srcuser", None)
    copy["data"] = data
    return copy


def _expiry(expires: float | None) -> Record:
    return {"expires": records.format_timestamp(expires)} if expires is not None else {}


def _dict(value: Any) -> dict:
    """``value`` when it is an object, else an empty one: records are data and may lack it."""
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        text = str(value)
        return text if len(text) <= 64 and text.isprintable() else None
    return None
