"""Wall-clock access for outputs, injectable so tests move time without sleeping."""

from __future__ import annotations

import time
from datetime import date
from typing import Callable

Clock = Callable[[], float]  # epoch seconds, like time.time

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def system_clock() -> float:
    return time.time()


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def utc_day(epoch: float) -> date:
    """The UTC calendar day of an epoch time (arithmetic: this runs for every record)."""
    return date.fromordinal(_EPOCH_ORDINAL + int(epoch // 86400))
