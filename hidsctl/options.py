"""Options shared by every command, defined once so a flag means the same everywhere,
and the wrapper that turns hidsctl's errors into one stderr line and an exit code."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from hidsctl.errors import HidsError

StateDirOption = Annotated[
    Optional[Path],
    typer.Option("--state-dir", help="State directory [default: $HIDSCTL_STATE_DIR, else "
                 "/var/lib/hidsctl as root, else $XDG_STATE_HOME/hidsctl].", show_default=False),
]
ConfigOption = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", help="TOML config file; the command reads its own table.",
                 show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``hidsctl: error: message`` on stderr and return the Exit to raise."""
    print(f"hidsctl: error: {message}", file=sys.stderr, flush=True)
    return typer.Exit(code)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn HidsError into one stderr line and its exit code; Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HidsError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper


def load_settings(cls: type, section: str, config_path: Path | None, **cli: Any) -> Any:
    """The command's settings: command line over ``[section]`` of the config over defaults."""
    from hidsctl import config

    return config.build(cls, cli, config.load(config_path), section, config_path)
