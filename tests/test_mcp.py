"""The MCP server, driven by the `mcp` SDK's own client: over streamable HTTP (live uvicorn on 127.0.0.1, the
API's own sign-in) and over stdio (`askdocs mcp` as a subprocess on an indexed copy of the sample workspace)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from api_fixtures import WORKSPACE, LiveServer, demo_server, live_server  # noqa: F401
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from oidc_fixtures import HERON, OidcProvider, oidc_provider, oidc_server  # noqa: F401

from askdocs.api.auth.keys import KeyStore
from askdocs.api.mcp_server import document_text
from askdocs.connectors.files.connector import FilesConnector
from askdocs.ingest.chunker import Chunker
from askdocs.models import Document, Section
from askdocs.retrieval.index import Index, ScoredPayload
from askdocs.settings import Settings

BUDGET = "files:finance/q3-2026-budget.md"
BUDGET_QUESTION = "How much is reserved in the Falcon budget line?"
PUBLIC_DOC = "files:hr/parental-leave.md"
TOOLS = {"search", "ask", "fetch_document"}
REPO_ROOT = WORKSPACE.parent.parent


def call(url: str, tool: str, arguments: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    """Call one tool through the SDK's streamable-HTTP client; returns the CallToolResult."""

    async def run() -> Any:
        async with httpx2.AsyncClient(headers=headers or {}, timeout=60) as http:
            async with Client(http_transport(url, http)) as client:
                return await client.call_tool(tool, arguments)

    return anyio.run(run)


def http_transport(url: str, http: httpx2.AsyncClient) -> Any:
    from mcp.client.streamable_http import streamable_http_client

    return streamable_http_client(f"{url}/mcp", http_client=http)


def search_ids(result: Any) -> list[str]:
    assert not result.is_error, result.content
    return [r["doc_id"] for r in result.structured_content["results"]]


def cited_ids(result: Any) -> set[str]:
    assert not result.is_error, result.content
    return {c["doc_id"] for c in result.structured_content["citations"]}


def test_tools_are_listed_with_their_parameters(live_server: LiveServer) -> None:  # noqa: F811
    async def run() -> Any:
        async with httpx2.AsyncClient(headers=live_server.key(), timeout=60) as http:
            async with Client(http_transport(live_server.url, http)) as client:
                return (await client.list_tools()).tools

    tools = {t.name: t for t in anyio.run(run)}
    assert set(tools) == TOOLS
    assert {"query", "top_k", "filters"} <= set(tools["search"].input_schema["properties"])
    assert tools["search"].input_schema["required"] == ["query"]
    assert tools["ask"].input_schema["required"] == ["question"]
    assert tools["fetch_document"].input_schema["required"] == ["doc_id"]
    assert all(t.annotations and t.annotations.read_only_hint for t in tools.values())


def test_search_and_ask_show_a_restricted_document_only_to_a_key_with_the_group(live_server: LiveServer) -> None:  # noqa: F811
    finance, other = live_server.key("group:finance"), live_server.key("group:engineering")
    query = {"query": "Falcon budget line reserved", "top_k": 10}
    assert BUDGET in search_ids(call(live_server.url, "search", query, finance))
    assert BUDGET not in search_ids(call(live_server.url, "search", query, other))
    answer = call(live_server.url, "ask", {"question": BUDGET_QUESTION}, finance)
    assert BUDGET in cited_ids(answer) and answer.structured_content["found"]
    assert "[1]" in answer.structured_content["answer"]
    assert BUDGET not in cited_ids(call(live_server.url, "ask", {"question": BUDGET_QUESTION}, other))


