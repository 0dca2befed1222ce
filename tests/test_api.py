"""The REST API end to end, through real HTTP against a live server over the sample workspace."""

from __future__ import annotations

import httpx
import pytest
from api_fixtures import LiveServer, live_server  # noqa: F401

from askdocs.api.app import create_app
from askdocs.app import Services
from askdocs.retrieval.answer.extractive import split_sentences
from askdocs.settings import Settings

FINANCE = ("user:ana@kumo.example", "group:finance")
LEADERSHIP = ("user:laura@kumo.example", "group:leadership")


def plain(snippet: str) -> str:
    """The snippet as the answer quotes it (markup dropped, whitespace collapsed)."""
    return " ".join(clean for clean, _ in split_sentences(snippet))


def _search(server: LiveServer, query: str, headers: dict[str, str] | None = None, **extra: object) -> dict:
    response = httpx.post(f"{server.url}/v1/search", json={"query": query, **extra}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _ask(server: LiveServer, question: str, headers: dict[str, str] | None = None) -> dict:
    response = httpx.post(f"{server.url}/v1/ask", json={"question": question}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_healthz_reports_index(live_server: LiveServer) -> None:  # noqa: F811
    body = httpx.get(f"{live_server.url}/healthz").json()
    assert body["status"] == "ok"
    assert body["backend"] == "qdrant-edge"
    assert "chunks" not in body, "index size (restricted chunks included) is for the admin principal only"
    assert body["embedders"] == {"en": "minilm-l6-int8", "ja": "use-multilingual"}


def test_japanese_query_returns_japanese_document_first(live_server: LiveServer) -> None:  # noqa: F811
    hits = _search(live_server, "東京オフィスの入館カードを紛失したら再発行の手数料はいくら？")["hits"]
    assert hits[0]["doc_id"] == "files:tokyo/office-guide.md"
    assert hits[0]["language"] == "ja"


def test_english_query_finds_its_document(live_server: LiveServer) -> None:  # noqa: F811
    hits = _search(live_server, "How do I connect to the VPN?", top_k=3)["hits"]
    assert hits[0]["doc_id"] == "files:it/vpn-setup.md"
    assert len(hits) <= 3
    assert len({h["doc_id"] for h in hits}) == len(hits), "one hit per document"


@pytest.mark.parametrize(
    ("question", "doc_id", "fact"),
    [
        ("What command do I run to connect to the VPN?", "files:it/vpn-setup.md", "kumolink connect"),
        ("東京オフィスの入館カードの再発行手数料はいくらですか？", "files:tokyo/office-guide.md", "2,000円"),
        (
            "What is the daily meal limit when traveling in the United States?",
            "files:hr/travel-expense-policy.md",
            "75 USD",
        ),
    ],
)
def test_ask_returns_cited_answer(live_server: LiveServer, question: str, doc_id: str, fact: str) -> None:  # noqa: F811
    answer = _ask(live_server, question)
    assert answer["found"] is True
    assert answer["generator"] == "extractive"
    assert answer["model"] is None and answer["usage"] is None
    assert fact in answer["text"]
    assert answer["groundedness"] == 1.0, answer["sentences"]
    assert answer["sentences"] and all(s["status"] == "supported" for s in answer["sentences"])
    assert answer["citations"], "an answer must cite its sources"
    assert any(c["doc_id"] == doc_id for c in answer["citations"])
    chunk_text = {p["chunk_id"]: p["text"] for h in answer["hits"] for p in h["passages"]}
    for citation in answer["citations"]:
        assert citation["snippet"] in chunk_text[citation["chunk_id"]], "snippet must quote the cited chunk verbatim"
        assert f"{plain(citation['snippet'])} [{citation['n']}]" in answer["text"], "the answer quotes the snippet"
        assert citation["url"] == citation["doc_id"].removeprefix("files:"), "a workspace path, not a server path"


def test_ask_refuses_when_evidence_is_missing(live_server: LiveServer) -> None:  # noqa: F811
    answer = _ask(live_server, "What is the airspeed velocity of an unladen swallow on Mars?")
    assert answer["found"] is False
    assert answer["citations"] == []
    assert "could not find" in answer["text"]
    assert answer["groundedness"] is None and answer["sentences"] == []


@pytest.mark.parametrize("keyword", ["Project Heron", "Falcon budget line", "Cedar relocation grant", "椿プラン"])
def test_restricted_documents_stay_hidden_from_outsiders(live_server: LiveServer, keyword: str) -> None:  # noqa: F811
    hits = _search(live_server, keyword, top_k=50)["hits"]
    restricted = ("files:finance/", "files:leadership/", "files:hr/private/", "files:tokyo/managers/")
    assert not [h["doc_id"] for h in hits if h["doc_id"].startswith(restricted)]
    assert all(keyword not in h["text"] for h in hits)
    answer = _ask(live_server, f"What is {keyword}?")
    assert all(keyword not in c["snippet"] for c in answer["citations"])


def test_group_members_see_their_documents(live_server: LiveServer) -> None:  # noqa: F811
    finance_key, leadership_key = live_server.key(*FINANCE), live_server.key(*LEADERSHIP)
    finance = _search(live_server, "Falcon budget line reserve", finance_key)["hits"]
    assert finance[0]["doc_id"].startswith("files:finance/")
    heron_for_finance = _search(live_server, "Project Heron reorganisation", finance_key, top_k=50)["hits"]
    assert not [h for h in heron_for_finance if h["doc_id"].startswith("files:leadership/")]
    heron = _search(live_server, "Project Heron reorganisation", leadership_key)["hits"]
    assert heron[0]["doc_id"].startswith("files:leadership/")
    mine = _search(live_server, "Cedar relocation grant", live_server.key("user:mei.tanaka@kumo.example"))["hits"]
    assert mine[0]["doc_id"] == "files:hr/private/mei-tanaka-relocation.md"
    answer = _ask(live_server, "How much is reserved in the Falcon budget line?", finance_key)
    assert answer["found"] and "850,000" in answer["text"]


def test_filters_apply(live_server: LiveServer) -> None:  # noqa: F811
    assert _search(live_server, "VPN", filters={"sources": ["slack"]})["hits"] == []
    assert _search(live_server, "VPN", filters={"updated_before": "2000-01-01T00:00:00Z"})["hits"] == []
    assert _search(live_server, "VPN", filters={"updated_after": "2000-01-01T00:00:00Z"})["hits"]
    only = _search(live_server, "leave", filters={"doc_ids": ["files:hr/parental-leave.md"]})["hits"]
    assert [h["doc_id"] for h in only] == ["files:hr/parental-leave.md"]


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/v1/search", {}, "query: Field required"),
        ("/v1/search", {"query": ""}, "query"),
        ("/v1/search", {"query": "   "}, "blank"),
        ("/v1/search", {"query": "x", "top_k": 0}, "top_k"),
        ("/v1/search", {"query": "x", "top_k": 500}, "top_k"),
        ("/v1/search", {"query": "x", "mode": "magic"}, "mode"),
        ("/v1/search", {"query": "x", "filters": {"colour": "red"}}, "colour"),
        ("/v1/search", {"query": "x", "filters": {"updated_after": "yesterday"}}, "updated_after"),
        ("/v1/ask", {"question": 42}, "question"),
        ("/v1/ask", {"question": "x" * 2001}, "question"),
    ],
)
def test_invalid_input_gets_readable_422(live_server: LiveServer, path: str, body: dict, needle: str) -> None:  # noqa: F811
    response = httpx.post(f"{live_server.url}{path}", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and needle in detail


def test_malformed_json_and_bad_identity_are_client_errors(live_server: LiveServer) -> None:  # noqa: F811
    response = httpx.post(
        f"{live_server.url}/v1/search", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["detail"]
    for authorization, needle in (("Basic dXNlcjpwdw==", "Bearer"), ("Bearer askd_nope", "API key")):
        refused = httpx.post(
            f"{live_server.url}/v1/search", json={"query": "x"}, headers={"Authorization": authorization}
        )
        assert refused.status_code == 401 and needle in refused.json()["detail"]
    no_oidc = _post(live_server, "Bearer a.b.c")
    assert no_oidc.status_code == 401 and "no OpenID provider" in no_oidc.json()["detail"]


def _post(server: LiveServer, authorization: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/search", json={"query": "x"}, headers={"Authorization": authorization})


def test_identity_headers_without_a_trusted_proxy_open_nothing(live_server: LiveServer) -> None:  # noqa: F811
    """The issue's request: anyone claiming leadership by header gets public documents only (default config)."""
    spoofed = {"X-Askdocs-Groups": "leadership", "X-Askdocs-User": "laura@kumo.example"}
    hits = _search(live_server, "board meeting acquisition", spoofed, top_k=10)["hits"]
    assert hits and not [h for h in hits if h["doc_id"].startswith(("files:leadership/", "files:finance/"))]


def test_search_page_and_openapi_are_served(live_server: LiveServer) -> None:  # noqa: F811
    page = httpx.get(f"{live_server.url}/")
    assert page.status_code == 200 and 'id="q"' in page.text
    spec = httpx.get(f"{live_server.url}/openapi.json").json()
    assert {"/v1/search", "/v1/ask", "/healthz"} <= set(spec["paths"])
    assert httpx.get(f"{live_server.url}/docs").status_code == 200


def test_empty_index_answers_empty_results(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    settings = Settings(data_dir=tmp_path / "data", workspace_dir=tmp_path)
    with TestClient(create_app(settings, Services.build(settings)), base_url="http://localhost") as client:
        assert client.post("/v1/search", json={"query": "anything"}).json()["hits"] == []
        answer = client.post("/v1/ask", json={"question": "anything at all?"}).json()
        assert answer["found"] is False and answer["citations"] == []
        assert client.get("/healthz").json()["status"] == "ok"
