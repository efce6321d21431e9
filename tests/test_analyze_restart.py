"""analyze --state-dir keeps its correlation state across a SIGKILL: the state saved at a
checkpoint is restored at the next start (analysis/statefile.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from ruleset_support import probe_rules

RULES = probe_rules("restart-probe", extra="""  <rule id="100003" level="7" ignore="600">
    <match>ignore-probe</match>
    <description>ignored for ten minutes once raised</description>
  </rule>
""")


def log(n: int, what: str = "restart-probe", agent: str = "001") -> dict:
    return {"type": "log", "location": "test",
            "agent": {"id": agent, "name": f"host{agent}", "ip": "192.0.2.1"},
            "log": f"Nov 25 13:00:{n:02d} host app: {what} {n}"}


def checkpoint(offset: int, **extra) -> dict:
    return {"type": "checkpoint", "queue": "events", "offset": offset, **extra}


class Analyze:
    """An analyze process fed record by record, its output read up to each checkpoint."""

    def __init__(self, rules_dir, state_dir=None, workers: int = 1, rules: str = RULES):
        (rules_dir / "local_rules.xml").write_text(rules)
        argv = [sys.executable, "-m", "hidsctl", "analyze", "--no-default-rules",
                "--rules", str(rules_dir), "--workers", str(workers)]
        if state_dir is not None:
            argv += ["--state-dir", str(state_dir)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)

    def feed(self, *records: dict) -> list[dict]:
        """Write ``records`` (the last a checkpoint); the output up to its echo."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"".join(json.dumps(r).encode() + b"\n" for r in records))
        self.proc.stdin.flush()
        out = []
        while True:
            line = self.proc.stdout.readline()
            assert line, self.proc.stderr.read().decode()  # type: ignore[union-attr]
            record = json.loads(line)
            if record == records[-1]:
                return out
            out.append(record)

    def kill(self) -> str:
        """SIGKILL analyze and what it forked (--workers), as supervise does."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode()


def rule_ids(records: list[dict]) -> list[str]:
    return [r["rule"]["id"] for r in records if r.get("type") == "alert"]


def run_split(tmp_path, first: list[dict], rest: list[dict], keep_state: bool,
              workers: int = 1, resume: bool = False) -> tuple[list[str], list[str], str]:
    """Alerts of ``first``, then of ``rest`` after a SIGKILL and a restart, and what the
    second process said on stderr."""
    state = tmp_path / "state"
    one = Analyze(tmp_path, state, workers)
    before = one.feed(*first, checkpoint(len(first)))
    one.kill()
    two = Analyze(tmp_path, state if keep_state else tmp_path / "other", workers)
    start = [checkpoint(len(first), resume=True)] if resume else []
    after = two.feed(*start, *rest, checkpoint(len(first) + len(rest)))
    return rule_ids(before), rule_ids(after), two.kill()


def events(numbers, what="restart-probe") -> list[dict]:
    return [log(n, what) for n in numbers]


@pytest.mark.parametrize("resume,workers", [(False, 1), (True, 1), (True, 2)])
def test_a_frequency_count_survives_a_kill(tmp_path, resume, workers):
    """With --workers 2 one agent's records go through the decoding pipeline
    (pipeline.py), whose first process correlates and saves as one process does."""
    whole = Analyze(tmp_path, workers=workers)
    plain = rule_ids(whole.feed(*events(range(8)), checkpoint(8)))
    whole.kill()
    assert plain.count("100002") == 1
    split = plain.index("100002") - 1  # the kill comes one event before the threshold
    before, after, stderr = run_split(tmp_path, events(range(split)),
                                      events(range(split, 8)), keep_state=True,
                                      workers=workers, resume=resume)
    assert before + after == plain
    assert after.count("100002") == 1, stderr
    assert "correlation state" not in stderr


def two_agents(numbers) -> list[dict]:
    """A flood from agent 004 with agent 001's probes between (crc32 puts them on
    different workers of two, parallel.py)."""
    out = []
    for n in numbers:
        out += [log(n, agent="004"), log(n, agent="001")]
    return out


def test_agent_split_workers_each_keep_their_agents_state(tmp_path):
    whole = Analyze(tmp_path, workers=2)
    plain = rule_ids(whole.feed(*two_agents(range(6)), checkpoint(12)))
    whole.kill()
    assert plain.count("100002") == 2  # each worker counts its own agent's probes
    before, after, stderr = run_split(tmp_path, two_agents(range(3)), two_agents(range(3, 6)),
                                      keep_state=True, workers=2, resume=True)
    assert sorted(before + after) == sorted(plain), stderr
    assert after.count("100002") == 2
    assert sorted(p.name for p in (tmp_path / "state").glob("correlation*")) == \
        ["correlation-1of2.snap", "correlation-2of2.snap"]


def test_without_the_saved_state_the_count_starts_again(tmp_path):
    """The case the saved state is for: a fresh state misses the flood."""
    before, after, _ = run_split(tmp_path, events(range(3)), events(range(3, 8)),
                                 keep_state=False)
    assert "100002" not in before + after


def test_an_ignore_window_survives_a_kill(tmp_path):
    before, after, stderr = run_split(tmp_path, events([0], "ignore-probe"),
                                      events([30], "ignore-probe"), keep_state=True)
    assert (before, after) == (["100003"], []), stderr
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    before, after, _ = run_split(fresh, events([0], "ignore-probe"),
                                 events([30], "ignore-probe"), keep_state=False)
    assert (before, after) == (["100003"], ["100003"])


def test_a_resume_before_the_last_snapshot_takes_the_one_before(tmp_path):
    """Killed after saving the state of offset 5 but before the supervisor recorded it:
    fed again from 3, analyze restores the state of 3, and counts events 3 and 4 once."""
    state = tmp_path / "state"
    whole = Analyze(tmp_path)
    plain = rule_ids(whole.feed(*events(range(8)), checkpoint(8)))
    whole.kill()
    one = Analyze(tmp_path, state)
    first = rule_ids(one.feed(*events(range(3)), checkpoint(3)))
    # a second snapshot is due at once only after the interval: wait for the idle one
    first += rule_ids(one.feed(*events(range(3, 5)), checkpoint(5)))
    _wait_for_snapshots(state, 2)
    one.kill()
    two = Analyze(tmp_path, state)
    after = rule_ids(two.feed(checkpoint(3, resume=True), *events(range(3, 8)),
                              checkpoint(8)))
    stderr = two.kill()
    assert first == plain[:5]
    assert plain[:3] + after == plain, stderr


def test_a_corrupt_or_foreign_snapshot_is_said_and_ignored(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    for content in (b"garbage", b"hidsctl-correlation\n{\"format\": 99}\n",
                    b"hidsctl-correlation\n{\"format\": 1, \"entries\": 7}\n",
                    b"hidsctl-correlation\n{\"format\": 1, \"entries\": "
                    b"[{\"position\": {}, \"size\": 5}]}\nxxxxx"):
        (state / "correlation.snap").write_bytes(content)
        proc = Analyze(tmp_path, state)
        assert rule_ids(proc.feed(*events(range(2)), checkpoint(2))) == ["100001"] * 2
        stderr = proc.kill()
        assert "correlation state" in stderr and "starting with an empty" in stderr
        assert len(stderr.strip().splitlines()) == 1, stderr


def test_a_snapshot_of_another_ruleset_starts_empty(tmp_path):
    state = tmp_path / "state"
    one = Analyze(tmp_path, state)
    one.feed(*events(range(3)), checkpoint(3))
    one.kill()
    two = Analyze(tmp_path, state, rules=RULES.replace('id="100003"', 'id="100004"'))
    assert "100002" not in rule_ids(two.feed(*events(range(3, 6)), checkpoint(6)))
    assert "another ruleset" in two.kill()


def _wait_for_snapshots(state, count: int) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            head = (state / "correlation.snap").read_bytes().split(b"\n")[1]
            if len(json.loads(head)["entries"]) >= count:
                return
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"no {count} snapshots in {state}")


def test_a_state_past_its_bound_is_not_written_and_a_file_past_it_not_read(
        tmp_path, monkeypatch, capsys):
    """The 64 MiB bound (bus/snapshot.py MAX_SIZE), made small here: a state that grew
    past it is not saved (the last good file stays), and a file past it is not read."""
    from hidsctl.analysis.events import from_record
    from hidsctl.analysis.run import AnalyzeSettings, new_engine
    from hidsctl.analysis.statefile import StateFile
    from hidsctl.bus import snapshot

    (tmp_path / "local_rules.xml").write_text(RULES)
    engine = new_engine(AnalyzeSettings(rules=[tmp_path], no_default_rules=True))
    path = tmp_path / "correlation.snap"

    def analysed(numbers) -> StateFile:
        saved = StateFile(path)
        saved.load()
        saved.restore(engine)
        for n in numbers:
            ev = from_record(log(n))
            assert ev is not None
            rule = engine.winner(ev)
            if rule is not None:
                engine.alerts(rule, ev)
            saved.record()
        saved.checkpoint(engine, "events", len(numbers))  # saves: the first is due
        return saved

    analysed(range(2))
    good = path.read_bytes()
    small = len(snapshot.Codec(engine).encode(engine.state, 0))
    monkeypatch.setattr(snapshot, "MAX_SIZE", small + 10)
    capsys.readouterr()
    analysed(range(2, 40))  # the state outgrew the bound
    assert path.read_bytes() == good
    assert "not written" in capsys.readouterr().err
    path.write_bytes(good + b"x" * (2 * (small + 10) + 4096))  # the file past its bound
    StateFile(path).load()
    assert "larger than its bound" in capsys.readouterr().err