def test_fetch_document_reads_what_the_caller_may_see_and_nothing_else(live_server: LiveServer) -> None:  # noqa: F811
    finance, other = live_server.key("group:finance"), live_server.key()
    document = call(live_server.url, "fetch_document", {"doc_id": BUDGET}, finance)
    assert not document.is_error, document.content
    assert document.structured_content["title"] and "Falcon" in document.structured_content["text"]
    hidden = call(live_server.url, "fetch_document", {"doc_id": BUDGET}, other)
    absent = call(live_server.url, "fetch_document", {"doc_id": "files:no/such.md"}, other)
    assert hidden.is_error and absent.is_error
    assert hidden.content[0].text == absent.content[0].text
    assert "Falcon" not in hidden.content[0].text


@pytest.mark.parametrize("path", ["engineering/oncall-handbook.txt", "tokyo/tsukin-teate.txt"])
def test_fetch_document_gives_a_long_document_whole(live_server: LiveServer, path: str) -> None:  # noqa: F811
    doc_id = f"files:{path}"
    chunks = live_server.services.retriever.document_chunks(doc_id, ["public"])
    assert len(chunks) >= 3
    key = live_server.key()
    result = call(live_server.url, "fetch_document", {"doc_id": doc_id}, key)
    text = result.structured_content["text"]
    source = [line.strip() for line in (WORKSPACE / path).read_text(encoding="utf-8").splitlines()]
    title = result.structured_content["title"]  # the first line, which the parser takes as the title
    lines = [line for line in source if len(line) >= 12 and source.count(line) == 1 and line != title]
    assert len(lines) >= 5
    assert {line: text.count(line) for line in lines} == dict.fromkeys(lines, 1)
    assert result.structured_content["total_chars"] == len(text) and result.structured_content["next_offset"] is None
    pages, offset = [], 0
    while offset is not None:
        page = call(live_server.url, "fetch_document", {"doc_id": doc_id, "offset": offset, "max_chars": 300}, key)
        pages.append(page.structured_content["text"])
        offset = page.structured_content["next_offset"]
    assert "".join(pages) == text and len(pages) == -(-len(text) // 300) > 1


@pytest.mark.parametrize(
    ("sentence", "language"),
    [("Sentence number {i} says that fleet item {i} is ready for the next field trial. ", "en"),
     ("第{i}項の規定は東京オフィスの全社員に適用されます。", "ja")],
)  # fmt: skip
def test_document_text_drops_the_overlap_between_chunks(chunker: Chunker, sentence: str, language: str) -> None:
    sections = [Section(path=[f"Part {part}"], text="".join(sentence.format(i=f"{part}{i:03d}") for i in range(80)))
                for part in range(2)]  # fmt: skip
    doc = Document(id="test:long", source="test", title="Long", sections=sections)
    chunks = chunker.chunk(doc)
    assert len(chunks) >= 6 and {c.language for c in chunks} == {language}
    stored = [ScoredPayload(id=str(c.chunk_no), score=0, payload=c.model_dump(mode="json")) for c in chunks]
    text = document_text(stored).text
    assert sum(len(c.text) for c in chunks) > len(text) + 200, "consecutive chunks overlap"
    for part in range(2):
        assert text.count(f"Part {part}\n") == 1
        for i in range(80):
            assert text.count(sentence.format(i=f"{part}{i:03d}").split("は" if language == "ja" else " says")[0]) == 1


def test_filters_and_bad_arguments(live_server: LiveServer) -> None:  # noqa: F811
    key = live_server.key("group:finance")
    only_slack = call(live_server.url, "search", {"query": "budget", "filters": {"sources": ["slack"]}}, key)
    assert search_ids(only_slack) == []
    for arguments in ({"query": "   "}, {"query": "x", "top_k": 0}, {"query": "x", "filters": {"colour": "red"}}):
        result = call(live_server.url, "search", arguments, key)
        assert result.is_error, arguments
        assert "Traceback" not in result.content[0].text


def test_an_unauthenticated_or_bad_credential_http_call_fails(live_server: LiveServer) -> None:  # noqa: F811
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    anonymous = httpx.post(f"{live_server.url}/mcp", json=body, headers=accept, timeout=30)
    assert anonymous.status_code == 401 and "credential" in anonymous.json()["detail"]
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.post(
        f"{live_server.url}/mcp", json=body, headers={**accept, "Authorization": "Bearer askd_nope"}, timeout=30
    )
    assert wrong.status_code == 401
    with pytest.raises(ExceptionGroup) as failure:  # the SDK's client: its connection fails on the 401
        call(live_server.url, "search", {"query": "budget"})
    assert failure.group_contains(MCPError)


def test_oidc_bearer_tokens_work_as_for_the_rest_api(oidc_server: LiveServer, oidc_provider: OidcProvider) -> None:  # noqa: F811
    ana = {"Authorization": f"Bearer {oidc_provider.sign()}"}  # ana@kumo.example in the IdP group "finance"
    assert BUDGET in search_ids(call(oidc_server.url, "search", {"query": "Falcon budget line"}, ana))
    assert HERON not in search_ids(call(oidc_server.url, "search", {"query": "Project Heron reorganisation"}, ana))
    expired = {"Authorization": f"Bearer {oidc_provider.sign(exp=int(time.time()) - 600)}"}
    refused = httpx.post(f"{oidc_server.url}/mcp", json={}, headers=expired, timeout=30)
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]


