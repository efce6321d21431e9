"""Files hidsctl ships: the bundled ruleset (rules/) and scripts (scripts/).

In a source checkout they are read from the checkout itself, so tests run against the
tree under test; in an installed hidsctl, from the package data (importlib.resources).
"""

from __future__ import annotations

from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """The directory of shipped data ``name`` ("rules" or "scripts")."""
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / name).is_dir():
        return _CHECKOUT / name
    import importlib.resources

    return Path(str(importlib.resources.files(f"hidsctl.{name}")))


def rules_dir() -> Path:
    return data_dir("rules")


def scripts_dir() -> Path:
    return data_dir("scripts")
