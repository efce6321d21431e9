"""The durable queue: ordering, consumers, torn writes, bounds and source offsets."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from hidsctl.errors import StateError
from hidsctl.queue import DurableQueue


def drain(queue: DurableQueue, offset: int = 0) -> list[bytes]:
    out = []
    while True:
        items = queue.read(offset, max_items=7)
        if not items:
            return out
        out += [item.data for item in items]
        offset = items[-1].next_offset


def test_records_come_back_in_order_across_segments(tmp_path):
    with DurableQueue(tmp_path / "q", writer=True, segment_bytes=4096) as queue:
        for batch in range(50):
            queue.append([b'{"n":%d,"pad":"%s"}' % (batch * 10 + i, b"x" * 50) for i in range(10)])
        assert len(queue.segment_starts()) > 3
        data = drain(queue)
    assert [int(d.split(b",")[0][5:]) for d in data] == list(range(500))


def test_consumer_offsets_persist_and_prune(tmp_path):
    queue = DurableQueue(tmp_path / "q", writer=True, segment_bytes=4096)
    for _ in range(20):
        queue.append([b"a" * 100] * 10)
    assert queue.committed("analyze") is None
    items = queue.read(0, max_items=150)
    queue.commit("analyze", items[-1].next_offset)
    reader = DurableQueue(tmp_path / "q")
    assert reader.committed("analyze") == items[-1].next_offset
    assert len(reader.read(reader.committed("analyze"), max_items=1000)) == 50
    assert queue.prune() >= 1
    assert len(queue.read(queue.committed("analyze"))) == 50
    queue.close()


def test_second_writer_is_refused(tmp_path):
    with DurableQueue(tmp_path / "q", writer=True):
        with pytest.raises(StateError, match="in use"):
            DurableQueue(tmp_path / "q", writer=True)


def test_torn_write_is_cut_when_the_writer_reopens(tmp_path):
    with DurableQueue(tmp_path / "q", writer=True) as queue:
        queue.append([b"one", b"two"])
    segment = next((tmp_path / "q" / "segments").iterdir())
    with open(segment, "ab") as handle:
        handle.write(b'{"half')
    reader = DurableQueue(tmp_path / "q")
    assert [i.data for i in reader.read(0)] == [b"one", b"two"]
    with DurableQueue(tmp_path / "q", writer=True) as queue:
        queue.append([b"three"])
        assert drain(queue) == [b"one", b"two", b"three"]


def test_bound_drops_oldest_and_counts_unread(tmp_path):
    with DurableQueue(tmp_path / "q", writer=True, max_bytes=20000, segment_bytes=4096) as queue:
        for i in range(1000):
            queue.append([b"%04d" % i + b"-" * 60])
        assert queue.dropped > 0
        data = drain(queue)
        assert len(data) + queue.dropped == 1000
        assert data[-1].startswith(b"0999")
        numbers = [int(d[:4]) for d in data]
        assert numbers == list(range(numbers[0], 1000))


def test_source_offset_survives_rolls(tmp_path):
    with DurableQueue(tmp_path / "q", writer=True, segment_bytes=4096) as queue:
        assert queue.source_offset("collect") == 0
        for i in range(100):
            queue.append([b"r" * 100], source=("collect", i * 101))
        queue.append([b"no marker"])
    with DurableQueue(tmp_path / "q", writer=True) as queue:
        assert queue.source_offset("collect") == 99 * 101
        assert b"no marker" in drain(queue)
        assert not any(d.startswith(b"#") for d in drain(queue))


def test_sigkill_during_appends_loses_nothing_acknowledged(tmp_path):
    """A writer killed mid-stream: every append it reported done is readable."""
    script = textwrap.dedent(f"""
        import sys
        from hidsctl.queue import DurableQueue
        q = DurableQueue({str(tmp_path / 'q')!r}, writer=True, segment_bytes=8192)
        for i in range(100000):
            q.append([b'{{"n":%d}}' % i])
            print(i, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    acknowledged = -1
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged >= 300:
            break
    proc.kill()
    proc.wait()
    reader = DurableQueue(tmp_path / "q")
    numbers = [int(d[5:-1]) for d in drain(reader)]
    assert numbers == list(range(len(numbers)))
    assert len(numbers) >= acknowledged + 1