def test_demo_mode_lets_anonymous_callers_search_public_documents_only(
    live_server: LiveServer,  # noqa: F811
    demo_server: str,  # noqa: F811
) -> None:
    ids = search_ids(call(demo_server, "search", {"query": "Falcon budget line reserved parental leave", "top_k": 20}))
    assert ids and BUDGET not in ids
    finance = live_server.key("group:finance")
    assert BUDGET in search_ids(call(demo_server, "search", {"query": "Falcon budget"}, finance))


@pytest.fixture(scope="module")
def stdio_settings(tmp_path_factory: pytest.TempPathFactory, make_indexer: Any) -> Settings:
    """An indexed copy of the sample workspace in its own data folder (closed again: `askdocs mcp` opens it)."""
    root = tmp_path_factory.mktemp("mcp-stdio")
    shutil.copytree(WORKSPACE, root / "workspace")
    return indexed(root, make_indexer)


def indexed(root: Path, make_indexer: Any) -> Settings:
    """Settings over ``root/workspace`` indexed into ``root/data`` (the index closed again)."""
    settings = Settings(data_dir=root / "data", workspace_dir=root / "workspace")
    index = Index.open(settings)
    try:
        assert make_indexer(index).full_sync(FilesConnector(settings.workspace_dir)).status == "succeeded"
    finally:
        index.close()
    return settings


def stdio_server(settings: Settings, key: str | None = None) -> StdioServerParameters:
    """`askdocs mcp` as a desktop assistant would start it (the key in ASKDOCS_API_KEY)."""
    env = {"PYTHONPATH": str(REPO_ROOT), "ASKDOCS_DATA_DIR": str(settings.data_dir)}
    env |= {"ASKDOCS_WORKSPACE_DIR": str(settings.workspace_dir)} | ({"ASKDOCS_API_KEY": key} if key else {})
    return StdioServerParameters(command=sys.executable, args=["-m", "askdocs.api.cli", "mcp"], env=env, cwd=REPO_ROOT)


def test_stdio_runs_as_the_keys_principals_and_a_revoked_key_fails_at_once(stdio_settings: Settings) -> None:
    store = KeyStore(stdio_settings.auth_dir / "keys.sqlite3")
    secret = store.create("desktop-finance", ("public", "group:finance"))

    async def run() -> dict[str, Any]:
        async with Client(stdio_server(stdio_settings, secret), read_timeout_seconds=120) as client:
            seen = {"tools": {t.name for t in (await client.list_tools()).tools}}
            seen["search"] = await client.call_tool("search", {"query": "Falcon budget line reserved"})
            seen["ask"] = await client.call_tool("ask", {"question": BUDGET_QUESTION})
            seen["fetch"] = await client.call_tool("fetch_document", {"doc_id": BUDGET})
            assert store.revoke("desktop-finance")
            seen["revoked"] = await client.call_tool("search", {"query": "Falcon budget line reserved"})
            return seen

    seen = anyio.run(run)
    assert seen["tools"] == TOOLS
    assert BUDGET in search_ids(seen["search"])
    assert BUDGET in cited_ids(seen["ask"])
    assert "Falcon" in seen["fetch"].structured_content["text"]
    assert seen["revoked"].is_error and "revoked" in seen["revoked"].content[0].text


