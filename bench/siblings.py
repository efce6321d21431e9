"""The bench scripts (files without a .py suffix) loaded as modules, so one reuses
another's pieces (bench/analyze's corpus builder and fixture finder, bench/bus's corpus)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def script(name: str) -> ModuleType:
    """bench/``name`` as the module ``bench_<name>``."""
    module_name = "bench_" + name.replace("-", "_")
    loader = importlib.machinery.SourceFileLoader(module_name,
                                                  str(Path(__file__).resolve().parent / name))
    spec = importlib.util.spec_from_loader(module_name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module
