"""Ruleset options shared by ``analyze``, ``logtest`` and ``rules``: defined once, so they
mean the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

OssecConfOption = Annotated[
    Optional[Path],
    typer.Option("--ossec-conf", help="Load the rules and decoders an ossec.conf's <rules> "
                 "section names, in its order, from its install (<root>/etc/ossec.conf: "
                 "rules in <root>/rules, decoders in <root>/etc).", show_default=False,
                 dir_okay=False),
]
RulesOption = Annotated[
    Optional[list[Path]],
    typer.Option("--rules", help="Rule file, or directory of *.xml rule files in name order, "
                 "loaded after the base ruleset as a local_rules.xml is (repeatable).",
                 show_default=False),
]
DecodersOption = Annotated[
    Optional[list[Path]],
    typer.Option("--decoders", help="Decoder file or directory, loaded after the base "
                 "decoders (repeatable).", show_default=False),
]
NoDefaultRulesOption = Annotated[
    bool,
    typer.Option("--no-default-rules", help="No base ruleset: only what --rules and "
                 "--decoders name."),
]
CrawlerDnsOption = Annotated[
    bool,
    typer.Option("--crawler-dns", help="Confirm is_valid_crawler by reverse DNS (cached, "
                 "time-limited). Off: address blocks only."),
]

EventBudgetOption = Annotated[
    Optional[float],
    typer.Option("--event-budget", metavar="MS", help="CPU milliseconds one event may take in "
                 "decoding and rule matching; past them it is reported in a notice and "
                 "skipped [default: 50].", show_default=False),
]


def ruleset_values(ossec_conf, rules, decoders, crawler_dns, no_default_rules=False) -> dict:
    """Command-line values as config.build expects them (None = not given)."""
    return {"ossec_conf": ossec_conf, "rules": list(rules or []), "decoders": list(decoders or []),
            "crawler_dns": True if crawler_dns else None,
            "no_default_rules": True if no_default_rules else None}
