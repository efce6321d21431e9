"""setuptools' build backend, asking for mypy as well when HIDSCTL_COMPILE=1 selects the
accelerated build (setup.py compiles the hot analysis modules with mypyc). pyproject.toml
names this module; without the variable it is setuptools' backend unchanged."""
import os

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403  (the hooks this module does not change)

MYPY = "mypy>=1.11"  # as the test extra's: the build type-checks the modules it compiles


def _compile_requires() -> list[str]:
    return [] if os.environ.get("HIDSCTL_COMPILE", "") in ("", "0") else [MYPY]


def get_requires_for_build_wheel(config_settings=None):
    return _setuptools.get_requires_for_build_wheel(config_settings) + _compile_requires()


def get_requires_for_build_editable(config_settings=None):
    return _setuptools.get_requires_for_build_editable(config_settings) + _compile_requires()
