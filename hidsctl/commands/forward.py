"""``hidsctl forward``: alerts to syslog servers (OSSEC's csyslogd)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer

from hidsctl.options import (ALL_ALERTS, STAGE_DEFAULTS, AlertFilter, LingerOption,
                             StageOptions, handle_errors, load_settings, option_groups)


def register(app: typer.Typer) -> None:
    app.command("forward")(option_groups(forward))


@handle_errors
def forward(
    to: Annotated[Optional[list[str]], typer.Option(
        "--to", help="Destination udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT "
        "(repeatable).", show_default=False)] = None,
    format: Annotated[Optional[str], typer.Option(
        "--format", "-f", help="rfc5424, rfc3164, json, cef or kv (Splunk key=value) "
        "(default: rfc5424).", show_default=False)] = None,
    alerts: AlertFilter = ALL_ALERTS,
    facility: Annotated[Optional[str], typer.Option(
        "--facility", help="Syslog facility (default: local0).", show_default=False)] = None,
    hostname: Annotated[Optional[str], typer.Option(
        "--hostname", help="HOSTNAME in the syslog header (default: the alert's manager, "
        "else this host).", show_default=False)] = None,
    framing: Annotated[Optional[str], typer.Option(
        "--framing", help="TCP/TLS framing: lf (newline) or octet (RFC 6587 octet "
        "counting) (default: lf).", show_default=False)] = None,
    ca_file: Annotated[Optional[Path], typer.Option(
        "--ca-file", help="CA certificates to verify a TLS server with (default: system).",
        show_default=False)] = None,
    cert_file: Annotated[Optional[Path], typer.Option(
        "--cert-file", help="Client certificate for TLS servers that ask for one.",
        show_default=False)] = None,
    key_file: Annotated[Optional[Path], typer.Option(
        "--key-file", help="Private key of --cert-file.", show_default=False)] = None,
    queue_size: Annotated[Optional[int], typer.Option(
        "--queue-size", help="Bytes queued on disk per destination while it is down; past "
        "it the oldest are dropped (default: 67108864).", show_default=False)] = None,
    linger: LingerOption = None,
    stage: StageOptions = STAGE_DEFAULTS,
) -> None:
    """Forward alerts read on stdin to syslog servers as RFC 5424, RFC 3164, JSON, CEF or key=value.

    Alerts at or above --level (and of --rule-id / --group when given) are queued on
    disk under STATE_DIR/forward and sent over UDP, TCP or TLS. Writes nothing to stdout
    but notice records (code dropped) when a queue reaches its bound.

    Example:
        hidsctl analyze < events.json | hidsctl forward --to tls://siem.example.com:6514 --format cef --level 7
    """
    from hidsctl.outputs import run
    from hidsctl.outputs.forward import ForwardSettings, Forwarder
    from hidsctl.outputs.plumbing import plumbing

    settings = load_settings(
        ForwardSettings, "forward", stage.config, **asdict(alerts), to=to, format=format,
        facility=facility, hostname=hostname, framing=framing, ca_file=ca_file,
        cert_file=cert_file, key_file=key_file, queue_size=queue_size, linger=linger)
    out = plumbing("forward", stage.source, stage.bus_group, stage.state_dir)
    forwarder = Forwarder(settings, out.directory, emit=out.writer.write)
    try:
        if out.bus:
            # acked once every destination's queue was sent past it
            out.consume(forwarder.handle, forwarder.flush, forwarder.sync, forwarder.marks,
                        forwarder.delivered)
            return
        run.run(forwarder.handle, forwarder.tick, flush=forwarder.flush, sync=forwarder.sync,
                writer=out.writer, dead_letters=out.dead_letters)
        forwarder.finish()
    finally:
        forwarder.close()
