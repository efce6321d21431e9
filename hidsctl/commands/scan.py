"""``hidsctl scan``: file integrity monitoring and rootkit/policy checks (syscheckd + rootcheck)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from hidsctl.options import ConfigOption, JsonOption, StateDirOption, handle_errors, load_settings


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)


@handle_errors
def scan(
    paths: Annotated[Optional[list[str]], typer.Argument(
        help="Files or directories to check; they replace the configured directories "
             "[default: /etc /usr/bin /usr/sbin /bin /sbin].", show_default=False)] = None,
    init: Annotated[bool, typer.Option("--init", help="Rebuild the baseline of the paths "
                                       "without emitting records.")] = False,
    fast: Annotated[bool, typer.Option("--fast", help="Hash a file again only when its size, "
                                       "mtime, ctime or inode moved.")] = False,
    realtime: Annotated[bool, typer.Option("--realtime", help="After the scan, watch the "
                                           "directories with inotify and report changes as "
                                           "they happen.")] = False,
    every: Annotated[Optional[str], typer.Option("--every", help="Run a full scan again at "
                                                 "this interval (30m, 12h, 1d).",
                                                 show_default=False)] = None,
    rootcheck: Annotated[bool, typer.Option("--rootcheck", help="Run the rootkit and policy "
                                            "checks (alone: only those).")] = False,
    query: Annotated[Optional[str], typer.Option("--query", metavar="PATH",
                                                 help="Show what the baseline holds for a file "
                                                      "(or the files under a directory).",
                                                 show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", help="Hashing threads "
                                                   "[default: twice the cores].",
                                                   show_default=False)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print a summary of each "
                                          "scan on stderr.")] = False,
    json_out: JsonOption = False,
    state_dir: StateDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Check file integrity against a baseline, and look for rootkits and policy violations.

    The first scan of a directory records its baseline; each later scan emits one
    syscheck record per file added, modified or deleted. Findings are records; the exit
    code is 0 whatever was found, 1 when a path named here does not exist (and the
    baseline holds nothing under it).

    Example:

        hidsctl scan /etc /usr/bin | hidsctl analyze
    """
    from hidsctl import state
    from hidsctl.scan import run
    from hidsctl.scan.settings import ScanSettings

    if query is not None:
        _refuse_with_query(paths=bool(paths), init=init, fast=fast, realtime=realtime,
                           every=every is not None, rootcheck=rootcheck,
                           threads=threads is not None, verbose=verbose,
                           config=config is not None)
        _print_query(run.query(state.state_dir(state_dir, create=False), query), json_out)
        return
    if json_out:
        from hidsctl.errors import UsageError

        raise UsageError("--json goes with --query: a scan writes records, always JSON")
    settings = load_settings(ScanSettings, "scan", config, init=init or None, fast=fast or None,
                             realtime=realtime or None, every=every, threads=threads)
    plan = run.make_plan(settings, list(paths or []), rootcheck, state_dir, config)
    plan.verbose = verbose
    raise typer.Exit(run.execute(plan))


def _refuse_with_query(**given: bool) -> None:
    """--query reads the baseline and scans nothing: options of a scan would do nothing."""
    named = [("PATH..." if name == "paths" else "--" + name) for name, on in given.items() if on]
    if named:
        from hidsctl.errors import UsageError

        raise UsageError(f"--query takes no {', '.join(named)}: it only reads the baseline")


def _print_query(found: list[dict], as_json: bool) -> None:
    import sys

    from hidsctl import records

    if as_json or not sys.stdout.isatty():
        for entry in found:
            sys.stdout.buffer.write(records.dumps(entry))
        sys.stdout.flush()
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("path", "size", "mode", "owner", "group", "mtime", "inode", "sha256")
    for entry in found:
        table.add_row(entry["path"], str(entry["size"]), entry["mode"],
                      f"{entry['uname'] or entry['uid']}", f"{entry['gname'] or entry['gid']}",
                      _when(entry["mtime"]), str(entry["inode"]),
                      entry.get("sha256", entry.get("target", "")))
    Console().print(table)


def _when(mtime: int) -> str:
    """A file's mtime for the table; one its owner set past what a calendar shows (btrfs
    keeps 64-bit seconds) as the number of seconds."""
    from hidsctl import records

    try:
        return records.format_timestamp(mtime)
    except (OverflowError, ValueError, OSError):
        return str(mtime)
