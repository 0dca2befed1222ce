"""The ``askdocs`` command as a user runs it: a real subprocess, output not on a terminal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WORKSPACE = Path(__file__).resolve().parent.parent / "examples" / "workspace"
ASKDOCS = Path(sys.executable).with_name("askdocs")


def askdocs(*args: str, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run the CLI with ``env`` added to this process's environment (stdout and stderr captured: no TTY)."""
    return subprocess.run(
        [str(ASKDOCS), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, str]:
    """A small files source configured in its own askdocs.yaml, and a private data folder."""
    shutil.copytree(WORKSPACE / "hr", tmp_path / "ws" / "hr")
    sources = tmp_path / "askdocs.yaml"
    sources.write_text(
        f"sources:\n  - name: handbook\n    type: files\n    path: {tmp_path / 'ws'}\n", encoding="utf-8"
    )
    return {"ASKDOCS_DATA_DIR": str(tmp_path / "data"), "ASKDOCS_SOURCES_FILE": str(sources)}


def test_sync_logs_progress_lines_when_not_on_a_terminal(workspace: dict[str, str]) -> None:
    done = askdocs("sync", env={**workspace, "ASKDOCS_PROGRESS_EVERY_S": "0"})
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert lines[0] == "syncing handbook…", lines
    progress = [line for line in lines if line.startswith("syncing handbook: ")]
    n_docs = len(list((Path(workspace["ASKDOCS_SOURCES_FILE"]).parent / "ws").rglob("*.*")))
    assert len(progress) >= n_docs > 2, "one line per progress call with a zero interval"
    assert progress[-1].startswith(f"syncing handbook: {n_docs} documents, ")
    assert "handbook: succeeded" in done.stdout or "files: succeeded" in done.stdout
