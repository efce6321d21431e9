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
    first.fingerprint = ahead.fingerprint = "same files"
    ev = _decoded(first, CLOSED)
    ev.ahead = ahead.match_ahead(_decoded(ahead, CLOSED))
    ev.ahead_by = ahead.fingerprint
    assert first.winner(ev).id == 5722
    assert first.state.fired[5722] == 1  # counted as when it matches itself


@pytest.mark.parametrize("mine, theirs", [("new files", "old files"), (None, None)])
def test_a_winner_matched_ahead_with_another_ruleset_is_not_taken(ruleset, mine, theirs):
    """A chunk matched ahead before a reload (or after one that failed on one side) says
    a fingerprint the first process's engine does not have: the engine matches itself.
    An engine with no fingerprint (no decoding processes) takes nothing."""
    engine = Engine(ruleset)
    engine.fingerprint = mine
    ev = _decoded(engine, CLOSED)
    ev.ahead, ev.ahead_by = 5100, theirs  # what another tree might have said
    assert engine.winner(ev).id == 5722


def test_correlation_still_counts_every_failure_with_matching_ahead(ruleset):
    """Failures are left to the first process, which sees all of them: the eighth within
    the time frame is the brute force, as with one process."""
    ahead, first = _ahead(ruleset), Engine(ruleset)
    first.fingerprint = ahead.fingerprint = "same files"
    won = []
    for second in range(1, 9):
        ev = _decoded(first, FAILED.format(second), second)
        ev.ahead = ahead.match_ahead(_decoded(ahead, FAILED.format(second), second))
        ev.ahead_by = ahead.fingerprint
        won.append(first.process(ev).rule.id)
    assert won == [5716] * 7 + [5720]


def test_a_decoding_process_matches_ahead_with_the_rules_it_reloaded(tmp_path):
    """SIGHUP: the decoding process loads the rules again and says their fingerprint with
    each chunk; the first process, reloaded from the same files, has the same one."""
    import marshal

    from ruleset_support import SYSLOG_TEMPLATE

    from hidsctl.analysis.budget import Guard
    from hidsctl.analysis.pipeline import Decoding
    from hidsctl.analysis.run import fingerprinted, new_engine
    from hidsctl.records import dumps

    rules = tmp_path / "local_rules.xml"
    def probe(rule_id: int) -> str:
        return (f'<group name="test,">{SYSLOG_TEMPLATE}  <rule id="{rule_id}" level="3">\n'
                "    <match>hidsctl-ahead-probe</match>\n    <description>probe</description>\n"
                "  </rule>\n</group>\n")

    rules.write_text(probe(100001))
    settings = AnalyzeSettings(rules=[tmp_path], no_default_rules=True)
    line = dumps({"type": "log", "location": "test",
                  "log": "Nov 25 13:00:01 host app: hidsctl-ahead-probe 1"})
    with Guard(50.0) as guard:
        first = fingerprinted(new_engine(settings), settings)
        decoding = Decoding(fingerprinted(new_engine(settings), settings), settings, guard)
        by, items = marshal.loads(decoding.answer([1], [line]))
        assert (by, items[0][-1]) == (first.fingerprint, 100001)
        rules.write_text(probe(100011))
        decoding.reload.append(True)  # as SIGHUP does
        by, items = marshal.loads(decoding.answer([2], [line]))
    assert items[0][-1] == 100011
    assert by != first.fingerprint  # so the first process, not reloaded yet, matches itself
    assert by == fingerprinted(new_engine(settings), settings).fingerprint
