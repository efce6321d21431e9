"""A ruleset's source files (decoder and rule XML, CDB lists) are input too: each is opened
without blocking and read only when it is a regular file, so a FIFO or a device put where
one was named cannot stall a load (a FIFO's open and read wait for a writer)."""

from __future__ import annotations

import errno
import io
import os
import stat
from typing import BinaryIO


class NotRegular(OSError):
    """What was named is not a regular file."""


def open_source(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for reading in binary; NotRegular (an OSError) when it is not a
    regular file, and the other OSErrors of opening it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegular(errno.EINVAL, "not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_text(path: str | os.PathLike[str]) -> io.TextIOWrapper:
    """``open_source`` read as UTF-8 text, an invalid byte replaced (as OSSEC reads it)."""
    return io.TextIOWrapper(open_source(path), encoding="utf-8", errors="replace")
