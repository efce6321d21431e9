"""`hidsctl supervise` and `hidsctl status`: run a topology, and ask how it is doing."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from hidsctl.options import ConfigOption, JsonOption, StateDirOption, handle_errors


def register(app: typer.Typer) -> None:
    app.command("supervise")(supervise)
    app.command("status")(status)


@handle_errors
def supervise(
    role: Annotated[Optional[str], typer.Option("--role", help="local, agent or server.",
                                                show_default=False)] = None,
    user: Annotated[Optional[str], typer.Option(
        "--user", help="Unprivileged user for receive, analyze and the outputs "
        "[default: hidsctl, else nobody].", show_default=False)] = None,
    install_users: Annotated[bool, typer.Option(
        "--install-users", help="Create the hidsctl system user and group, then exit.")] = False,
    summary: Annotated[Optional[bool], typer.Option(
        "--summary/--no-summary", help="Live summary table [default: on a terminal].",
        show_default=False)] = None,
    bus: Annotated[Optional[str], typer.Option(
        "--bus", help="Server role: scale out on these NATS JetStream servers, "
        "nats://HOST:PORT[,HOST:PORT] (docs/scale-out.md).", show_default=False)] = None,
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Run the local, agent or server topology as supervised processes.

    Components are joined by durable on-disk queues, restarted with backoff when they die,
    reloaded on SIGHUP and drained on SIGTERM. Run as root, receive, analyze and the outputs
    drop to an unprivileged user.

    Example: hidsctl supervise --role local --config /etc/hidsctl/hidsctl.toml
    """
    from hidsctl import state
    from hidsctl.options import load_settings
    from hidsctl.supervise import users
    from hidsctl.supervise.supervisor import Supervisor
    from hidsctl.supervise.topology import SuperviseSettings

    if install_users:
        given = [flag for flag, value in (("--role", role), ("--user", user),
                                          ("--summary", summary), ("--bus", bus),
                                          ("--config", config),
                                          ("--state-dir", state_dir)) if value is not None]
        if given:  # it only creates the hidsctl user: they would do nothing
            from hidsctl.errors import UsageError

            raise UsageError(f"--install-users takes no {', '.join(given)}")
        users.install()
        return
    settings = load_settings(SuperviseSettings, "supervise", config, role=role, user=user,
                             bus=bus)
    settings.check()
    # created by the supervisor, with the owner and modes its components need
    supervisor = Supervisor(settings, config, state.state_dir(state_dir, create=False))
    show = sys.stderr.isatty() if summary is None else summary
    if show:
        from hidsctl.supervise.summary import LiveSummary

        with LiveSummary() as live:
            raise typer.Exit(supervisor.run(on_tick=live.update))
    raise typer.Exit(supervisor.run())


@handle_errors
def status(json_output: JsonOption = False, state_dir: StateDirOption = None) -> None:
    """Show each supervised component: pid, user, uptime, restarts, counters, bus backlog.

    With a bus (supervise --bus), each bus consumer's backlog: records not yet delivered
    plus delivered but unacknowledged.

    Example: hidsctl status --json
    """
    import orjson

    from hidsctl import state
    from hidsctl.errors import HidsError
    from hidsctl.supervise import control
    from hidsctl.supervise.supervisor import last_exit_reason

    directory = state.state_dir(state_dir, create=False)
    try:
        report = control.query(directory / "supervise.sock")
    except HidsError as exc:
        reason = last_exit_reason(directory)  # it stopped on its own: say why
        raise HidsError(f"{exc.message}; it stopped at {reason}" if reason else exc.message) \
            from None
    if report.get("bus"):
        from hidsctl.bus.backlog import backlog

        report["bus"] = backlog(report["bus"])
    if json_output or not sys.stdout.isatty():
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        return
    from rich.console import Console

    from hidsctl.supervise.summary import status_table

    Console().print(status_table(report))  # fits the terminal; names are never cut
