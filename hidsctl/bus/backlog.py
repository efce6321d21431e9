"""What each consumer of the bus has yet to do, for ``hidsctl status``: JetStream's own
counts of records not yet delivered (``num_pending``) and delivered but not acknowledged
(``num_ack_pending``).

An output reads through a durable consumer named after its group. An analysis group's
members read each partition through an ordered consumer of their own (bus/group.py): the
group's backlog is the sum over the stream's ephemeral consumers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hidsctl.bus import client
from hidsctl.bus.address import parse

TIMEOUT = 5.0


def backlog(consumers: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Each of ``consumers`` ({component, stream, consumer}) with ``unread`` and
    ``unacked`` counts, or an ``error`` saying why they are unknown."""
    if not consumers:
        return []
    try:
        bus = client.SyncBus(parse(consumers[0]["stream"], "bus"), "status")
    except Exception as exc:  # noqa: BLE001 - any failure is shown, status goes on
        return [dict(c, error=str(exc)) for c in consumers]
    try:
        return [dict(c, **_counts(bus, c)) for c in consumers]
    finally:
        bus.close()


def _counts(bus: client.SyncBus, consumer: dict[str, str]) -> dict[str, Any]:
    stream = parse(consumer["stream"], "bus").stream
    try:
        if consumer["consumer"]:
            infos = [bus.call(asyncio.wait_for(bus.js.consumer_info(stream, consumer["consumer"]),
                                               TIMEOUT))]
        else:
            infos = [i for i in bus.call(asyncio.wait_for(bus.js.consumers_info(stream), TIMEOUT))
                     if not i.config.durable_name]
    except Exception as exc:  # noqa: BLE001
        return {"error": str(exc) or type(exc).__name__}
    return {"unread": sum(i.num_pending or 0 for i in infos),
            "unacked": sum(i.num_ack_pending or 0 for i in infos)}
