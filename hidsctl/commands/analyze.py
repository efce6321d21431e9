"""``hidsctl analyze``: decode records, match OSSEC rules, correlate, emit alerts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from hidsctl.options import (ConfigOption, CrawlerDnsOption, DecodersOption, EventBudgetOption,
                             NoDefaultRulesOption, OssecConfOption, RulesOption, StateDirOption,
                             handle_errors, load_settings, ruleset_values)


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)


@handle_errors
def analyze(
    ossec_conf: OssecConfOption = None,
    rules: RulesOption = None,
    decoders: DecodersOption = None,
    no_default_rules: NoDefaultRulesOption = False,
    min_level: Annotated[Optional[int], typer.Option(
        "--min-level", help="Emit alerts of this level and above [default: 1].",
        show_default=False)] = None,
    alerts_json: Annotated[Optional[Path], typer.Option(
        "--alerts-json", help="Also append each alert to this alerts.json file.",
        show_default=False, dir_okay=False)] = None,
    alerts_log: Annotated[Optional[Path], typer.Option(
        "--alerts-log", help="Also append each alert to this file in OSSEC's alerts.log "
        "layout.", show_default=False, dir_okay=False)] = None,
    crawler_dns: CrawlerDnsOption = False,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", help="Analyse in this many processes, the records partitioned by "
        "agent id [default: 1].", show_default=False)] = None,
    event_budget: EventBudgetOption = None,
    source: Annotated[Optional[str], typer.Option(
        "--from", help="Read records from a NATS JetStream stream, nats://HOST:PORT"
        "[,HOST:PORT]/STREAM, as a member of --group, instead of stdin "
        "(docs/scale-out.md).", show_default=False)] = None,
    group: Annotated[Optional[str], typer.Option(
        "--group", help="With --from: the analysis group whose members share the "
        "stream's partitions.", show_default=False)] = None,
    to: Annotated[Optional[str], typer.Option(
        "--to", help="With --from: the stream alerts are published to, "
        "nats://HOST:PORT[,HOST:PORT]/STREAM.", show_default=False)] = None,
    lease_ttl: Annotated[Optional[float], typer.Option(
        "--lease-ttl", help="With --from: seconds after which a silent member's "
        "partitions are taken over [default: 10].", show_default=False)] = None,
    snapshot_interval: Annotated[Optional[float], typer.Option(
        "--snapshot-interval", help="Seconds between snapshots of the correlation state "
        "while records keep coming (with --state-dir; with --from, of each partition's) "
        "[default: 30].", show_default=False)] = None,
    rootcheck_forget: Annotated[Optional[str], typer.Option(
        "--rootcheck-forget", help="A rootcheck finding not reported for this long "
        "(30m, 12h, 2d) alerts again when it comes back; 0 never forgets "
        "[default: 2d].", show_default=False)] = None,
    state_dir: StateDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Decode records, match OSSEC rules, correlate, and write alert records.

    Reads records on stdin (log, syscheck, rootcheck, agent_status, ar_result and notice
    records are analysed; every other record passes through) and writes alert records
    in Wazuh 4's alerts.json shape. With no ruleset options, the bundled ruleset is used.

    Example:

        hidsctl collect /var/log/auth.log | hidsctl analyze --alerts-log alerts.log
    """
    from hidsctl.analysis.run import AnalyzeSettings, analyze as run

    settings = load_settings(
        AnalyzeSettings, "analyze", config,
        **ruleset_values(ossec_conf, rules, decoders, crawler_dns,
                         no_default_rules),
        min_level=min_level, alerts_json=alerts_json, alerts_log=alerts_log,
        workers=workers, event_budget=event_budget, source=source, group=group, to=to,
        lease_ttl=lease_ttl, snapshot_interval=snapshot_interval,
        rootcheck_forget=rootcheck_forget)
    from hidsctl.analysis.rulecache import enable as enable_rule_cache

    enable_rule_cache(state_dir)
    if settings.source or settings.to or settings.group:
        from hidsctl.bus.group import run_settings

        # A member's correlation state is the stream's snapshots: a --state-dir holds only
        # its compiled-ruleset cache (enabled above).
        raise typer.Exit(run_settings(settings))
    from hidsctl.deadletter import DeadLetters
    from hidsctl.state import state_dir as resolve_state_dir

    # Created only when a record is set aside.
    dead_letters = DeadLetters(resolve_state_dir(state_dir, create=False) / "deadletter",
                               "analyze")
    # The rootcheck findings outlive the run only in a state directory named for it
    # (--state-dir, $HIDSCTL_STATE_DIR, as supervise does); a one-shot pipeline keeps
    # them in memory.
    # So does the correlation state (analysis/statefile.py), saved for a restart.
    findings = kept = None
    if state_dir is not None or os.environ.get("HIDSCTL_STATE_DIR"):
        findings = resolve_state_dir(state_dir) / "rootcheck.db"
        kept = findings.parent
    if settings.workers != 1:
        from hidsctl.analysis.parallel import analyze_parallel

        raise typer.Exit(analyze_parallel(settings, settings.workers,
                                          dead_letters=dead_letters,
                                          rootcheck_db=findings, state_dir=kept))
    from hidsctl.analysis.statefile import path_for

    raise typer.Exit(run(settings, dead_letters=dead_letters, rootcheck_db=findings,
                         correlation=path_for(kept) if kept is not None else None))
