"""``hidsctl receive``: accept records from agents and syslog devices (OSSEC's remoted)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from hidsctl.options import ConfigOption, StateDirOption, handle_errors, load_settings


def register(app: typer.Typer) -> None:
    app.command("receive")(receive)


@handle_errors
def receive(
    listen: Annotated[Optional[list[str]], typer.Option(
        "--listen", "-l", help="TCP HOST:PORT for agents; repeatable "
        "[default: 0.0.0.0:1514].", show_default=False)] = None,
    udp: Annotated[Optional[list[str]], typer.Option(
        "--udp", help="UDP HOST:PORT for agents; repeatable.", show_default=False)] = None,
    syslog: Annotated[Optional[list[str]], typer.Option(
        "--syslog", help="Accept plain syslog (UDP and TCP) on HOST:PORT; repeatable.",
        show_default=False)] = None,
    allow: Annotated[Optional[list[str]], typer.Option(
        "--allow", help="Address or CIDR allowed to send syslog; repeatable.",
        show_default=False)] = None,
    control: Annotated[Optional[str], typer.Option(
        "--control", help="Read ar records to route to agents from a FIFO, a Unix socket "
        "path (created), or '-' for stdin.", show_default=False)] = None,
    enroll: Annotated[Optional[str], typer.Option(
        "--enroll", help="Open the TLS enrollment listener on HOST:PORT (port 1515 by "
        "default).", show_default=False)] = None,
    enroll_password: Annotated[Optional[str], typer.Option(
        "--enroll-password", help="Password agents must give to enroll.",
        show_default=False)] = None,
    enroll_replace: Annotated[Optional[bool], typer.Option(
        "--enroll-replace/--no-enroll-replace", help="Let an agent enroll again under a "
        "name that has a key, replacing it.", show_default=False)] = None,
    disconnect_time: Annotated[Optional[float], typer.Option(
        "--disconnect-time", help="Seconds of silence before an agent counts as "
        "disconnected [default: 600].", show_default=False)] = None,
    rate_limit: Annotated[Optional[int], typer.Option(
        "--rate-limit", help="Records per second accepted from one agent, 0 for no limit "
        "[default: 20000].", show_default=False)] = None,
    to: Annotated[Optional[str], typer.Option(
        "--to", help="Publish records to a NATS JetStream stream, nats://HOST:PORT[,HOST:PORT]"
        "/STREAM, partitioned by agent id, instead of writing them on stdout "
        "(docs/scale-out.md).", show_default=False)] = None,
    partitions: Annotated[Optional[int], typer.Option(
        "--partitions", help="Partitions of the stream --to creates when it is missing "
        "[default: 16].", show_default=False)] = None,
    replicas: Annotated[Optional[int], typer.Option(
        "--replicas", help="Servers of a NATS cluster that hold the stream --to creates "
        "[default: 1].", show_default=False)] = None,
    state_dir: StateDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Accept encrypted records from agents and write them on stdout, stamped.

    Each record's agent is overwritten with the identity of the key that authenticated it;
    optionally plain syslog from allowed devices is accepted too.

    Example:
        hidsctl receive --listen 0.0.0.0:1514 --syslog 0.0.0.0:514 --allow 10.0.0.0/8 | hidsctl analyze
    """
    from hidsctl.state import state_dir as resolve_state
    from hidsctl.transport import server
    from hidsctl.transport.server import ReceiveSettings

    settings = load_settings(ReceiveSettings, "receive", config, listen=listen, udp=udp,
                             syslog=syslog, allow=allow, control=control, enroll=enroll,
                             enroll_password=enroll_password, enroll_replace=enroll_replace,
                             disconnect_time=disconnect_time, rate_limit=rate_limit,
                             to=to, partitions=partitions, replicas=replicas)
    if settings.to:
        from hidsctl.bus.address import parse
        parse(settings.to, "--to")  # a usage error now, not after the listeners are up
    server.run(settings, resolve_state(state_dir))
