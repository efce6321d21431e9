"""SIGHUP makes analyze reload its rules between records, keeping correlation windows."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from ruleset_support import probe_rules

RULES = probe_rules("hidsctl-reload-probe", flood="DESCRIPTION")


def line(n: int) -> bytes:
    return json.dumps({"type": "log", "location": "test",
                       "log": f"Nov 25 13:00:{n:02d} host app: hidsctl-reload-probe {n}"}).encode() + b"\n"


def run(rules_dir, hup_after: int | None, description: str = "first",
        workers: int = 1) -> list[dict]:
    (rules_dir / "local_rules.xml").write_text(RULES.replace("DESCRIPTION", "first"))
    proc = subprocess.Popen([sys.executable, "-m", "hidsctl", "analyze", "--no-default-rules",
                             "--rules", str(rules_dir), "--workers", str(workers)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = []
    for n in range(10):
        if n == hup_after:
            (rules_dir / "local_rules.xml").write_text(RULES.replace("DESCRIPTION", description))
            proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)  # with workers, the parent's main thread passes it on
        proc.stdin.write(line(n))
        proc.stdin.flush()
        reply = proc.stdout.readline()
        assert reply, proc.stderr.read().decode()
        out.append(json.loads(reply))
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_reload_keeps_the_correlation_count(tmp_path, workers):
    plain = run(tmp_path, None)
    fired_at = [i for i, a in enumerate(plain) if a["rule"]["id"] == "100002"]
    assert fired_at, "the frequency rule fires in ten events"
    # with workers, the parent passes SIGHUP on to each of them
    reloaded = run(tmp_path, hup_after=fired_at[0] - 1, description="second", workers=workers)
    assert [a["rule"]["id"] for a in reloaded] == [a["rule"]["id"] for a in plain]
    assert reloaded[fired_at[0]]["rule"]["description"] == "second"  # the new rules apply


def test_broken_rules_on_reload_keep_the_running_ones(tmp_path):
    (tmp_path / "local_rules.xml").write_text(RULES.replace("DESCRIPTION", "first"))
    proc = subprocess.Popen([sys.executable, "-m", "hidsctl", "analyze", "--no-default-rules",
                             "--rules", str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdin.write(line(0))
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["rule"]["id"] == "100001"
    (tmp_path / "local_rules.xml").write_text("<group><rule id='x' level='3'>")
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    proc.stdin.write(line(1))
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["rule"]["id"] == "100001"
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0
    assert b"reload refused" in proc.stderr.read()
