"""``hidsctl respond``: active response (OSSEC's execd)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from hidsctl.options import STAGE_DEFAULTS, StageOptions, handle_errors, option_groups


def register(app: typer.Typer) -> None:
    app.command("respond")(option_groups(respond))


@handle_errors
def respond(
    route: Annotated[Optional[Path], typer.Option(
        "--route", help="Write ar records for agents to this FIFO, Unix socket or file "
        "(read by 'hidsctl receive --control').", show_default=False)] = None,
    allow: Annotated[Optional[List[str]], typer.Option(
        "--allow", help="Address or CIDR never acted on (repeatable; adds to the host's own "
        "addresses).", show_default=False)] = None,
    servers: Annotated[Optional[List[str]], typer.Option(
        "--server", help="A server's address or name, never acted on (repeatable).",
        show_default=False)] = None,
    scripts_dir: Annotated[Optional[List[Path]], typer.Option(
        "--scripts-dir", help="Directory searched for commands' executables before the "
        "bundled scripts (repeatable).", show_default=False)] = None,
    script_timeout: Annotated[Optional[float], typer.Option(
        "--script-timeout", help="Seconds a script may run before it is killed (default 60).",
        show_default=False)] = None,
    ossec_conf: Annotated[Optional[Path], typer.Option(
        "--ossec-conf", help="Also read <command>, <active-response> and <white_list> from "
        "this ossec.conf.", show_default=False)] = None,
    wait: Annotated[bool, typer.Option(
        "--wait", help="At end of input, stay until every pending undo has run.")] = False,
    report_unmatched: Annotated[bool, typer.Option(
        "--report-unmatched", help="Emit a skipped ar_result for alerts no response matches.")] = False,
    stage: StageOptions = STAGE_DEFAULTS,
) -> None:
    """Run active-response scripts for alerts and ar records; undo them on time.

    Reads alert and ar records on stdin, writes one ar_result record per decision on
    stdout and passes other records through. Pending undos persist in the state directory.

    Example:

        hidsctl analyze < events.jsonl | hidsctl respond --config /etc/hidsctl.toml
    """
    from hidsctl import state
    from hidsctl.bus.sink import check_pair
    from hidsctl.options import load_settings
    from hidsctl.respond import run, settings as respond_settings

    options = load_settings(
        respond_settings.RespondOptions, "respond", stage.config, route=route, allow=allow,
        servers=servers, scripts_dir=scripts_dir, script_timeout=script_timeout,
        ossec_conf=ossec_conf, wait=wait or None, report_unmatched=report_unmatched or None)
    built = respond_settings.build(options, stage.config)
    if check_pair(stage.source, stage.bus_group):
        raise typer.Exit(run.run_bus(built, state.state_dir(stage.state_dir), stage.source or "",
                                     stage.bus_group or ""))
    raise typer.Exit(run.run(built, state.state_dir(stage.state_dir)))
