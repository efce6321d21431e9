"""``hidsctl send``: deliver records to the server, encrypted (OSSEC's agentd)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from hidsctl.options import ConfigOption, StateDirOption, handle_errors, load_settings


def register(app: typer.Typer) -> None:
    app.command("send")(send)


@handle_errors
def send(
    server: Annotated[Optional[list[str]], typer.Option(
        "--server", "-s", help="Server HOST:PORT (port 1514 by default); repeat for "
        "failover, tried in order.", show_default=False)] = None,
    udp: Annotated[Optional[bool], typer.Option(
        "--udp/--tcp", help="Speak the protocol over UDP instead of TCP.",
        show_default=False)] = None,
    agent_id: Annotated[Optional[str], typer.Option(
        "--id", help="Which key to use when the keys file holds several.",
        show_default=False)] = None,
    keepalive: Annotated[Optional[float], typer.Option(
        "--keepalive", help="Seconds between keepalives [default: 10].",
        show_default=False)] = None,
    drain_timeout: Annotated[Optional[float], typer.Option(
        "--drain-timeout", help="At end of input, seconds to wait for acknowledgements; "
        "the rest stays queued on disk [default: 30].", show_default=False)] = None,
    queue_size: Annotated[Optional[int], typer.Option(
        "--queue-size", help="Bound of the on-disk queue in bytes; past it the oldest "
        "records are dropped and a notice says how many [default: 268435456].",
        show_default=False)] = None,
    enroll: Annotated[Optional[str], typer.Option(
        "--enroll", help="Obtain a key from HOST[:PORT] (port 1515 by default) and exit.",
        show_default=False)] = None,
    password: Annotated[Optional[str], typer.Option(
        "--password", help="Enrollment password.", show_default=False)] = None,
    fingerprint: Annotated[Optional[str], typer.Option(
        "--fingerprint", help="Enrollment: the server certificate's SHA-256 fingerprint; "
        "without it the certificate is trusted on first use.", show_default=False)] = None,
    name: Annotated[Optional[str], typer.Option(
        "--name", help="Enrollment: this agent's name [default: the hostname].",
        show_default=False)] = None,
    state_dir: StateDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Read records on stdin and deliver them to the server, encrypted and acknowledged.

    Records are queued on disk first, so nothing is lost while the server is away; active
    response commands from the server are written on stdout as ar records.

    Example:
        hidsctl collect | hidsctl send --server siem1:1514 --server siem2:1514 | hidsctl respond
    """
    import signal

    # SIGTERM while starting up is a plain stop (exit 0): nothing is queued or held yet.
    # The agent's event loop installs its own handler once it runs.
    signal.signal(signal.SIGTERM, _stop)
    from hidsctl.state import state_dir as resolve_state
    from hidsctl.transport import agent
    from hidsctl.transport.agent import SendSettings

    settings = load_settings(SendSettings, "send", config, server=server, udp=udp, id=agent_id,
                             keepalive=keepalive, drain_timeout=drain_timeout,
                             queue_size=queue_size, enroll=enroll, password=password,
                             fingerprint=fingerprint, name=name)
    _refuse_other_mode(bool(settings.enroll), server=server, udp=udp, id=agent_id,
                       keepalive=keepalive, drain_timeout=drain_timeout, queue_size=queue_size,
                       password=password, fingerprint=fingerprint, name=name)
    state = resolve_state(state_dir)
    if settings.enroll:
        from hidsctl.transport.enroll import enroll_agent
        key = enroll_agent(settings, state)
        from hidsctl.diagnostics import logger

        logger("send").info(f"enrolled as agent {key.id} ({key.name})")
        return
    raise typer.Exit(agent.run(settings, state, config))


ENROLL_ONLY = ("password", "fingerprint", "name")


def _refuse_other_mode(enrolling: bool, **given) -> None:
    """Enrolling sends nothing, and sending enrolls nothing: the other mode's options given
    on the command line would do nothing."""
    wrong = [name for name, value in given.items()
             if value is not None and (name in ENROLL_ONLY) != enrolling]
    if wrong:
        from hidsctl.errors import UsageError

        flags = ", ".join("--" + name.replace("_", "-") for name in wrong)
        raise UsageError(f"{flags}: only with --enroll" if not enrolling
                         else f"--enroll takes no {flags}")


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)
