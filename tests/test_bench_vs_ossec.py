"""bench/vs-ossec's own helpers: the corpus, OSSEC's queue framing, its state file, the
memory sampling. (The benchmark itself builds and runs OSSEC; it is run by hand.)"""

from __future__ import annotations

import subprocess
import sys
import time

import orjson

from ossec_fixture import OSSEC, needs_ossec
from siblings import script


@needs_ossec
def test_corpus_is_one_agent_and_frames_as_logcollector_does(tmp_path):
    bench = script("vs-ossec")
    corpus = tmp_path / "corpus.jsonl"
    script("analyze").build(corpus, 300, OSSEC, agents=1)
    records = [orjson.loads(line) for line in corpus.read_bytes().splitlines()]
    assert len(records) == 300
    assert {r["agent"]["id"] for r in records} == {"000"}
    lines = bench.raw_lines(corpus)
    assert lines == [r["log"] for r in records]
    assert all("\n" not in line for line in lines)
    assert bench.frame("Dec  1 sshd[1]: x") == b"1:/var/log/messages:Dec  1 sshd[1]: x"


def test_state_file_counters_are_read(tmp_path):
    bench = script("vs-ossec")
    run = tmp_path / "var" / "run"
    run.mkdir(parents=True)
    assert bench.read_state(tmp_path) == {}
    (run / "ossec-analysisd.state").write_text(
        "# State file\n\nevents_received='12'\nevents_processed='11'\n"
        "events_dropped='0'\nraw_input_queue_usage='0.25'\n")
    state = bench.read_state(tmp_path)
    assert state["events_received"] == 12 and state["events_processed"] == 11
    assert state["events_dropped"] == 0


def test_memory_of_a_forked_tree_counts_shared_pages_once():
    bench = script("vs-ossec")
    # A parent holding 30 MB forks a child that shares them and holds 20 MB of its own;
    # both stay alive until stdin closes.
    code = ("import os, sys\n"
            "a = b'x' * (30 << 20)\n"
            "if os.fork() == 0:\n    b = b'y' * (20 << 20); sys.stdin.read(); os._exit(0)\n"
            "sys.stdin.read(); os.wait()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    try:
        memory = bench.Memory()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            memory.sample(proc.pid)
            if len(memory.hwm) == 2 and max(memory.hwm.values()) > 50 * 1024:
                break
            time.sleep(0.01)
        child = max(memory.hwm, key=memory.hwm.get)
        assert child != proc.pid and memory.hwm[child] > 50 * 1024  # its RSS: shared + own
        assert memory.pss[child] > 0
        assert "workers" in memory.describe(proc.pid)
        # The 30 shared MB once and the child's 20 once: not the parent's RSS plus the
        # child's PSS, which holds half the shared pages a second time.
        double = (memory.hwm[proc.pid] + memory.pss[child]) / 1024
        assert 50 <= memory.total_mb() <= double - 10, (memory.total_mb(), double)
    finally:
        proc.communicate(b"")
