"""``hidsctl analyze --workers N``: forked workers, one input, one merged output."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import run_hidsctl
from test_analyze import FAILED, alerts, log, ruleset  # noqa: F401 - ruleset is a fixture
from transport_support import alive, wait_for


def _numbered(i: int, agent: str) -> str:
    # one address per record: nothing correlates, every record gives exactly one alert
    return log(FAILED.format(s=i % 60, ip=f"203.0.{i // 250}.{i % 250}"), agent=agent)


# Five agents: partitioned by agent. One agent: decoding spread, rules in order
# (pipeline.py); enough records for many input chunks, so every decoding process has some.
SPREADS = pytest.mark.parametrize("agents, per_batch", [(5, 60), (1, 700)],
                                  ids=["agents", "one-agent"])


@SPREADS
def test_checkpoint_leaves_after_the_alerts_before_it_and_before_those_after(ruleset, agents,
                                                                          per_batch):
    records, batches = [], []
    for batch in range(3):
        numbers = range(batch * per_batch, batch * per_batch + per_batch)
        records += [_numbered(i, f"{i % agents:03d}") for i in numbers]
        records.append(json.dumps({"type": "checkpoint", "queue": "events",
                                   "offset": batch}))
        batches.append({f"203.0.{i // 250}.{i % 250}" for i in numbers})
    result = run_hidsctl("analyze", *ruleset, "--workers", "3", input="\n".join(records))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["offset"] for x in lines if x["type"] == "checkpoint"] == [0, 1, 2]
    seen, batch = set(), 0
    for line in lines:
        if line["type"] == "checkpoint":
            assert seen == batches[batch], f"batch {batch}: alerts missing or early"
            seen, batch = set(), batch + 1
        else:
            seen.add(line["data"]["srcip"])
    assert batch == 3 and not seen


@pytest.mark.parametrize("agents", [3, 1])
def test_bad_lines_are_reported_with_their_own_line_numbers(ruleset, agents):
    good = [_numbered(i, f"{i % agents:03d}") for i in range(3)]
    text = "\n".join([good[0], "not json", good[1], '{"type": "log"}', good[2]])
    data = text.encode().replace(b"not json", b"\xff\xfe garbage")
    result = run_hidsctl("analyze", *ruleset, "--workers", "2", input=data)
    assert result.returncode == 0, result.stderr
    assert len(alerts(result.stdout)) == 3
    err = result.stderr.decode()
    assert "line 2: not valid UTF-8" in err and "line 4: log record without" in err


def test_same_alerts_as_one_process_including_correlation(ruleset):
    # agents 000..003 each see a brute force from their own address: correlations stay
    # within one agent, so the workers must find exactly what one process finds
    records = [log(FAILED.format(s=i, ip=f"198.51.100.{i % 4}"), agent=f"{i % 4:03d}",
                   ts=f"2026-11-25T13:50:{i:02d}.000Z") for i in range(24)]
    single = run_hidsctl("analyze", *ruleset, input="\n".join(records))
    several = run_hidsctl("analyze", *ruleset, "--workers", "2", input="\n".join(records))
    assert several.returncode == 0, several.stderr
    key = lambda a: (a["agent"]["id"], a["full_log"], a["rule"]["id"])  # noqa: E731
    want = sorted(map(key, alerts(single.stdout)))
    assert sorted(map(key, alerts(several.stdout))) == want
    assert any(rule == "102" for _, _, rule in want)


def test_one_agents_stream_gives_exactly_what_one_process_gives(ruleset):
    # one agent, so decoding is spread and rules run in order: the output, alert ids and
    # correlations included, is byte for byte that of one process; bad lines and other
    # records stay in their places
    records = []
    for i in range(3000):
        records.append(log(FAILED.format(s=i % 60, ip=f"198.51.100.{i % 7}"),
                           ts=f"2026-11-25T13:{i // 60 % 60:02d}:{i % 60:02d}.000Z"))
        if i % 997 == 0:
            records += ["not json", json.dumps({"type": "checkpoint", "queue": "events",
                                                "offset": i}),
                        json.dumps({"type": "notice", "component": "collect", "code": "x",
                                    "message": "passes through"})]
    text = "\n".join(records)
    single = run_hidsctl("analyze", *ruleset, input=text)
    several = run_hidsctl("analyze", *ruleset, "--workers", "3", input=text)
    assert several.returncode == 0, several.stderr
    assert several.stdout == single.stdout
    assert several.stderr == single.stderr
    rules = {a["rule"]["id"] for a in alerts(single.stdout)}
    assert "102" in rules and len(alerts(single.stdout)) > 1000  # correlation fired


def test_worker_count_is_checked(ruleset):
    result = run_hidsctl("analyze", *ruleset, "--workers", "0", input="")
    assert result.returncode == 2
    assert b"--workers must be 1..64" in result.stderr


@SPREADS
def test_a_killed_worker_ends_analyze_with_an_error(ruleset, agents, per_batch):
    import os
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "hidsctl", "analyze", *ruleset,
                             "--workers", "2"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # the first read holds every agent of the stream: that is what decides the split
        first = [_numbered(i, f"{i % agents:03d}") for i in range(agents)]
        proc.stdin.write("\n".join(first).encode() + b"\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["type"] == "alert"
        # Drain the alerts from here on: a full stdout pipe would stop analyze reading its
        # input, and the writes below would wait for ever.
        import threading
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 2  # one agent: the first decoding process reads the input
        os.kill(int(children[0]), signal.SIGKILL)
        wait_for(lambda: not alive(int(children[0])), 10, "the worker to die")
        with pytest.raises((BrokenPipeError, OSError)):
            for i in range(agents, 2000):  # every agent, so the dead worker's turn comes
                proc.stdin.write(_numbered(i, f"{i % agents:03d}").encode() + b"\n")
                proc.stdin.flush()
                if proc.poll() is not None:
                    raise BrokenPipeError
        assert proc.wait(timeout=60) != 0
        assert b"analysis worker" in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def _waiting_echo(gate, number: int = 1):
    """One worker's echo of checkpoint ``number``, on a thread that returns once it has
    arrived at the gate and waits there; its result lands in the list returned."""
    import threading

    results: list[bool] = []
    waiter = threading.Thread(target=lambda: results.append(gate.echo(number, b"c1")))
    waiter.start()
    while not gate.arrived:
        time.sleep(0.0005)
    return waiter, results


def test_a_worker_ending_right_after_the_last_checkpoint_withholds_nothing():
    """The last echo lets the checkpoint out and that worker ends at once: the worker
    still being released must see its checkpoint as out, not as never completing."""
    from hidsctl.analysis.parallel import CheckpointGate

    for _ in range(200):
        out: list[bytes] = []
        gate = CheckpointGate(2, out.append)
        waiter, results = _waiting_echo(gate)
        assert gate.echo(1, b"c1")
        gate.ended(1)
        waiter.join()
        assert results == [True] and out == [b"c1"]


def test_a_checkpoint_a_gone_worker_never_echoed_is_withheld():
    from hidsctl.analysis.parallel import CheckpointGate

    out: list[bytes] = []
    gate = CheckpointGate(2, out.append)
    waiter, results = _waiting_echo(gate)
    gate.ended(0)  # the other worker died before echoing it
    waiter.join()
    assert results == [False] and out == []


def test_records_without_an_agent_are_the_local_hosts():
    """A notice with no agent beside agent 000's logs is still one agent's stream (so
    decoding is spread), and both go to the same worker when agents are split."""
    import io

    from hidsctl.analysis.parallel import Replay
    from hidsctl.records import agent_id_of

    lines = [log("x", agent="000"), json.dumps({"type": "notice", "component": "collect",
                                               "code": "x", "message": "m"})]
    assert Replay(io.BytesIO(("\n".join(lines) + "\n").encode())).one_agent()
    assert agent_id_of(None) == agent_id_of({"id": "000"}) == "000"
    other = lines + [log("y", agent="001")]
    assert not Replay(io.BytesIO(("\n".join(other) + "\n").encode())).one_agent()
