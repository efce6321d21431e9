"""``hidsctl keys``: manage agent keys (OSSEC's manage_agents)."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from hidsctl.options import JsonOption, StateDirOption, handle_errors


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Add, list, remove, export and import agent keys.",
                        no_args_is_help=True)
    group.command("add")(add)
    group.command("list")(list_keys)
    group.command("remove")(remove)
    group.command("export")(export)
    group.command("import")(import_key)
    app.add_typer(group, name="keys")


def _keyfile(state_dir):
    from hidsctl.state import state_dir as resolve_state
    from hidsctl.transport.keys import KeyFile, keys_path

    return KeyFile.open(keys_path(resolve_state(state_dir)))


@handle_errors
def add(
    name: Annotated[str, typer.Argument(help="The agent's name.")],
    ip: Annotated[str, typer.Option("--ip", help="Address or CIDR the agent may connect "
                                    "from, or 'any'.")] = "any",
    agent_id: Annotated[Optional[str], typer.Option(
        "--id", help="The agent id [default: the next free one].", show_default=False)] = None,
    state_dir: StateDirOption = None,
) -> None:
    """Add an agent and print its id.

    Example:
        hidsctl keys add web1 --ip 10.0.0.0/24
    """
    key = _keyfile(state_dir).add(name, ip, agent_id)
    print(key.id)


@handle_errors
def list_keys(json: JsonOption = False, state_dir: StateDirOption = None) -> None:
    """List the agents that have keys.

    Example:
        hidsctl keys list --json
    """
    import orjson

    rows = [{"id": k.id, "name": k.name, "ip": k.ip}
            for k in sorted(_keyfile(state_dir).keys.values(), key=lambda k: k.id)]
    if json or not sys.stdout.isatty():
        sys.stdout.write(orjson.dumps(rows).decode() + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("ID", "NAME", "IP")
    for row in rows:
        table.add_row(row["id"], row["name"], row["ip"])
    Console().print(table)


@handle_errors
def remove(agent_id: Annotated[str, typer.Argument(help="The agent's id.", metavar="ID")],
           state_dir: StateDirOption = None) -> None:
    """Remove an agent's key; it can no longer connect.

    Example:
        hidsctl keys remove 001
    """
    key = _keyfile(state_dir).remove(agent_id)
    from hidsctl.diagnostics import logger

    logger("keys").info(f"removed agent {key.id} ({key.name})")


@handle_errors
def export(agent_id: Annotated[str, typer.Argument(help="The agent's id.", metavar="ID")],
           state_dir: StateDirOption = None) -> None:
    """Print an agent's key as one string to paste into 'keys import' on the agent.

    Example:
        hidsctl keys export 001
    """
    from hidsctl.errors import UsageError
    from hidsctl.records import agent_id as padded
    from hidsctl.transport.keys import export_string

    try:
        ident = padded(agent_id)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    key = _keyfile(state_dir).get(ident)
    if key is None:
        raise UsageError(f"no agent with id {ident}")
    print(export_string(key))


@handle_errors
def import_key(text: Annotated[str, typer.Argument(help="The string 'keys export' printed.",
                                                   metavar="STRING")],
               state_dir: StateDirOption = None) -> None:
    """On an agent: store the key the server exported, replacing one with the same id.

    Example:
        hidsctl keys import MDAxIHdlYjEgYW55IDNm...
    """
    from hidsctl.transport.keys import import_string

    key = import_string(text)
    keyfile = _keyfile(state_dir)
    for other in [k for k in keyfile.keys.values() if k.name == key.name and k.id != key.id]:
        del keyfile.keys[other.id]
    keyfile.keys[key.id] = key
    keyfile.save()
    from hidsctl.diagnostics import logger

    logger("keys").info(f"imported key of agent {key.id} ({key.name})")
