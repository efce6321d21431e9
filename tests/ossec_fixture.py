"""Where OSSEC's own ruleset fixture lives (``HIDSCTL_OSSEC_FIXTURE`` overrides)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT



def _default_fixture() -> Path:
    """../shared/fixtures/ossec-4.3 beside the checkout (or beside the main checkout, for a
    git worktree elsewhere)."""
    candidate = FIXTURES / "ossec-4.3"
    if candidate.is_dir():
        return candidate
    try:
        common = subprocess.run(["git", "rev-parse", "--path-format=absolute",
                                 "--git-common-dir"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return candidate
    return Path(common).parent.parent / "shared" / "fixtures" / "ossec-4.3"


OSSEC = Path(os.environ.get("HIDSCTL_OSSEC_FIXTURE") or _default_fixture())
OSSEC_CONF = OSSEC / "ossec-server.conf"

needs_ossec = pytest.mark.skipif(not OSSEC_CONF.is_file(),
                                 reason=f"OSSEC fixture not found at {OSSEC}")


def ossec_ruleset():
    """OSSEC's decoders and rules in ossec-server.conf order, loaded once per session."""
    global _CACHED
    try:
        return _CACHED
    except NameError:
        pass
    from hidsctl.analysis import ruleset

    _CACHED = ruleset.load(ruleset.gather_sources(OSSEC_CONF))
    return _CACHED
