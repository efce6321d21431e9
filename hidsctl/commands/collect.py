"""``hidsctl collect``: follow log sources and write one ``log`` record per entry."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from hidsctl.options import ConfigOption, StateDirOption, handle_errors, load_settings


def register(app: typer.Typer) -> None:
    app.command("collect")(collect)


@handle_errors
def collect(
    sources: Annotated[Optional[list[str]], typer.Argument(
        metavar="SOURCE", help="Files or glob patterns to follow [default: the system "
        "logs, or [collect] files].", show_default=False)] = None,
    once: Annotated[bool, typer.Option(
        "--once", help="Read what is there and exit, instead of following.")] = False,
    from_start: Annotated[bool, typer.Option(
        "--from-start", help="Read files never seen before from their start.")] = False,
    from_end: Annotated[bool, typer.Option(
        "--from-end", help="Read files never seen before from their end.")] = False,
    format: Annotated[Optional[str], typer.Option(
        "--format", "-f", help="Format of the files: syslog, json, multi-line, "
        "multi-line-regex, apache, nginx [default: syslog].", show_default=False)] = None,
    lines: Annotated[Optional[int], typer.Option(
        "--lines", help="Lines per entry for --format multi-line.", show_default=False)] = None,
    multiline_regex: Annotated[Optional[str], typer.Option(
        "--multiline-regex", help="For --format multi-line-regex: the pattern of a line that "
        "starts an entry.", show_default=False)] = None,
    multiline_timeout: Annotated[Optional[float], typer.Option(
        "--multiline-timeout", help="Seconds of quiet after which a multi-line entry is "
        "written [default: 1].", show_default=False)] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(
        "--exclude", help="Glob of file names a SOURCE pattern skips (repeatable).",
        show_default=False)] = None,
    command: Annotated[Optional[list[str]], typer.Option(
        "--command", help="Shell command run every --frequency seconds, one record per "
        "line of output (repeatable).", show_default=False)] = None,
    full_command: Annotated[Optional[list[str]], typer.Option(
        "--full-command", help="Shell command run every --frequency seconds, one record for "
        "its whole output (repeatable).", show_default=False)] = None,
    frequency: Annotated[Optional[float], typer.Option(
        "--frequency", help="Seconds between runs of each command [default: 360].",
        show_default=False)] = None,
    journal: Annotated[Optional[bool], typer.Option(
        "--journal/--no-journal", help="Follow the systemd journal [default: only when no "
        "source is named and there is no syslog file].", show_default=False)] = None,
    journal_match: Annotated[Optional[list[str]], typer.Option(
        "--journal-match", help="journalctl match such as _SYSTEMD_UNIT=ssh.service "
        "(repeatable).", show_default=False)] = None,
    max_line: Annotated[Optional[int], typer.Option(
        "--max-line", help="Longest entry in bytes; longer ones are cut and flagged "
        "truncated [default: 65536].", show_default=False)] = None,
    poll_interval: Annotated[Optional[float], typer.Option(
        "--poll-interval", help="Seconds between checks of files and patterns that no inotify "
        "event covers [default: 1].", show_default=False)] = None,
    rotate_wait: Annotated[Optional[float], typer.Option(
        "--rotate-wait", help="Seconds a rotated-away file is still read after its last "
        "write [default: 5].", show_default=False)] = None,
    inotify: Annotated[Optional[bool], typer.Option(
        "--inotify/--no-inotify", help="Wake on inotify events rather than polling only "
        "[default: inotify].", show_default=False)] = None,
    state_dir: StateDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Follow log files, command output and the journal; write one log record per entry.

    Files are followed through rotation (rename, copytruncate, delete and recreate) and
    their offsets saved, so a restart resumes without losing or repeating a line.

    Example:

        hidsctl collect /var/log/auth.log /var/log/nginx/*.log | hidsctl analyze
    """
    from hidsctl import state
    from hidsctl.collect.run import collect as run
    from hidsctl.collect.settings import CollectSettings, sources as sources_of

    settings = load_settings(
        CollectSettings, "collect", config,
        files=sources, once=once or None, from_start=from_start or None,
        from_end=from_end or None, format=format, lines=lines, multiline_regex=multiline_regex,
        multiline_timeout=multiline_timeout, exclude=exclude, command=command,
        full_command=full_command, frequency=frequency, journal=journal,
        journal_match=journal_match, max_line=max_line, poll_interval=poll_interval,
        rotate_wait=rotate_wait, inotify=inotify)
    named = sources_of(settings, config)
    raise typer.Exit(run(settings, named, state.state_dir(state_dir)))
