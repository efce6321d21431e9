"""The ``hidsctl`` command: wires each module of hidsctl.commands into one typer app.

How a command is registered (one way, in every module of hidsctl.commands):

- each command is a module-level function, decorated with ``@handle_errors`` only, so it
  can be read, imported and tested on its own;
- the module's ``register(app)`` is the only place that names commands: it calls
  ``app.command("name")(function)``, or, for a command with subcommands, builds a
  ``typer.Typer`` group, adds its functions with ``group.command("name")(function)`` and
  mounts it with ``app.add_typer(group, name="name")``;
- an option more than one command takes is an ``Annotated`` alias in hidsctl/options.py,
  never imported from another command's module; the options every output stage (mail,
  forward, respond) shares come as groups, one parameter each (``alerts: AlertFilter``,
  ``stage: StageOptions``), and such a command is registered as
  ``app.command("name")(option_groups(function))``;
- every option a command takes is read by it: an option that would do nothing in some
  combination is refused there with a usage error, not ignored.

tests/test_cli.py holds every command module to these rules.

A command parses options and calls hidsctl's core, importing the core inside the function
so that ``hidsctl --help`` stays fast. A command line naming one command with only its own
plain options is read by hidsctl/directcall.py from these same declarations and the
function called directly: typer's parser (pydantic, imported and set up for every option)
was a third of a one-shot ``logtest``'s or ``analyze``'s start-up. The core's entry point, the stage loop that a command
runs, is the module ``run.py`` of its package (hidsctl/collect/run.py, scan/run.py,
analysis/run.py, respond/run.py, agentless/run.py, and outputs/run.py, the loop every output
shares); where a package serves more than one command, the others' are ``run_<command>.py``
(analysis/run_logtest.py, analysis/run_rules.py). send and receive run the ``run()`` of
transport/agent.py and transport/server.py.
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
    # Each module's register(app) adds its commands, in the one style described above.
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
    only = _invoked()
    app = build_app(only)
    if only is not None:
        from hidsctl import directcall

        found = directcall.command(app, sys.argv[1:])
        kwargs = None if found is None else directcall.read(*found)
        if kwargs is not None:
            directcall.call(found[0], kwargs)  # type: ignore[index]
    app(prog_name="hidsctl")
