"""setuptools' build backend, asking for more when HIDSCTL_COMPILE=1 selects the accelerated
build (setup.py compiles the hot analysis modules with mypyc): mypy, and hidsctl's own
dependencies, whose types the compiled code is checked and built against as in development.
pyproject.toml names this module; without the variable it is setuptools' backend unchanged."""
import contextlib
import os
import tomllib
from collections.abc import Iterator

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403  (the hooks this module does not change)

MYPY = "mypy>=1.11"  # as the test extra's


def _compiling() -> bool:
    return os.environ.get("HIDSCTL_COMPILE", "") not in ("", "0")


@contextlib.contextmanager
def _not_compiling() -> Iterator[None]:
    """setup.py runs to list requirements and metadata too, before mypy is installed and
    with no use for the extensions: it compiles nothing then."""
    saved = os.environ.get("HIDSCTL_COMPILE")
    os.environ["HIDSCTL_COMPILE"] = "0"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["HIDSCTL_COMPILE"]
        else:
            os.environ["HIDSCTL_COMPILE"] = saved


def _compile_requires() -> list[str]:
    if not _compiling():
        return []
    with open("pyproject.toml", "rb") as handle:  # the backend runs in the source tree
        return [MYPY] + tomllib.load(handle)["project"]["dependencies"]


def get_requires_for_build_wheel(config_settings=None):
    extra = _compile_requires()
    with _not_compiling():
        return _setuptools.get_requires_for_build_wheel(config_settings) + extra


def get_requires_for_build_editable(config_settings=None):
    extra = _compile_requires()
    with _not_compiling():
        return _setuptools.get_requires_for_build_editable(config_settings) + extra


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    with _not_compiling():
        return _setuptools.prepare_metadata_for_build_wheel(metadata_directory, config_settings)
