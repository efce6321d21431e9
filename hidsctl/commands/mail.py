"""``hidsctl mail``: alerts by e-mail (OSSEC's maild and reportd)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer

from hidsctl.options import (ALL_ALERTS, STAGE_DEFAULTS, AlertFilter, LingerOption,
                             StageOptions, handle_errors, load_settings, option_groups)


def register(app: typer.Typer) -> None:
    app.command("mail")(option_groups(mail))


@handle_errors
def mail(
    to: Annotated[Optional[list[str]], typer.Option(
        "--to", help="Recipient address (repeatable).", show_default=False)] = None,
    smtp: Annotated[Optional[str], typer.Option(
        "--smtp", help="SMTP server HOST:PORT (default: localhost:25).", show_default=False)] = None,
    sender: Annotated[Optional[str], typer.Option(
        "--sender", help="From address (default: hidsctl@HOSTNAME).", show_default=False)] = None,
    alerts: AlertFilter = ALL_ALERTS,
    tls: Annotated[Optional[str], typer.Option(
        "--tls", help="none, starttls or ssl (implicit TLS) (default: none).",
        show_default=False)] = None,
    ca_file: Annotated[Optional[Path], typer.Option(
        "--ca-file", help="CA certificates to verify the server with (default: system).",
        show_default=False)] = None,
    user: Annotated[Optional[str], typer.Option(
        "--user", help="SMTP login; the password comes from --password-file or "
        "$HIDSCTL_SMTP_PASSWORD.", show_default=False)] = None,
    password_file: Annotated[Optional[Path], typer.Option(
        "--password-file", help="File whose first line is the SMTP password.",
        show_default=False)] = None,
    group_window: Annotated[Optional[float], typer.Option(
        "--group-window", help="Seconds to gather alerts into one message (default: 3).",
        show_default=False)] = None,
    max_group: Annotated[Optional[int], typer.Option(
        "--max-group", help="Most alerts in one message (default: 100).",
        show_default=False)] = None,
    max_per_hour: Annotated[Optional[int], typer.Option(
        "--max-per-hour", help="Messages per clock hour; past it, one summary at the next "
        "hour (default: 12).", show_default=False)] = None,
    daily_report: Annotated[Optional[bool], typer.Option(
        "--daily-report/--no-daily-report", help="Mail a report of each UTC day's alerts: "
        "top rules, agents, sources, users (default: off).", show_default=False)] = None,
    linger: LingerOption = None,
    stage: StageOptions = STAGE_DEFAULTS,
) -> None:
    """Mail alerts read on stdin: grouped, capped per hour, queued on disk while the server is down.

    Alerts at or above --level (and of --rule-id / --group when given; rules with the
    mail option always) are queued under STATE_DIR/mail and sent over SMTP. Writes
    nothing to stdout but notice records (a message the server refused for good).

    Example:
        hidsctl analyze < events.json | hidsctl mail --smtp mail.example.com:25 --to soc@example.com --level 10
    """
    from hidsctl.outputs import run
    from hidsctl.outputs.mail import Mailer, MailSettings
    from hidsctl.outputs.plumbing import plumbing

    settings = load_settings(
        MailSettings, "mail", stage.config, **asdict(alerts), to=to, smtp=smtp, sender=sender,
        tls=tls, ca_file=ca_file, user=user, password_file=password_file,
        group_window=group_window, max_group=max_group, max_per_hour=max_per_hour,
        daily_report=daily_report, linger=linger)
    out = plumbing("mail", stage.source, stage.bus_group, stage.state_dir)
    mailer = Mailer(settings, out.directory, emit=out.writer.write,
                    dead_letters=out.dead_letters)
    try:
        if out.bus:
            # acked once the SMTP server took the message (the outbox committed past it)
            out.consume(mailer.handle, mailer.tick, lambda: None, mailer.mark, mailer.sent,
                        each=True)
            return
        run.run(mailer.handle, mailer.tick, writer=out.writer, dead_letters=out.dead_letters)
        mailer.finish()
    finally:
        mailer.close()
