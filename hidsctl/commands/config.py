"""`hidsctl config check | show | import-ossec`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from hidsctl.options import ConfigOption, handle_errors


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Check, show and import configuration.", no_args_is_help=True)
    group.command("check")(check)
    group.command("show")(show)
    group.command("import-ossec")(import_ossec)
    app.add_typer(group, name="config")


@handle_errors
def check(config: ConfigOption = None,
          file: Annotated[Optional[Path], typer.Argument(help="Config file (or --config).",
                                                         show_default=False)] = None) -> None:
    """Validate a config file with the same checks each command runs; exit 2 on an error.

    Example: hidsctl config check /etc/hidsctl/hidsctl.toml
    """
    from hidsctl import config as config_module
    from hidsctl.configtool import sections

    path = _which(config, file)
    effective = sections.check(config_module.load(path), path)
    present = [name for name in config_module.load(path)]
    print(f"{path}: OK ({len(present)} tables: {', '.join(present) or 'none'}; "
          f"{len(effective)} commands checked)")


@handle_errors
def show(config: ConfigOption = None,
         file: Annotated[Optional[Path], typer.Argument(help="Config file (or --config).",
                                                        show_default=False)] = None) -> None:
    """Print the effective config: every table with its defaults filled in, as TOML.

    Example: hidsctl config show --config /etc/hidsctl/hidsctl.toml
    """
    import tomli_w

    from hidsctl import config as config_module
    from hidsctl.configtool import sections

    path = config or file
    effective = sections.check(config_module.load(path), path)
    document = {name: sections.as_plain(settings) for name, settings in effective.items()}
    sys.stdout.write(tomli_w.dumps(document))


@handle_errors
def import_ossec(
    ossec_conf: Annotated[Path, typer.Argument(help="The ossec.conf to convert.")],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Write the TOML here instead of stdout.", show_default=False)] = None,
) -> None:
    """Convert an OSSEC ossec.conf to a hidsctl TOML config, warning about what has no
    counterpart.

    Example: hidsctl config import-ossec /var/ossec/etc/ossec.conf -o /etc/hidsctl/hidsctl.toml
    """
    import tomli_w

    from hidsctl.configtool.ossec_import import import_ossec as convert
    from hidsctl.state import atomic_write

    document, warnings = convert(ossec_conf)
    from hidsctl.diagnostics import logger

    for warning in warnings:
        logger().warning(f"{ossec_conf}: {warning}")
    text = f"# Imported from {ossec_conf} by hidsctl config import-ossec\n\n" + tomli_w.dumps(document)
    if output is None:
        sys.stdout.write(text)
    else:
        atomic_write(output, text, mode=0o640)


def _which(config: Optional[Path], file: Optional[Path]) -> Path:
    path = config or file
    if path is None:
        from hidsctl.errors import UsageError

        raise UsageError("name the config file: hidsctl config check FILE")
    return path
