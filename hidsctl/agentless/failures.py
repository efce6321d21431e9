"""Why a check of one host failed: a code for the ``notice`` record and a line for humans."""

from __future__ import annotations


class CheckFailed(Exception):
    """A host could not be checked. ``code`` is the notice record's machine-readable kind:
    ``unreachable``, ``timeout``, ``login_failed``, ``hostkey_changed``, ``hostkey_unknown``,
    ``enable_failed``, ``unexpected_output``, ``command_failed``."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
