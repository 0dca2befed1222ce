"""The ``askdocs`` command as a user runs it: a real subprocess, output not on a terminal."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import askdocs

WORKSPACE = Path(__file__).resolve().parent.parent / "examples" / "workspace"


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


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_one_error_line(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit status 2, and stderr is exactly one ``error:`` line holding every ``expected`` part, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "Error:" not in done.stderr
    for part in expected:
        assert part in lines[0], lines[0]


def test_unreachable_qdrant_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    done = askdocs("search", "vpn", env={"ASKDOCS_QDRANT_URL": url, "ASKDOCS_DATA_DIR": str(tmp_path)})
    assert_one_error_line(done, f"ASKDOCS_QDRANT_URL={url}", "Connection refused", "unset ASKDOCS_QDRANT_URL")


def test_qdrant_url_credentials_stay_out_of_the_message(tmp_path: Path) -> None:
    url = f"http://admin:hunter2@127.0.0.1:{closed_port()}"
    done = askdocs("sync", env={"ASKDOCS_QDRANT_URL": url, "ASKDOCS_DATA_DIR": str(tmp_path)})
    assert_one_error_line(done, "ASKDOCS_QDRANT_URL=http://127.0.0.1:")
    assert "hunter2" not in done.stderr and "admin" not in done.stderr


def test_unknown_model_is_one_line(tmp_path: Path) -> None:
    done = askdocs("search", "vpn", env={"ASKDOCS_EMBEDDER_EN": "nonsense", "ASKDOCS_DATA_DIR": str(tmp_path)})
    assert_one_error_line(done, "ASKDOCS_EMBEDDER_EN='nonsense'", "choose one of: ", "minilm-l6-int8")


def test_with_debug_the_traceback_is_shown(tmp_path: Path) -> None:
    done = askdocs(
        "--debug", "search", "vpn", env={"ASKDOCS_EMBEDDER_EN": "nonsense", "ASKDOCS_DATA_DIR": str(tmp_path)}
    )
    assert done.returncode != 0 and "Traceback" in done.stderr and "ModelNotFound" in done.stderr


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("sources:\n  - name: chat\n    type: slak\n", "sources[0].type: unknown source type 'slak'; choose one of: "),
        ("sources: [\n", "cannot read"),
        (
            "sources:\n  - name: wiki\n    type: confluence\n    options: {space_access: {ENG: group:eng}}\n",
            "options.space_access",
        ),
        (
            "sources:\n  - name: chat\n    type: slack\n    options: {channel_exclude: [random]}\n",
            "sources[0]: options.channel_exclude is not an option of a slack source (valid: channels_include, ",
        ),
    ],
)
def test_bad_sources_file_is_one_line(tmp_path: Path, yaml_text: str, expected: str) -> None:
    sources = tmp_path / "askdocs.yaml"
    sources.write_text(yaml_text, encoding="utf-8")
    env = {"ASKDOCS_SOURCES_FILE": str(sources), "ASKDOCS_DATA_DIR": str(tmp_path / "data")}
    for command in (["sync"], ["sources"], ["search", "vpn"]):
        assert_one_error_line(askdocs(*command, env=env), str(sources), expected)


def test_bad_setting_names_the_variable_and_value(tmp_path: Path) -> None:
    done = askdocs("search", "vpn", env={"ASKDOCS_PORT": "99999", "ASKDOCS_DATA_DIR": str(tmp_path)})
    assert_one_error_line(done, "ASKDOCS_PORT='99999'", "less than or equal to 65535")


def test_locked_data_folder_is_one_line(workspace: dict[str, str]) -> None:
    assert askdocs("sync", env=workspace).returncode == 0
    shard = Path(workspace["ASKDOCS_DATA_DIR"]) / "edge" / "askdocs"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import qdrant_edge, sys, time; s = qdrant_edge.EdgeShard.load({str(shard)!r}); "
         "print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        for command in (["search", "pto"], ["sync", "handbook"]):
            assert_one_error_line(askdocs(*command, env=workspace), f"the index at {shard} is in use")
        assert_one_error_line(askdocs("serve", env={**workspace, "ASKDOCS_PORT": str(closed_port())}), "in use")
    finally:
        holder.kill()
        holder.wait()


def test_server_refuses_to_start_with_the_same_line(tmp_path: Path) -> None:
    env = {"ASKDOCS_EMBEDDER_JA": "nonsense", "ASKDOCS_DATA_DIR": str(tmp_path), "ASKDOCS_PORT": str(closed_port())}
    assert_one_error_line(askdocs("serve", env=env, timeout=60), "ASKDOCS_EMBEDDER_JA='nonsense'")
