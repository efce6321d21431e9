"""The supervisor's plumbing with stand-in components: exactly-once through SIGKILLs."""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from hidsctl.supervise.component import ComponentSpec
from hidsctl.supervise.supervisor import Supervisor
from hidsctl.supervise.topology import SuperviseSettings, Topology
from transport_support import wait_for

SOURCE = textwrap.dedent("""
    import json, sys, time
    count = int(sys.argv[1])
    for n in range(count):
        print(json.dumps({"type": "log", "location": "gen", "log": "line %d" % n, "n": n}), flush=True)
        time.sleep(0.001)
    time.sleep(3600)
""")
# A stage in the contract's shape: handles log records, passes other types through in order.
STAGE = textwrap.dedent("""
    import json, sys
    for line in sys.stdin:
        record = json.loads(line)
        if record["type"] == "log":
            record = {"type": "alert", "rule": {"id": "1", "level": 3}, "n": record["n"]}
        sys.stdout.write(json.dumps(record) + "\\n")
        sys.stdout.flush()
""")
SINK = textwrap.dedent("""
    import json, os, sys
    out = open(sys.argv[1], "a")
    for line in sys.stdin:
        record = json.loads(line)
        if record["type"] == "alert":
            out.write(str(record["n"]) + "\\n"); out.flush(); os.fsync(out.fileno())
        else:
            sys.stdout.write(line); sys.stdout.flush()
""")


def write_script(tmp_path: Path, name: str, text: str) -> list[str]:
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return [sys.executable, str(path)]


def run_supervisor(supervisor: Supervisor) -> threading.Thread:
    thread = threading.Thread(target=supervisor.run, daemon=True)
    # signal handlers can only be set in the main thread: patch them out for this test
    thread.start()
    return thread


@pytest.fixture
def no_signal_handlers(monkeypatch):
    monkeypatch.setattr(signal, "signal", lambda *a, **k: None)


def test_sigkill_of_each_stage_loses_and_repeats_nothing(tmp_path, no_signal_handlers):
    total = 3000
    out_file = tmp_path / "delivered"
    specs = [
        ComponentSpec("gen", write_script(tmp_path, "gen", SOURCE) + [str(total)],
                      output="events", source=True, privileged=True),
        ComponentSpec("stage", write_script(tmp_path, "stage", STAGE), inputs=["events"],
                      output="alerts", privileged=True),
        ComponentSpec("sink", write_script(tmp_path, "sink", SINK) + [str(out_file)],
                      inputs=["alerts"], output="feedback", keep=("notice",), privileged=True),
    ]
    topo = Topology("test", specs, ["events", "alerts", "feedback"])
    supervisor = Supervisor(SuperviseSettings(role="local"), None, tmp_path / "state",
                            log=lambda m: None, fixed_topology=topo)
    thread = run_supervisor(supervisor)
    wait_for(lambda: out_file.exists() and len(out_file.read_text().split()) > 300)
    for name in ("stage", "sink", "stage"):
        component = supervisor.components[name]
        wait_for(lambda: component.process is not None)
        killed = component.process.pid
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: component.process is not None and component.process.pid != killed,
                 what=f"{name} restarted")
    wait_for(lambda: set(int(n) for n in out_file.read_text().split()) == set(range(total)))
    # Exactly once into the queue, through two SIGKILLs of the stage...
    queued = [json.loads(item.data)["n"] for item in supervisor.queues["alerts"].read(0, 10**6)]
    assert queued == list(range(total))
    # ...and nothing lost by the sink; a sink killed mid-batch sees that batch again, so a
    # sink with side effects must be idempotent (logs write skips alerts it already filed).
    delivered = [int(n) for n in out_file.read_text().split()]
    assert set(delivered) == set(range(total))
    assert len(delivered) - total <= 500
    assert supervisor.components["stage"].restarts == 2
    assert supervisor.components["sink"].restarts == 1
    status = supervisor.status()
    assert {c["name"] for c in status["components"]} == {"gen", "stage", "sink"}
    supervisor.stop_requested.set()
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_restart_of_the_supervisor_resumes_where_it_left(tmp_path, no_signal_handlers):
    total = 500
    out_file = tmp_path / "delivered"

    gen = write_script(tmp_path, "gen", SOURCE) + [str(total)]
    # the sink here reads log records: make it deliver them
    sink = write_script(tmp_path, "sink",
                        SINK.replace('record["type"] == "alert"', 'record["type"] == "log"'))

    def topo() -> Topology:
        return Topology("test", [
            ComponentSpec("gen", gen, output="events", source=True, privileged=True),
            ComponentSpec("sink", sink + [str(out_file)], inputs=["events"], privileged=True),
        ], ["events"])

    first = Supervisor(SuperviseSettings(), None, tmp_path / "state", log=lambda m: None,
                       fixed_topology=topo())
    thread = run_supervisor(first)
    wait_for(lambda: out_file.exists() and len(out_file.read_text().split()) >= total)
    first.stop_requested.set()
    thread.join(timeout=30)
    # the source emits the same records again; the sink must not see the old ones twice
    second = Supervisor(SuperviseSettings(), None, tmp_path / "state", log=lambda m: None,
                        fixed_topology=topo())
    thread = run_supervisor(second)
    wait_for(lambda: len(out_file.read_text().split()) >= 2 * total)
    second.stop_requested.set()
    thread.join(timeout=30)
    delivered = [int(n) for n in out_file.read_text().split()]
    assert sorted(delivered) == sorted(list(range(total)) * 2)
    assert [json.loads(i.data)["n"] for i in second.queues["events"].read(0, 10**6)] == \
        list(range(total)) * 2
