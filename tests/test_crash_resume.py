"""A sync killed with SIGKILL at any point resumes and converges to the state of an uninterrupted run."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = ROOT / "examples" / "workspace"

# Runs one sync of the files source in a child process; with KILL_AFTER=n the child SIGKILLs itself
# right after the connector hands over its n-th document (earlier batches are already in the index).
CHILD = r"""
import os, signal, sys
from pathlib import Path
from askdocs.settings import Settings
from askdocs.app import Services
from askdocs.connectors.files.connector import FilesConnector
from askdocs.ingest.runner import run_source
from askdocs.ingest.state import CheckpointStore

data, folder, kill_after = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])

class Killing(FilesConnector):
    def poll(self, checkpoint):
        seen = 0
        inner = super().poll(checkpoint)
        while True:
            try:
                item = next(inner)
            except StopIteration as stop:
                return stop.value
            seen += 1
            if seen == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            yield item

services = Services.build(Settings(data_dir=data))
indexer = services.indexer()
indexer.batch_docs = 4
report = run_source(indexer, Killing(folder, base_url="https://kb.example"), CheckpointStore(data / "state"))
print(report.summary())
services.close()
"""

DUMP = r"""
import json, sys
from pathlib import Path
from askdocs.settings import Settings
from askdocs.retrieval.index import Index, IndexFilter
index = Index.open(Settings(data_dir=Path(sys.argv[1])))
points = {p.id: p.payload for p in index.chunks(IndexFilter())}
print(json.dumps({"points": points, "stats": index.bm25_stats()}, sort_keys=True))
index.close()
"""


def _child(data: Path, folder: Path, kill_after: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(data), str(folder), str(kill_after)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _dump(data: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", DUMP, str(data)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash") / "ws"
    for part in ("hr", "it"):
        shutil.copytree(WORKSPACE / part, root / part)
    return root


@pytest.fixture(scope="module")
def clean(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    data = tmp_path_factory.mktemp("clean")
    result = _child(data, folder, kill_after=0)
    assert result.returncode == 0, result.stderr[-2000:]
    return _dump(data)


@pytest.mark.parametrize("kill_after", [1, 7])
def test_killed_sync_converges_after_resume(folder: Path, clean: dict, tmp_path: Path, kill_after: int) -> None:
    killed = _child(tmp_path, folder, kill_after)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not (tmp_path / "state" / "files.json").exists(), "no checkpoint may be committed by a killed run"
    resumed = _child(tmp_path, folder, kill_after=0)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = _dump(tmp_path)
    assert sorted(after["points"]) == sorted(clean["points"]), "same point ids, nothing missing, no duplicates"
    assert after["points"] == clean["points"], "same payloads"
    assert after["stats"] == clean["stats"]
    again = _child(tmp_path, folder, kill_after=0)
    assert "0 added, 0 updated" in again.stdout or "0 documents seen" in again.stdout
