"""``hidsctl agents``: agent connectivity as receive records it (OSSEC's agent_control)."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from hidsctl.options import ConfigOption, JsonOption, StateDirOption, handle_errors

DisconnectOption = Annotated[Optional[float], typer.Option(
    "--disconnect-time", help="Seconds of silence after which an agent counts as "
    "disconnected [default: [receive] disconnect-time, else 600].", show_default=False)]


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Show agents and their connectivity.", no_args_is_help=True)
    group.command("list")(list_agents)
    group.command("show")(show)
    app.add_typer(group, name="agents")


def _rows(state_dir, config, disconnect_time):
    from hidsctl.options import load_settings
    from hidsctl.state import state_dir as resolve_state
    from hidsctl.transport.server import ReceiveSettings
    from hidsctl.transport.status import agent_rows

    settings = load_settings(ReceiveSettings, "receive", config,
                             disconnect_time=disconnect_time)
    return agent_rows(resolve_state(state_dir), settings.disconnect_time)


@handle_errors
def list_agents(json: JsonOption = False, disconnect_time: DisconnectOption = None,
                state_dir: StateDirOption = None, config: ConfigOption = None) -> None:
    """List every agent with its status, address, version and last keepalive.

    Example:
        hidsctl agents list --json
    """
    rows = _rows(state_dir, config, disconnect_time)
    if json or not sys.stdout.isatty():
        import orjson
        sys.stdout.write(orjson.dumps(rows).decode() + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("ID", "NAME", "IP", "STATUS", "LAST KEEPALIVE", "VERSION", "OS")
    for row in rows:
        table.add_row(row["id"], row["name"], row["ip"] or "", row["status"],
                      row["last_keepalive"] or "", row["version"] or "", row["os"] or "")
    Console().print(table)


@handle_errors
def show(agent_id: Annotated[str, typer.Argument(help="The agent's id.", metavar="ID")],
         json: JsonOption = False, disconnect_time: DisconnectOption = None,
         state_dir: StateDirOption = None, config: ConfigOption = None) -> None:
    """Show one agent in detail.

    Example:
        hidsctl agents show 001
    """
    from hidsctl.errors import UsageError
    from hidsctl.records import agent_id as padded

    try:
        ident = padded(agent_id)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    row = next((r for r in _rows(state_dir, config, disconnect_time) if r["id"] == ident), None)
    if row is None:
        raise UsageError(f"no agent with id {ident}")
    if json or not sys.stdout.isatty():
        import orjson
        sys.stdout.write(orjson.dumps(row).decode() + "\n")
        return
    width = max(len(k) for k in row)
    for key, value in row.items():
        print(f"{key.replace('_', ' '):<{width}}  {'' if value is None else value}")