def test_stdio_without_a_key_sees_public_documents_only(stdio_settings: Settings) -> None:
    async def run() -> dict[str, Any]:
        async with Client(stdio_server(stdio_settings), read_timeout_seconds=120) as client:
            return {
                "search": await client.call_tool("search", {"query": "Falcon budget line reserved", "top_k": 20}),
                "ask": await client.call_tool("ask", {"question": BUDGET_QUESTION}),
                "fetch": await client.call_tool("fetch_document", {"doc_id": BUDGET}),
                "public": await client.call_tool("fetch_document", {"doc_id": PUBLIC_DOC}),
            }

    seen = anyio.run(run)
    assert search_ids(seen["search"]) and BUDGET not in search_ids(seen["search"])
    assert BUDGET not in cited_ids(seen["ask"])
    assert seen["fetch"].is_error and "not found" in seen["fetch"].content[0].text
    assert not seen["public"].is_error and seen["public"].structured_content["text"]


def start_and_fail(params: StdioServerParameters) -> subprocess.CompletedProcess[str]:
    """Run the stdio server command once, expecting it to stop at start."""
    env = {**os.environ, **(params.env or {})}
    done = subprocess.run(
        [params.command, *params.args], env=env, cwd=params.cwd, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    return done


def test_stdio_refuses_to_start_with_a_bad_key(stdio_settings: Settings) -> None:
    done = start_and_fail(stdio_server(stdio_settings, "askd_not-a-key"))
    assert "ASKDOCS_API_KEY" in done.stderr and "unknown or revoked API key" in done.stderr


def test_stdio_says_so_when_another_process_holds_the_index(stdio_settings: Settings) -> None:
    index = Index.open(stdio_settings)
    try:
        assert index.count_chunks() > 0  # this process now holds the embedded index, as `askdocs serve` would
        assert "in use by another askdocs process" in start_and_fail(stdio_server(stdio_settings)).stderr
    finally:
        index.close()


def test_stdio_honours_a_space_grant_of_the_sources_file(tmp_path: Path, make_indexer: Any) -> None:
    """A confluence source's space_access reaches `askdocs mcp` (it used to read only ASKDOCS_SPACE_ACCESS)."""
    workspace = tmp_path / "workspace"
    shutil.copytree(WORKSPACE / "hr", workspace / "hr")
    (workspace / "_acl.toml").write_text('default = ["space:ENG"]\n', encoding="utf-8")
    settings = indexed(tmp_path, make_indexer)
    sources = tmp_path / "askdocs.yaml"
    sources.write_text(
        f"sources:\n  - {{name: files, type: files, path: {workspace}}}\n"
        "  - {name: wiki, type: confluence, enabled: false, options: {space_access: {ENG: ['group:eng']}}}\n",
        encoding="utf-8",
    )
    secret = KeyStore(settings.auth_dir / "keys.sqlite3").create("desktop-eng", ("public", "group:eng"))
    params = stdio_server(settings, secret)
    params.env = {**(params.env or {}), "ASKDOCS_SOURCES_FILE": str(sources)}

    async def run() -> Any:
        async with Client(params, read_timeout_seconds=120) as client:
            return await client.call_tool("search", {"query": "parental leave", "top_k": 5})

    assert PUBLIC_DOC in search_ids(anyio.run(run)), "group:eng holds space:ENG through the source's grant"
