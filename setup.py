"""Package list: hidsctl's own packages plus rules/ and scripts/ mapped inside it.

HIDSCTL_COMPILE=1 asks for the accelerated build: the modules every analysed event runs
through are compiled to C extensions with mypyc (mypy's compiler; packaging/build_backend.py
adds mypy to the build requirements). They are the same code, type-checked strictly, so the
pure-Python package and the compiled one behave alike (tests/test_accelerated.py); without
the variable nothing is compiled and no compiler is needed.
"""
import os

from setuptools import find_packages, setup

# What bench/analyze's profile spends its time in, per event; the rule code generated at
# run time (compiler.py) stays interpreted, the helpers it calls are here. A compiled class
# that the ruleset cache pickles needs a __reduce__ (see linear.Translation).
ACCELERATED = [
    "hidsctl/records.py",
    "hidsctl/analysis/events.py",
    "hidsctl/analysis/predecode.py",
    "hidsctl/analysis/decoders.py",
    "hidsctl/analysis/patterns.py",
    "hidsctl/analysis/osregex.py",
    "hidsctl/analysis/osmatch.py",
    "hidsctl/analysis/correlation.py",
    "hidsctl/analysis/engine.py",
    "hidsctl/analysis/compiled.py",
    "hidsctl/analysis/cdb.py",
    "hidsctl/analysis/jsondecode.py",
    "hidsctl/analysis/findings.py",
    "hidsctl/analysis/linear.py",
    "hidsctl/analysis/alertline.py",
    "hidsctl/alerttext.py",
    "hidsctl/analysis/readers.py",
]


def ext_modules() -> list:
    if os.environ.get("HIDSCTL_COMPILE", "") in ("", "0"):
        return []
    from mypyc.build import mypycify  # a missing mypy fails the opt-in build loudly

    return mypycify(ACCELERATED, opt_level="3", group_name="hidsctl_accelerated")


setup(packages=find_packages(include=["hidsctl", "hidsctl.*"]) + ["hidsctl.rules", "hidsctl.scripts"],
      ext_modules=ext_modules())
