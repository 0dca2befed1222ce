"""One list of source types, per-source options honoured, one way to run a source, connectors closed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import askdocs
from confluence_server import EMAIL, TOKEN, FakeServer, confluence_server  # noqa: F401

from askdocs.connectors.confluence.connector import ConfluenceConnector
from askdocs.connectors.registry import CONNECTORS
from askdocs.errors import ConfigError
from askdocs.ingest.runner import source_runner
from askdocs.ingest.sources import SourceConfig, SourcesConfigError, SourcesFile, load_sources, space_access
from askdocs.ingest.state import CheckpointStore
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.settings import Settings

WORKSPACE = Path(__file__).resolve().parent.parent / "examples" / "workspace"


def write_sources(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_every_registered_type_is_accepted_in_the_sources_file(tmp_path: Path) -> None:
    """The README documents slack-export in askdocs.yaml; the file used to reject it."""
    export = tmp_path / "export.zip"
    text = f"sources:\n  - name: archive\n    type: slack-export\n    options: {{export_path: {export}}}\n"
    assert load_sources(write_sources(tmp_path / "a.yaml", text)).get("archive").options == {"export_path": export}
    for source_type in CONNECTORS:
        assert SourceConfig(name="s", type=source_type, path=tmp_path).type == source_type


def test_unknown_types_and_foreign_options_name_the_choices(tmp_path: Path) -> None:
    with pytest.raises(SourcesConfigError, match="unknown source type 'jira'; choose one of: files, slack, "):
        load_sources(write_sources(tmp_path / "a.yaml", "sources:\n  - {name: j, type: jira}\n"))
    text = "sources:\n  - {name: c, type: confluence, options: {channels_include: [x]}}\n"
    with pytest.raises(SourcesConfigError) as info:
        load_sources(write_sources(tmp_path / "b.yaml", text))
    assert str(info.value) == (
        f"{tmp_path / 'b.yaml'}: sources[0]: options.channels_include is not an option of a confluence source "
        "(valid: base_url, spaces, cql, account_emails, space_access)"
    )


def test_option_values_are_type_checked_when_the_file_is_read(tmp_path: Path) -> None:
    text = "sources:\n  - {name: c, type: confluence, options: {space_access: {ENG: group:eng}}}\n"
    with pytest.raises(SourcesConfigError, match=r"sources\[0\]: options.space_access: ENG: Input should be"):
        load_sources(write_sources(tmp_path / "a.yaml", text))


def _confluence(name: str, access: dict[str, list[str]]) -> SourceConfig:
    return SourceConfig(name=name, type="confluence", options={"space_access": access})


def test_space_access_merges_the_variable_and_every_confluence_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASKDOCS_SPACE_ACCESS", '{"HR": ["group:hr"]}')
    sources = SourcesFile(
        sources=[_confluence("wiki", {"ENG": ["group:eng"]}), _confluence("old", {"HR": ["group:hr"]})]
    )
    assert space_access(sources) == {"ENG": ["group:eng"], "HR": ["group:hr"]}
    monkeypatch.setenv("ASKDOCS_SPACE_ACCESS", '{"HR": ["public"]}')
    with pytest.raises(ConfigError, match="space_access of HR differs between ASKDOCS_SPACE_ACCESS and source 'old'"):
        space_access(sources)


def test_space_access_given_twice_differently_is_an_error() -> None:
    sources = SourcesFile(sources=[_confluence("wiki", {"ENG": ["group:eng"]}), _confluence("b", {"ENG": ["public"]})])
    with pytest.raises(ConfigError, match="space_access of ENG differs between source 'wiki' and source 'b'"):
        space_access(sources)


@pytest.fixture
def space_workspace(tmp_path: Path) -> dict[str, str]:
    """Files visible to space:ENG only, and an askdocs.yaml granting that space in a confluence source's options."""
    root = tmp_path / "ws"
    shutil.copytree(WORKSPACE / "hr", root / "hr")
    (root / "_acl.toml").write_text('default = ["space:ENG"]\n', encoding="utf-8")
    sources = write_sources(
        tmp_path / "askdocs.yaml",
        f"sources:\n  - {{name: handbook, type: files, path: {root}}}\n"
        "  - {name: wiki, type: confluence, enabled: false, options: {space_access: {ENG: ['group:eng']}}}\n",
    )
    return {"ASKDOCS_DATA_DIR": str(tmp_path / "data"), "ASKDOCS_SOURCES_FILE": str(sources)}


