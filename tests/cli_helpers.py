"""Running the ``askdocs`` command in a test as a user would: a real subprocess, output not on a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ASKDOCS = Path(sys.executable).with_name("askdocs")


def askdocs(*args: str, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run the CLI with ``env`` added to this process's environment (stdout and stderr captured: no TTY)."""
    return subprocess.run(
        [str(ASKDOCS), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout
    )
