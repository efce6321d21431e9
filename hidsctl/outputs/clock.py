"""Wall-clock access for outputs, injectable so tests move time without sleeping."""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from typing import Callable

Clock = Callable[[], float]  # epoch seconds, like time.time

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def system_clock() -> float:
    return time.time()


def utc_day(epoch: float) -> date:
    return datetime.fromtimestamp(epoch, timezone.utc).date()
