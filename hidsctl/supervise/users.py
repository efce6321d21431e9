"""Create the dedicated system user the unprivileged components run as."""

from __future__ import annotations

import pwd
import shutil
import subprocess

from hidsctl.errors import HidsError

USER = "hidsctl"


def install() -> None:
    """Create the ``hidsctl`` system user and group (no login, no home) if missing."""
    try:
        pwd.getpwnam(USER)
        print(f"user {USER} exists")
        return
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        raise HidsError("useradd not found; create a system user named hidsctl by hand")
    result = subprocess.run([useradd, "--system", "--user-group", "--no-create-home",
                             "--shell", "/usr/sbin/nologin", USER], capture_output=True, text=True)
    if result.returncode != 0:
        raise HidsError(f"useradd failed: {result.stderr.strip()}")
    print(f"created system user {USER}")
