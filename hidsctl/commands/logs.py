"""``hidsctl logs``: the alert files (OSSEC's logs/alerts tree), written and verified."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from hidsctl.options import ConfigOption, JsonOption, StateDirOption, handle_errors, load_settings

DirOption = Annotated[
    Optional[Path],
    typer.Option("--dir", "-d", help="Logs directory holding alerts/ and archives/ "
                 "(default: STATE_DIR/logs).", show_default=False),
]


@dataclass
class LogsSettings:
    dir: Optional[Path] = None
    archives: bool = False


def _logs_dir(settings: LogsSettings, state_dir_option: Path | None) -> Path:
    if settings.dir is not None:
        return settings.dir
    from hidsctl.state import state_dir

    return state_dir(state_dir_option) / "logs"


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Alert files: write OSSEC's dated alert logs and verify their seals.",
                        no_args_is_help=True)
    group.command("write")(write)
    group.command("verify")(verify)
    app.add_typer(group, name="logs")


@handle_errors
def write(
    dir: DirOption = None,
    archives: Annotated[Optional[bool], typer.Option(
        "--archives/--no-archives", help="Also archive every record received "
        "(archives/YYYY/Mon/ossec-archive-DD.json).", show_default=False)] = None,
    source: Annotated[Optional[str], typer.Option(
        "--from", help="Read the records from a NATS JetStream stream, nats://HOST:PORT"
        "[,HOST:PORT]/STREAM, instead of stdin (docs/scale-out.md).",
        show_default=False)] = None,
    group: Annotated[Optional[str], typer.Option(
        "--group", help="With --from: the durable consumer's name; one writer per "
        "group and directory.", show_default=False)] = None,
    state_dir: StateDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Write alerts read on stdin to alerts.log and alerts.json files, one pair per UTC day.

    Each alert is filed under the UTC day of its timestamp in
    DIR/alerts/YYYY/Mon/ossec-alerts-DD.log and .json. A day is gzipped and sealed
    (its sha256 chained to the previous day's in DIR/alerts/checksums) when a later
    day's alert arrives or the wall clock passes midnight. Writes nothing to stdout but
    records of types outside the record contract, passed through.

    Example:
        hidsctl analyze < events.json | hidsctl logs write --dir /var/log/hidsctl
    """
    from hidsctl.deadletter import DeadLetters
    from hidsctl.outputs import run
    from hidsctl.outputs.alertfiles import AlertFiles

    settings = load_settings(LogsSettings, "logs", config, dir=dir, archives=archives)
    from hidsctl.records import RecordWriter

    if bool(source) != bool(group):
        from hidsctl.errors import UsageError
        raise UsageError("--from and --group go together")
    logs_dir = _logs_dir(settings, state_dir)
    files = AlertFiles(logs_dir, archives=settings.archives)
    if source:
        from hidsctl.bus import sink

        try:
            letters = DeadLetters(logs_dir / "deadletter", "logs")
            notices = RecordWriter(line_buffered=True)
            sink.consume(source, group or "", logs_dir, sink.Output(
                files.handle, files.tick, files.sync,
                failed=lambda record, exc: notices.write(letters.put(record, exc))))
        finally:
            files.close()
        return
    try:
        run.run(files.handle, files.tick, sync=files.sync,
                  writer=RecordWriter(line_buffered=True),
                  dead_letters=DeadLetters(logs_dir / "deadletter", "logs"))
    finally:
        files.close()


@handle_errors
def verify(
    dir: DirOption = None,
    json: JsonOption = False,
    state_dir: StateDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Check every sealed (closed) day against the seal chain, and every open (today's)
    file against its running chain; exit 1 naming what is wrong.

    A modified, truncated or missing day, a gzip file that is not in the chain, an
    edited checksum file, or a line of an open file changed after it was written fails
    verification. Prints one line per problem (JSON objects with --json), what each
    open file's running chain covers, and a summary.

    Example:
        hidsctl logs verify --dir /var/log/hidsctl
    """
    from hidsctl.outputs.alertfiles import verify as verify_dir
    from hidsctl.outputs.seal import print_verification

    settings = load_settings(LogsSettings, "logs", config, dir=dir)
    result = verify_dir(_logs_dir(settings, state_dir))
    print_verification(result.seals, result.problems, result.open_files, as_json=json)
    if result.problems:
        days = ", ".join(sorted({f"{p.day} {p.kind}" + (f" {p.path}{p.lines()}"
                                                         if p.line is not None else "")
                                 for p in result.problems}))
        from hidsctl.options import fail

        raise fail(f"logs failed verification: {days}", 1)
