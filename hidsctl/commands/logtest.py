"""``hidsctl logtest``: show how one log line is pre-decoded, decoded and matched."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from hidsctl.options import (ConfigOption, CrawlerDnsOption, DecodersOption, EventBudgetOption,
                             JsonOption, NoDefaultRulesOption, OssecConfOption, RulesOption,
                             handle_errors, load_settings, ruleset_values)


def register(app: typer.Typer) -> None:
    app.command("logtest")(logtest)


@handle_errors
def logtest(
    ossec_conf: OssecConfOption = None,
    rules: RulesOption = None,
    decoders: DecodersOption = None,
    no_default_rules: NoDefaultRulesOption = False,
    expect: Annotated[Optional[str], typer.Option(
        "-U", "--expect", metavar="RULE:LEVEL:DECODER",
        help="Exit 0 only if every line gives exactly this rule id, level and decoder.",
        show_default=False)] = None,
    location: Annotated[str, typer.Option(
        "--location", help="Location the lines are said to come from.")] = "stdin",
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Print nothing; with -U, only the exit code tells.")] = False,
    json: JsonOption = False,
    crawler_dns: CrawlerDnsOption = False,
    event_budget: EventBudgetOption = None,
    config: ConfigOption = None,
) -> None:
    """Show each analysis phase for log lines, as ossec-logtest does.

    Reads one log line per line of stdin (a prompt on a terminal) and prints the
    pre-decoding, the decoder with every field, and the matching rule. Lines of one
    session correlate with each other, as in ossec-logtest.

    Example:

        echo 'Nov 25 13:50:47 web1 sshd[811]: Failed password for root from 203.0.113.9 port 52144 ssh2' | hidsctl logtest -U 5716:5:sshd
    """
    from hidsctl.analysis.run_logtest import LogtestSettings, run

    settings = load_settings(LogtestSettings, "logtest", config,
                             **ruleset_values(ossec_conf, rules, decoders, crawler_dns,
                                              no_default_rules),
                             event_budget=event_budget)
    from hidsctl.analysis.rulecache import enable as enable_rule_cache

    enable_rule_cache(None)  # $HIDSCTL_STATE_DIR/cache, else the user's cache directory
    raise typer.Exit(run(settings, expect=expect, as_json=json, quiet=quiet,
                         location=location))