def test_per_source_space_access_is_honoured(space_workspace: dict[str, str]) -> None:
    synced = askdocs("index", env=space_workspace)
    assert synced.returncode == 0, synced.stderr[-2000:]
    assert "handbook" in synced.stdout and "wiki" not in synced.stdout, "index syncs the enabled sources"
    granted = askdocs("search", "parental leave", "--group", "eng", env=space_workspace)
    assert granted.returncode == 0 and "files:hr/" in granted.stdout, granted.stdout + granted.stderr
    assert askdocs("search", "parental leave", env=space_workspace).stdout.strip() == "no results"


def test_ad_hoc_and_configured_runs_share_one_checkpoint(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(WORKSPACE / "it", root / "it")
    env = {"ASKDOCS_DATA_DIR": str(tmp_path / "data"), "ASKDOCS_SOURCES_FILE": str(tmp_path / "none.yaml")}
    first = askdocs("sync", "--type", "files", "--path", str(root), env=env)
    assert first.returncode == 0 and "files: succeeded; " in first.stdout, first.stderr[-2000:]
    configured = write_sources(tmp_path / "askdocs.yaml", f"sources:\n  - {{name: files, type: files, path: {root}}}\n")
    again = askdocs("sync", "files", env={**env, "ASKDOCS_SOURCES_FILE": str(configured)})
    assert again.returncode == 0 and "files: succeeded; 0 documents seen" in again.stdout, again.stdout


def test_ad_hoc_run_under_a_configured_name_with_another_config_is_refused(tmp_path: Path) -> None:
    sources = write_sources(
        tmp_path / "askdocs.yaml", f"sources:\n  - {{name: files, type: files, path: {tmp_path}}}\n"
    )
    other = tmp_path / "other"
    other.mkdir()
    env = {"ASKDOCS_DATA_DIR": str(tmp_path / "data"), "ASKDOCS_SOURCES_FILE": str(sources)}
    done = askdocs("sync", "--type", "files", "--path", str(other), env=env)
    assert done.returncode == 2 and "source 'files' is configured in" in done.stderr
    assert "run `askdocs sync files`, or name this run: --type files NAME" in done.stderr


def test_the_runner_closes_the_connectors_it_builds(
    confluence_server: FakeServer,  # noqa: F811
    tmp_path: Path,
    make_indexer: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed: list[ConfluenceConnector] = []
    real_close = ConfluenceConnector.close
    monkeypatch.setattr(ConfluenceConnector, "close", lambda self: (closed.append(self), real_close(self))[1])
    monkeypatch.setenv("TEST_CONFLUENCE_TOKEN", TOKEN)
    source = SourceConfig(
        name="wiki",
        type="confluence",
        options={"base_url": confluence_server.url, "spaces": ["ENG"]},
        credentials={"email": "TEST_CONFLUENCE_EMAIL", "api_token": "TEST_CONFLUENCE_TOKEN"},
    )
    monkeypatch.setenv("TEST_CONFLUENCE_EMAIL", EMAIL)
    index = Index(EdgeBackend(tmp_path / "edge"))
    try:
        run = source_runner(make_indexer(index), CheckpointStore(tmp_path / "state"), Settings(data_dir=tmp_path))
        report = run(source, False)
    finally:
        index.close()
    assert report.status == "succeeded", report.summary()
    assert len(closed) == 1 and closed[0].client._http.is_closed


def test_the_readme_documents_every_source_type() -> None:
    readme = (WORKSPACE.parent.parent / "README.md").read_text(encoding="utf-8")
    sources = readme[readme.index("## Sources") :]
    for source_type in CONNECTORS:
        assert f"`{source_type}`" in sources, f"README's Sources section does not name {source_type}"
