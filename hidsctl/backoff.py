"""Exponential back-off for retrying something that is down: a supervised process that
keeps crashing, a server that does not answer, a mail or syslog server that is away."""

from __future__ import annotations

import random


class Backoff:
    """Each failure doubles the wait, from ``first`` up to ``ceiling``; ``reset`` after a
    success starts over. With ``jitter`` (0 to 1) each wait is shortened by a random
    part of up to that fraction, so many agents cut off together do not return together."""

    def __init__(self, first: float, ceiling: float, jitter: float = 0.0):
        self.first = first
        self.ceiling = ceiling
        self.jitter = jitter
        self.current = first

    def next(self) -> float:
        """The wait before the next attempt; the one after is twice as long."""
        wait = self.current
        self.current = min(self.ceiling, self.current * 2)
        if self.jitter:
            wait *= random.uniform(1.0 - self.jitter, 1.0)
        return wait

    def reset(self) -> None:
        self.current = self.first
