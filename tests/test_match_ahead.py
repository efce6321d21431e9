"""Matching ahead (``analyze --workers N`` on one agent's stream, pipeline.py): a decoding
process runs the rule tree with a state that answers nothing, and the first process takes
the winner only where no state could have changed it, and only with the engine the
decoding processes were forked with."""

from __future__ import annotations

import pytest

from hidsctl.analysis.correlation import Stateless
from hidsctl.analysis.engine import Engine
from hidsctl.analysis.events import Event, from_log_line
from hidsctl.analysis.run import AnalyzeSettings, load_ruleset

FAILED = ("Nov 25 13:50:{:02d} web1 sshd[811]: Failed password for root from 203.0.113.9 "
          "port 52144 ssh2")
CLOSED = "Nov 25 13:50:47 web1 sshd[811]: Connection closed by 203.0.113.9 port 52144"
KERNEL = "Nov 25 13:50:47 web1 kernel: eth0: link up"


@pytest.fixture(scope="module")
def ruleset():
    return load_ruleset(AnalyzeSettings())


def _decoded(engine: Engine, line: str, second: int = 0) -> Event:
    ev = from_log_line(line, "/var/log/auth.log", when=1795614600.0 + second)
    engine.decoders.decode(ev)
    return ev


def _ahead(ruleset) -> Engine:
    engine = Engine(ruleset)
    engine.state = Stateless(engine.plan)
    return engine


def test_a_winner_no_state_decides_is_matched_ahead(ruleset):
    ahead, plain = _ahead(ruleset), Engine(ruleset)
    for line in (CLOSED, KERNEL):
        winner = plain.winner(_decoded(plain, line))
        assert winner is not None
        assert ahead.match_ahead(_decoded(ahead, line)) == winner.id


def test_a_path_through_a_correlation_is_left_to_the_correlating_process(ruleset):
    # A failed password's rule has a frequency child (the brute force): its search needs
    # the failures before, which only the first process holds.
    assert _ahead(ruleset).match_ahead(_decoded(_ahead(ruleset), FAILED.format(1))) is None


def test_the_first_process_takes_the_winner_matched_ahead(ruleset):
    ahead, first = _ahead(ruleset), Engine(ruleset)
    first.takes_ahead = True
    ev = _decoded(first, CLOSED)
    ev.ahead = ahead.match_ahead(_decoded(ahead, CLOSED))
    assert first.winner(ev).id == 5722
    assert first.state.fired[5722] == 1  # counted as when it matches itself


def test_an_engine_the_decoders_were_not_forked_with_matches_itself(ruleset):
    """After a reload the first process's engine is another: what was matched ahead with
    the old rules (a chunk decoded before the decoding processes heard of the reload) is
    not taken, and the new tree decides."""
    reloaded = Engine(ruleset)
    assert reloaded.takes_ahead is False
    ev = _decoded(reloaded, CLOSED)
    ev.ahead = 5100  # what an old tree might have said
    assert reloaded.winner(ev).id == 5722


def test_correlation_still_counts_every_failure_with_matching_ahead(ruleset):
    """Failures are left to the first process, which sees all of them: the eighth within
    the time frame is the brute force, as with one process."""
    ahead, first = _ahead(ruleset), Engine(ruleset)
    first.takes_ahead = True
    won = []
    for second in range(1, 9):
        ev = _decoded(first, FAILED.format(second), second)
        ev.ahead = ahead.match_ahead(_decoded(ahead, FAILED.format(second), second))
        won.append(first.process(ev).rule.id)
    assert won == [5716] * 7 + [5720]


def test_a_decoding_process_stops_matching_ahead_once_told_to_reload(ruleset):
    from hidsctl.analysis.budget import Guard
    from hidsctl.analysis.pipeline import Decoding
    from hidsctl.records import dumps

    line = dumps({"type": "log", "log": CLOSED, "location": "/var/log/auth.log"})
    with Guard(50.0) as guard:
        decoding = Decoding(Engine(ruleset), AnalyzeSettings(), guard)
        import marshal

        before = marshal.loads(decoding.answer([1], [line]))
        decoding.reload.append(True)  # as SIGHUP does
        after = marshal.loads(decoding.answer([2], [line]))
    assert before[0][-1] == 5722
    assert after[0][-1] is None
