"""Programs some tests need from Debian's packages (Graphviz's dot, Chromium): installed when
missing, as CI starts on a clean machine, if we are root with apt-get."""

from __future__ import annotations

import os
import shutil
import subprocess


def installed(program: str, package: str) -> str | None:
    """The path of ``program``, installing Debian's ``package`` when it is missing and we may;
    None if it is missing and we may not."""
    found = shutil.which(program)
    if found or os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", package],
    ):
        subprocess.run(command, check=True, env=env, capture_output=True, timeout=900)
    found = shutil.which(program)
    assert found, f"apt-get installed {package} but {program} is not on PATH"
    return found
