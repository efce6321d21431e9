"""Which partition of a stream an agent's records go to.

``partition_of(agent_id, count)`` is CRC-32 (zlib's, IEEE polynomial) of the agent id's
UTF-8 bytes, modulo the number of partitions: stable across processes, machines and
Python versions (unlike ``hash()``), cheap, and the same function ``analyze --workers``
uses, so an agent lands on one partition everywhere. All of an agent's records go to one
partition, in order; correlation within an agent is therefore exact, and rules that
correlate across agents only see the agents of their partition (docs/scale-out.md).

The partition count is fixed when a stream is created (it is written into the stream's
description) and read back by every other process; changing it means a new stream.
"""

from __future__ import annotations

import re
import zlib

DEFAULT_PARTITIONS = 16
MAX_PARTITIONS = 1024
_DESCRIPTION = re.compile(r"\bpartitions=(\d+)\b")


def partition_of(agent_id: str, count: int) -> int:
    return zlib.crc32(agent_id.encode("utf-8", "surrogatepass")) % count


def subject(stream: str, partition: int) -> str:
    return f"{stream}.p.{partition}"


def wildcard(stream: str) -> str:
    return f"{stream}.p.*"


def partition_of_subject(stream: str, subj: str) -> int | None:
    prefix = f"{stream}.p."
    if not subj.startswith(prefix) or not subj[len(prefix):].isdigit():
        return None
    return int(subj[len(prefix):])


def describe(count: int) -> str:
    return f"hidsctl records partitioned by agent id: partitions={count}"


def count_from(description: str | None) -> int | None:
    match = _DESCRIPTION.search(description or "")
    return int(match.group(1)) if match else None
