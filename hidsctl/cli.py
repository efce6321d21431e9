"""The ``hidsctl`` command: wires each module of hidsctl.commands into one typer app.

A command module defines ``register(app)``; it parses options and calls hidsctl's core,
importing the core inside the command so that ``hidsctl --help`` stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys

import typer

from hidsctl import __version__, commands

# Order of the help listing: the pipeline stages first, then the tools around them.
ORDER = ["collect", "scan", "analyze", "logtest", "rules", "send", "receive", "keys", "agents",
         "respond", "agentless", "logs", "mail", "forward", "supervise", "config"]


def _version(value: bool) -> None:
    if value:
        print(f"hidsctl {__version__}")
        raise typer.Exit()


def build_app(only: str | None = None) -> typer.Typer:
    """The app with every command, or with command ``only`` alone (see main)."""
    app = typer.Typer(
        name="hidsctl",
        help="Host-based intrusion detection in OSSEC's architecture: composable commands "
             "that read and write JSON lines.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def main_callback(
        version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                     help="Print the version and exit."),
    ) -> None:
        """Host-based intrusion detection in OSSEC's architecture: composable commands that
        read and write JSON lines."""

    names = [m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    rank = {name: i for i, name in enumerate(ORDER)}
    for name in sorted(names, key=lambda n: (rank.get(n, len(ORDER)), n)):
        if only is None or name == only:
            importlib.import_module(f"hidsctl.commands.{name}").register(app)
    return app


def _invoked() -> str | None:
    """The command the command line names, when it names one plainly. Typer builds every
    registered command's parameters before running one, so registering only the command
    asked for is a good part of a one-shot ``analyze`` or ``logtest``'s start-up. The full
    app serves anything else: ``--help``, a mistyped name, shell completion."""
    if len(sys.argv) < 2 or any(key.endswith("_COMPLETE") for key in os.environ):
        return None
    name = sys.argv[1]
    if name.startswith("-") or not name.isidentifier():
        return None
    return name if importlib.util.find_spec(f"hidsctl.commands.{name}") else None


def main() -> None:
    build_app(_invoked())(prog_name="hidsctl")
