"""``hidsctl agentless``: integrity and configuration checks over SSH (OSSEC's agentlessd)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from hidsctl.options import ConfigOption, JsonOption, StateDirOption, handle_errors

TargetArgument = Annotated[str, typer.Argument(metavar="USER@HOST[:PORT]",
                                               help="The host as its agentless.host table names it.")]


def register(app: typer.Typer) -> None:
    group = typer.Typer(name="agentless", no_args_is_help=False,
                        context_settings={"help_option_names": ["-h", "--help"]})
    # Without a subcommand, "hidsctl agentless" itself runs the checks.
    group.callback(invoke_without_command=True)(agentless)
    group.command("add-host")(add_host)
    group.command("list")(list_hosts)
    group.command("remove")(remove)
    app.add_typer(group, name="agentless")


@handle_errors
def agentless(
    ctx: typer.Context,
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
    once: Annotated[bool, typer.Option("--once", help="Check every host once and exit (for cron).")] = False,
    accept_new: Annotated[bool, typer.Option(
        "--accept-new", help="Trust the key of a host never seen before (a changed key is always refused).")] = False,
    concurrency: Annotated[Optional[int], typer.Option(
        help="How many hosts to check at the same time [default: 8].", show_default=False)] = None,
) -> None:
    """Check hosts and network devices that run no agent, over SSH (OSSEC's agentlessd).

    Hosts are the agentless.host tables of the config: remote file integrity
    (linux-integrity, bsd-integrity) as syscheck records, diffs of command output (diff)
    and of device configurations (device-config, with a profile such as cisco-ios) as
    log records that OSSEC's agentless rule matches. Failures are notice records. Each
    host is checked on its interval until SIGTERM, or once with --once.

    Example: hidsctl agentless --config /etc/hidsctl.toml --once | hidsctl analyze
    """
    if ctx.invoked_subcommand is not None:
        _check_subcommand(ctx.invoked_subcommand, config, once, accept_new, concurrency)
        ctx.obj = {"config": config, "state_dir": state_dir}
        return
    from hidsctl.agentless import run, settings
    from hidsctl.state import state_dir as resolve_state_dir

    loaded, hosts = settings.load(config, once=once or None, accept_new=accept_new or None,
                                  concurrency=concurrency)
    raise typer.Exit(run.run(resolve_state_dir(state_dir), loaded, hosts))


@handle_errors
def add_host(
    ctx: typer.Context,
    target: TargetArgument,
    enable: Annotated[bool, typer.Option("--enable", help="Also store an enable password (network devices).")] = False,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin (the enable password from the second).")] = False,
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Store the password (and enable password) of an agentless host, in a 0600 file.

    Example: printf '%s\\n' "$PW" "$ENABLE" | hidsctl agentless add-host --enable --password-stdin admin@10.0.0.1
    """
    from hidsctl.agentless import admin as core

    core.add_host(_state(ctx, state_dir), _config(ctx, config), target, enable, password_stdin)


@handle_errors
def list_hosts(
    ctx: typer.Context,
    json: JsonOption = False,
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """List configured hosts, stored passwords and known host keys (never the passwords).

    Example: hidsctl agentless list --config /etc/hidsctl.toml
    """
    from hidsctl.agentless import admin as core

    core.list_hosts(_state(ctx, state_dir), _config(ctx, config), json)


@handle_errors
def remove(
    ctx: typer.Context,
    target: TargetArgument,
    host_key: Annotated[bool, typer.Option(
        "--host-key", help="Also forget the host's SSH key (after an expected key change).")] = False,
    state_dir: StateDirOption = None,
) -> None:
    """Remove the stored password of an agentless host (and its key with --host-key).

    Example: hidsctl agentless remove --host-key admin@10.0.0.1
    """
    from hidsctl.agentless import admin as core

    core.remove(_state(ctx, state_dir), target, host_key)


def _check_subcommand(name: str, config, once: bool, accept_new: bool, concurrency) -> None:
    """Options of the checks given with a subcommand would do nothing: refuse them."""
    from hidsctl.errors import UsageError

    given = [flag for flag, value in (("--once", once), ("--accept-new", accept_new),
                                      ("--concurrency", concurrency is not None),
                                      ("--config", name == "remove" and config is not None))
             if value]
    if given:
        raise UsageError(f"{', '.join(given)}: not an option of agentless {name}")


def _state(ctx: typer.Context, given):
    from hidsctl.state import state_dir

    parent = (ctx.obj or {}).get("state_dir")
    return state_dir(given or parent)


def _config(ctx: typer.Context, given):
    return given or (ctx.obj or {}).get("config")
