"""Ruleset options shared by ``analyze``, ``logtest`` and ``rules``: defined once, so they
mean the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

OssecConfOption = Annotated[
    Optional[Path],
    typer.Option("--ossec-conf", help="Load the rules and decoders an ossec.conf's <rules> "
                 "section names, in its order.", show_default=False, dir_okay=False),
]
RulesOption = Annotated[
    Optional[list[Path]],
    typer.Option("--rules", help="Rule file, or directory of *.xml rule files loaded in name "
                 "order (repeatable).", show_default=False),
]
DecodersOption = Annotated[
    Optional[list[Path]],
    typer.Option("--decoders", help="Decoder file or directory (repeatable).",
                 show_default=False),
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


def ruleset_values(ossec_conf, rules, decoders, crawler_dns) -> dict:
    """Command-line values as config.build expects them (None = not given)."""
    return {"ossec_conf": ossec_conf, "rules": list(rules or []), "decoders": list(decoders or []),
            "crawler_dns": True if crawler_dns else None}
