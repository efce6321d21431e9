"""``hidsctl rules``: test, check and list a ruleset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hidsctl.options import (ConfigOption, CrawlerDnsOption, DecodersOption, JsonOption,
                             NoDefaultRulesOption, OssecConfOption, RulesOption, handle_errors,
                             load_settings, ruleset_values)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Test, check and list OSSEC rulesets.", no_args_is_help=True)
    group.command("test")(rules_test)
    group.command("check")(rules_check)
    group.command("list")(rules_list)
    app.add_typer(group, name="rules")


@handle_errors
def rules_test(
    files: Annotated[list[Path], typer.Argument(
        help="OSSEC rule test files (.ini), or directories of them.", show_default=False)],
    ossec_conf: OssecConfOption = None,
    rules: RulesOption = None,
    decoders: DecodersOption = None,
    no_default_rules: NoDefaultRulesOption = False,
    json: JsonOption = False,
    crawler_dns: CrawlerDnsOption = False,
    config: ConfigOption = None,
) -> None:
    """Run OSSEC-format rule tests: each log line must give its section's rule, level
    and decoder ("pass") or must not ("fail"), each with fresh correlation state.
    Exits 1 when any case fails.

    Example:

        hidsctl rules test --ossec-conf /var/ossec/etc/ossec.conf tests/*.ini
    """
    from hidsctl.analysis.run_rules import RulesSettings, run_test

    settings = load_settings(RulesSettings, "rules", config,
                             **ruleset_values(ossec_conf, rules, decoders, crawler_dns,
                                              no_default_rules))
    from hidsctl.analysis.rulecache import enable as enable_rule_cache

    enable_rule_cache(None)  # $HIDSCTL_STATE_DIR/cache, else the user's cache directory
    raise typer.Exit(run_test(settings, files, as_json=json))


@handle_errors
def rules_check(
    ossec_conf: OssecConfOption = None,
    rules: RulesOption = None,
    decoders: DecodersOption = None,
    no_default_rules: NoDefaultRulesOption = False,
    json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Validate a ruleset and report every problem with its file and line.
    Exits 1 when there are errors; warnings alone do not fail.

    Example:

        hidsctl rules check --rules /etc/hidsctl/local_rules.xml
    """
    from hidsctl.analysis.run_rules import RulesSettings, run_check

    settings = load_settings(RulesSettings, "rules", config,
                             **ruleset_values(ossec_conf, rules, decoders, False,
                                              no_default_rules))
    raise typer.Exit(run_check(settings, as_json=json))


@handle_errors
def rules_list(
    ossec_conf: OssecConfOption = None,
    rules: RulesOption = None,
    decoders: DecodersOption = None,
    no_default_rules: NoDefaultRulesOption = False,
    group_name: Annotated[Optional[str], typer.Option(
        "--group", help="Only rules in this group.", show_default=False)] = None,
    min_level: Annotated[int, typer.Option(
        "--min-level", help="Only rules of this level and above.")] = 0,
    json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List the rules of a ruleset: id, level, groups, description and source.

    Example:

        hidsctl rules list --group authentication_failed --json
    """
    from hidsctl.analysis.run_rules import RulesSettings, run_list

    settings = load_settings(RulesSettings, "rules", config,
                             **ruleset_values(ossec_conf, rules, decoders, False,
                                              no_default_rules))
    from hidsctl.analysis.rulecache import enable as enable_rule_cache

    enable_rule_cache(None)
    raise typer.Exit(run_list(settings, group=group_name, min_level=min_level,
                              as_json=json))
