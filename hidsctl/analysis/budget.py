"""The per-event time budget: no log line, rule or decoder may stall analysis.

A search in Python's ``re`` (or the ``regex`` package) cannot be stopped from another
thread, but both check for signals while they backtrack, and a Python signal handler that
raises stops the search where it is. So an interval timer on the process's CPU time
(``ITIMER_PROF``: a loaded machine does not count against an event, and an idle process
gets no ticks) ticks every fifth of the budget; the handler raises :class:`OverBudget` in
the main thread when the same event has been under analysis for the whole budget. The loop
marks the event under analysis with a number (``guard.event``), 0 between events, which
costs two attribute stores an event.

What was running is read from the traceback: the generated rule function (its line names
the rule, see compiler.py), or the decoder loop's locals.
"""

from __future__ import annotations

import dis
import signal
import threading
from typing import Any

from hidsctl.analysis.compiler import GENERATED
from hidsctl.errors import UsageError

DEFAULT_MS = 50.0
TICKS_PER_BUDGET = 5


class OverBudget(BaseException):
    """Raised inside an event's analysis past the budget. A BaseException, so no
    ``except Exception`` on the way swallows it."""


class Guard:
    """The interval timer and the event marker; ``with guard:`` arms it."""

    def __init__(self, milliseconds: float = DEFAULT_MS):
        if not milliseconds > 0:
            raise UsageError("--budget must be a positive number of milliseconds")
        self.milliseconds = milliseconds
        self.tick = milliseconds / 1000 / TICKS_PER_BUDGET
        self.event = 0          # the event under analysis; 0 between events
        self._seen = 0
        self._ticks = 0
        self._previous: Any = None
        self.armed = False

    def __enter__(self) -> "Guard":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGPROF, self._on_tick)
            signal.siginterrupt(signal.SIGPROF, False)  # reads and writes just go on
            signal.setitimer(signal.ITIMER_PROF, self.tick, self.tick)
            self.armed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_PROF, 0, 0)
            signal.signal(signal.SIGPROF, self._previous or signal.SIG_DFL)
            self.armed = False

    def _on_tick(self, _signum: int, _frame: Any) -> None:
        event = self.event
        if not event:
            return
        if event != self._seen:
            self._seen, self._ticks = event, 1  # began within the last tick
            return
        self._ticks += 1
        if self._ticks > TICKS_PER_BUDGET:  # it has run at least the whole budget
            self._seen = 0
            raise OverBudget


# --- what was running ------------------------------------------------------------------------

def culprit(exc: BaseException, engine: Any) -> str:
    """The rule or decoder (and its pattern, where known) that was running at ``exc``."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    for tb in reversed(frames):
        code = tb.tb_frame.f_code
        if code.co_filename.startswith(GENERATED):
            return _rule_at(engine, tb)
        if code.co_name in ("decode", "_run_regexes") and \
                code.co_filename.endswith("decoders.py"):
            return _decoder_at(tb)
        if code.co_filename.endswith("predecode.py"):
            return "pre-decoding"
    return "analysis"


def _rule_at(engine: Any, tb: Any) -> str:
    rule = engine.rule_at_line(tb.tb_lineno)
    if rule is None:
        return "the rules"
    text = f"rule {rule.id} ({_place(rule.where)})"
    pattern = _pattern_called(engine, tb)
    return f"{text}, {describe(pattern)}" if pattern is not None else text


def _pattern_called(engine: Any, tb: Any) -> Any:
    """The pattern whose search the generated code was calling: the last bound name it
    loaded before the instruction it stopped at."""
    name = None
    for ins in dis.get_instructions(tb.tb_frame.f_code):
        if ins.offset > tb.tb_lasti:
            break
        if ins.opname == "LOAD_GLOBAL" and isinstance(ins.argval, str):
            name = ins.argval
    return engine.pattern_named(name) if name else None


def _decoder_at(tb: Any) -> str:
    local = tb.tb_frame.f_locals
    if tb.tb_frame.f_code.co_name == "_run_regexes":
        dec = local.get("dec")
        return f"decoder {dec.name!r} ({_place(dec.where)}), {describe(dec.regex)}" \
            if dec is not None else "a decoder"
    dec = local.get("kid") or local.get("top")  # the children are tried after their parent
    if dec is None:
        return "a decoder"
    return f"decoder {dec.name!r} ({_place(dec.where)}), prematch {describe(dec.prematch)}"


def _place(where: Any) -> str:
    return f"{where.path}:{where.line}" if where.line is not None else str(where.path)


def describe(pattern: Any) -> str:
    if pattern is None:
        return "no pattern"
    kind = {"match": "os_match", "regex": "os_regex"}.get(pattern.kind, pattern.kind)
    source = pattern.source if len(pattern.source) <= 120 else pattern.source[:117] + "..."
    return f"{kind} {source!r}"


def notice(record: dict[str, Any] | None, what: str, milliseconds: float, *,
           location: str | None = None) -> dict[str, Any]:
    """The ``notice`` record for an event given up at the budget."""
    from hidsctl import records

    record = record if isinstance(record, dict) else {}
    where = location if location is not None else record.get("location")
    if not isinstance(where, str):
        where = str(record.get("path") or record.get("type") or "")
    agent = record.get("agent") if isinstance(record.get("agent"), dict) else None
    return records.make("notice", agent=agent, component="analyze", code="over_budget",
                        message=f"analysis of an event from {where or 'an unknown location'} "
                                f"passed its {milliseconds:g} ms budget in {what}; the event "
                                "was skipped",
                        location=where)
