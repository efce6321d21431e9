"""Diagnostics: the lines hidsctl writes on stderr for a person to read, through one
``logging`` tree with one handler and one format.

    hidsctl COMPONENT: message     a component's diagnostic (``logger("scan")``)
    hidsctl: error: message        a command's fatal error (``logger().error``)
    hidsctl: warning: message      a warning about what the user gave (``logger().warning``)

Records are not diagnostics: ``notice`` records go to stdout as records. Tables and the
``logtest`` prompt are output, not diagnostics, and are printed where they are made.

``supervise`` reads a component's last stderr line as its ``last_error``, without the
``hidsctl: error: `` prefix (supervise/component.py), so a fatal error keeps that prefix.
"""

from __future__ import annotations

import logging
import sys
import time

ROOT = "hidsctl"
STAMPED = {"stamped": True}


class Format(logging.Formatter):
    """``hidsctl COMPONENT: message``, or ``hidsctl: LEVEL: message`` with no component;
    a record logged with ``extra=STAMPED`` starts with its UTC time (supervise's own log,
    which runs for months and interleaves its components' lines)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        component = record.name.partition(".")[2]
        line = (f"{ROOT} {component}: {message}" if component
                else f"{ROOT}: {record.levelname.lower()}: {message}")
        if getattr(record, "stamped", False):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
            return f"{stamp} {line}"
        return line


class StderrHandler(logging.Handler):
    """Writes to ``sys.stderr`` as it is when a line is written (tests and typer's runner
    replace it), flushed per line; says nothing once stderr is closed or gone, since a
    diagnostic must never be what stops a stage."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # a broken pipe, a closed stream
            pass


def _install() -> logging.Logger:
    root = logging.getLogger(ROOT)
    if not any(isinstance(h, StderrHandler) for h in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(Format())
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False  # a library's root logging config must not print them twice
    return root


def logger(component: str | None = None) -> logging.Logger:
    """The logger of ``component`` (``scan``, ``mail``…), or hidsctl's own with None."""
    root = _install()
    return root.getChild(component) if component else root
