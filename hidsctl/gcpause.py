"""Building a large, long-lived structure (a ruleset, its compiled rules) with Python's
cyclic garbage collector paused.

Such a build makes some hundred thousand objects that all stay: each young-generation
collection the allocations trigger walks them again, finds nothing, and moves them on,
about a third of a one-shot ``analyze``'s or ``logtest``'s start-up. The collector is
back on when the build returns (or fails), so anything cyclic it left behind is still
collected later.
"""

from __future__ import annotations

import functools
import gc
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def paused(func: F) -> F:
    """``func`` run with the collector off (left as it was when already off)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not gc.isenabled():
            return func(*args, **kwargs)
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            gc.enable()

    return wrapper  # type: ignore[return-value]
