"""What an alert output command (``forward``, ``mail``) sets up around its output.

Both read alerts from stdin (:func:`run.run`) or from a bus stream (``--from`` with
``--bus-group``), write notice records to stdout and keep what they fail on under
STATE_DIR/deadletter; only their output and its callbacks differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hidsctl.deadletter import DeadLetters, for_state
from hidsctl.records import Record, RecordWriter


@dataclass
class Plumbing:
    name: str                  # the command, and its directory under the state directory
    source: str | None         # --from
    bus_group: str | None      # --bus-group
    state: Path                # the state directory
    writer: RecordWriter       # stdout
    dead_letters: DeadLetters

    @property
    def bus(self) -> bool:
        return bool(self.source)

    @property
    def directory(self) -> Path:
        return self.state / self.name

    def consume(self, handle: Callable[[Record], None], tick: Callable[[], None],
                sync: Callable[[], None], mark: Callable[[], Any],
                reached: Callable[[Any], bool], *, each: bool = False) -> None:
        """Feed the bus stream to the output until SIGTERM/SIGINT (see bus.sink.Output)."""
        from hidsctl.bus import sink

        def tick_and_flush() -> None:
            tick()
            self.writer.flush()

        def failed(record: Record, exc: Exception) -> None:
            self.writer.write(self.dead_letters.put(record, exc))

        sink.consume(self.source or "", self.bus_group or "", self.directory, sink.Output(
            handle, tick_and_flush, sync, mark, reached, failed, each=each),
            name=self.name, option="--bus-group")


def plumbing(name: str, source: str | None, bus_group: str | None,
             state_dir: Path | None) -> Plumbing:
    """Check --from/--bus-group and set up stdout, the state directory and dead letters."""
    from hidsctl.bus.sink import check_pair
    from hidsctl.state import state_dir as resolve_state_dir

    check_pair(source, bus_group)
    state = resolve_state_dir(state_dir)
    return Plumbing(name, source, bus_group, state, RecordWriter(line_buffered=True),
                    for_state(state, name))
