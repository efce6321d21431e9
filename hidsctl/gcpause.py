"""Building a large, long-lived structure (a ruleset, its compiled rules) with Python's
cyclic garbage collector paused.

Such a build makes some hundred thousand objects that all stay: each young-generation
collection the allocations trigger walks them again, finds nothing, and moves them on,
about a third of a one-shot ``analyze``'s or ``logtest``'s start-up. The collector is
back on when the build returns (or fails), so anything cyclic it left behind is still
collected later.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The collector off for the block or the decorated call (left as it was when already
    off). A context manager too, for code mypyc compiles: it takes no decorated methods."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
