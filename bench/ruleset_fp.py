"""False positives of the bundled ruleset on ordinary server traffic.

Generates a day of ordinary traffic (``bench/server_traffic.py``, 100,000 records by
default), runs it through the real ``hidsctl analyze`` and prints the alerts by level, the
rules that fired, and the time taken as a ratio to a baseline measured in the same run
(``hidsctl analyze`` reading the same number of records of a type it passes through).

    python bench/ruleset_fp.py [-n 100000] [--seed 1]

Exit status 1 when any alert reaches ``--max-level`` (default 7).
"""

from __future__ import annotations

import interpreter  # noqa: F401 - first: the right Python for hidsctl (bench/interpreter.py)
import argparse
import collections
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent


def traffic_module():
    spec = importlib.util.spec_from_file_location("server_traffic", ROOT / "bench" / "server_traffic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_analyze(data: bytes, state: str) -> tuple[float, bytes]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "hidsctl", "analyze", "--state-dir", state],
                          input=data, capture_output=True, check=True, cwd=ROOT)
    return time.perf_counter() - start, done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=100000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-level", type=int, default=7)
    args = parser.parse_args(argv)

    traffic = traffic_module()
    records = list(traffic.Traffic(args.seed, 24 * 3600).records(args.count))
    data = b"".join(orjson.dumps(r) + b"\n" for r in records)
    passthrough = b"".join(orjson.dumps({"type": "bench_passthrough", "timestamp": r["timestamp"],
                                         "agent": r["agent"], "n": i}) + b"\n"
                           for i, r in enumerate(records))
    with tempfile.TemporaryDirectory() as state:
        base, _ = run_analyze(passthrough, state)
        took, out = run_analyze(data, state)

    levels: collections.Counter = collections.Counter()
    rules: collections.Counter = collections.Counter()
    loud = []
    for line in out.splitlines():
        alert = orjson.loads(line)
        if alert.get("type") != "alert":
            continue
        rule = alert["rule"]
        levels[rule["level"]] += 1
        rules[(rule["id"], rule["level"], rule["description"])] += 1
        if rule["level"] >= args.max_level:
            loud.append(alert)
    print(f"{len(records)} records of ordinary traffic, {sum(levels.values())} alerts")
    print("alerts by level: " + ", ".join(f"{lvl}: {n}" for lvl, n in sorted(levels.items())))
    for (rid, lvl, desc), n in rules.most_common(25):
        print(f"  {n:6d}  rule {rid:>6} level {lvl:2d}  {desc}")
    print(f"analyze: {took:.2f}s ({len(records) / took:,.0f} records/s); pass-through baseline "
          f"{base:.2f}s; ratio {took / base:.2f}")
    print(f"alerts of level >= {args.max_level}: {len(loud)}")
    for alert in loud[:20]:
        print(f"  {alert['rule']['id']} {alert['rule']['level']}: {alert.get('full_log', '')[:200]}")
    return 1 if loud else 0


if __name__ == "__main__":
    sys.exit(main())
