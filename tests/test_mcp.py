"""The MCP server, driven by the `mcp` SDK's own client: over streamable HTTP (live uvicorn on 127.0.0.1, the
API's own sign-in) and over stdio (`askdocs mcp` as a subprocess on an indexed copy of the sample workspace)."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import httpx2
import pytest
from api_fixtures import LiveServer, demo_server, live_server  # noqa: F401
from mcp import Client
from mcp.shared.exceptions import MCPError

BUDGET = "files:finance/q3-2026-budget.md"
BUDGET_QUESTION = "How much is reserved in the Falcon budget line?"
PUBLIC_DOC = "files:hr/parental-leave.md"
TOOLS = {"search", "ask", "fetch_document"}


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
    assert hidden.content[0].text.replace(BUDGET, "ID") == absent.content[0].text.replace("files:no/such.md", "ID")
    assert "Falcon" not in hidden.content[0].text


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


def test_demo_mode_lets_anonymous_callers_search_public_documents_only(
    live_server: LiveServer,  # noqa: F811
    demo_server: str,  # noqa: F811
) -> None:
    ids = search_ids(call(demo_server, "search", {"query": "Falcon budget line reserved parental leave", "top_k": 20}))
    assert ids and BUDGET not in ids
    assert BUDGET in search_ids(call(demo_server, "search", {"query": "Falcon budget"}, live_server.key("group:finance")))
