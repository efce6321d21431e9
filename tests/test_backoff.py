"""hidsctl.backoff: the one exponential back-off that supervise, send and the outputs use."""

from __future__ import annotations

from hidsctl.backoff import Backoff


def test_waits_double_up_to_the_ceiling_and_start_over_after_reset() -> None:
    backoff = Backoff(0.5, 3.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_jitter_shortens_each_wait_by_at_most_its_fraction() -> None:
    backoff = Backoff(1.0, 60.0, jitter=0.5)
    for full in (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0):
        assert full * 0.5 <= backoff.next() <= full
