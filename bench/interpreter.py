"""Imported first by every benchmark: one run by an interpreter that lacks hidsctl's
dependencies (``bench/analyze`` runs ``/usr/bin/env python3``, the system Python) runs
again under the virtualenv tools/install makes, or stops saying which interpreter to use."""

from __future__ import annotations

import importlib.util
import os
import sys

INSTALLED = "/opt/hidsctl/bin/python"


def _check() -> None:
    if importlib.util.find_spec("typer") is not None:
        return
    # A virtualenv's python links to the system one: tell them apart by their prefix.
    if os.access(INSTALLED, os.X_OK) and sys.prefix != os.path.dirname(os.path.dirname(INSTALLED)):
        os.execv(INSTALLED, [INSTALLED, *sys.argv])
    sys.exit(f"{sys.argv[0]}: {sys.executable} cannot import hidsctl's dependencies; run "
             f"it with the Python hidsctl is installed in ({INSTALLED} after tools/install)")


_check()
