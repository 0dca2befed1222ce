"""Cross-lingual search end to end: real HTTP against a live server over the sample workspace (default settings,
so every chunk carries the multilingual vectors), the language filter, ACLs across languages, LLM answers."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from api_fixtures import LiveServer, live_server  # noqa: F401
from openai_server import FakeOpenAI, Reply, fake_openai, fake_openai_server  # noqa: F401
from pydantic import SecretStr
from typer.testing import CliRunner

from askdocs.api.cli import app
from askdocs.retrieval.answer.llm import LLMAnswerer

OFFICE_GUIDE = "files:tokyo/office-guide.md"
ONCALL = "files:engineering/oncall-handbook.txt"
SALARY_REVISION = "files:tokyo/managers/kyuyo-kaitei-2027.md"  # Japanese, group:tokyo-managers only
REORG = "files:leadership/reorg-plan-2027.md"  # English, group:leadership only


def caller(server: LiveServer, *groups: str) -> dict[str, str]:
    """The identity a request carries (the one place these tests choose one): an API key for ken and ``groups``."""
    return server.key("user:ken@kumo.example", *(f"group:{g}" for g in groups)) if groups else {}


def search(server: LiveServer, query: str, *groups: str, **extra: Any) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{server.url}/v1/search", json={"query": query, **extra}, headers=caller(server, *groups), timeout=60
    )
    assert response.status_code == 200, response.text
    return list(response.json()["hits"])


def doc_ids(hits: list[dict[str, Any]]) -> list[str]:
    return [h["doc_id"] for h in hits]


def test_english_question_finds_the_japanese_page(live_server: LiveServer) -> None:  # noqa: F811
    hits = search(live_server, "How do I reissue my Tokyo office entry card?", top_k=3)
    assert OFFICE_GUIDE in doc_ids(hits)
    guide = next(h for h in hits if h["doc_id"] == OFFICE_GUIDE)
    assert guide["title"] == "東京オフィスガイド" and guide["language"] == "ja"
    assert {h["language"] for h in hits} == {"en", "ja"}, "the English pages still rank with it"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("オンコールの手順", ONCALL),
        ("オンコール当番の交代方法", ONCALL),
        ("デプロイの手順", "files:engineering/deploy-process.md"),
        ("コードレビューのルール", "files:engineering/code-review.md"),
    ],
)
def test_japanese_question_finds_the_english_page(live_server: LiveServer, query: str, expected: str) -> None:  # noqa: F811
    hits = search(live_server, query, top_k=3)
    assert expected in doc_ids(hits), doc_ids(hits)
    assert next(h for h in hits if h["doc_id"] == expected)["language"] == "en"


def test_same_language_best_match_stays_first(live_server: LiveServer) -> None:  # noqa: F811
    assert doc_ids(search(live_server, "How do I connect to the VPN?", top_k=3))[0] == "files:it/vpn-setup.md"
    assert doc_ids(search(live_server, "東京オフィスの入館カードの再発行手数料はいくら？", top_k=3))[0] == OFFICE_GUIDE


def test_restricted_page_in_the_other_language_needs_its_group(live_server: LiveServer) -> None:  # noqa: F811
    query = "How much will Tokyo salaries rise in 2027?"
    assert SALARY_REVISION in doc_ids(search(live_server, query, "tokyo-managers", top_k=3))
    for groups in ((), ("finance",), ("leadership",)):
        hits = search(live_server, query, *groups, top_k=50)
        assert SALARY_REVISION not in doc_ids(hits), groups
        assert all("給与改定" not in h["title"] and "椿プラン" not in h["text"] for h in hits)
    # and the reverse: a Japanese question, an English page restricted to leadership
    reorg = "2027年の組織再編計画"
    assert REORG in doc_ids(search(live_server, reorg, "leadership", top_k=5))
    assert REORG not in doc_ids(search(live_server, reorg, "tokyo-managers", top_k=50))


@pytest.mark.parametrize("language", ["en", "ja"])
def test_language_filter_keeps_one_language(live_server: LiveServer, language: str) -> None:  # noqa: F811
    for query in ("How do I reissue my Tokyo office entry card?", "オンコールの手順"):
        hits = search(live_server, query, top_k=10, filters={"language": language})
        assert hits and {h["language"] for h in hits} == {language}, query
    both = search(live_server, "How do I reissue my Tokyo office entry card?", top_k=10, filters={"language": "both"})
    assert {h["language"] for h in both} == {"en", "ja"}


def test_unknown_language_is_a_clear_422(live_server: LiveServer) -> None:  # noqa: F811
    response = httpx.post(
        f"{live_server.url}/v1/search", json={"query": "VPN", "filters": {"language": "fr"}}, timeout=30
    )
    assert response.status_code == 422
    assert "language" in response.text and "'en', 'ja' or 'both'" in response.text


def test_llm_answers_in_the_question_language_from_an_english_source(
    live_server: LiveServer,  # noqa: F811
    fake_openai: FakeOpenAI,  # noqa: F811
) -> None:
    """A Japanese question, the English handbook among the sources (no shared term, judged by the multilingual
    cosine), the prompt asks for Japanese and the answer quotes the English source verbatim."""
    quoted: list[str] = []

    def diligent(body: dict[str, Any]) -> Reply:
        """A model that answers in Japanese and quotes the handbook's first sentence as it stands."""
        user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        found = re.search(
            r'<source id="(\d+)" lang="en" title="Engineering On-Call Handbook"[^>]*>\n(.*?)\n</source>', user, re.S
        )
        n, text = (found.group(1), found.group(2)) if found else ("9", "nothing.")
        quoted.append(re.split(r"(?<=[.!?])\s", " ".join(text.split()))[0])
        return Reply(
            text=f"オンコールの手順はハンドブックにあります [{n}]。ハンドブックには「{quoted[-1]}」とあります [{n}]。"
        )

    fake_openai.responder = diligent
    services = live_server.services
    settings = services.settings.model_copy(
        update={"llm_base_url": fake_openai.url, "llm_model": "gpt-4o-mini", "llm_api_key": SecretStr("sk-test")}
    )
    extractive = services.answerer
    services.answerer = LLMAnswerer(settings, services.analyzer, multilingual=services.embedders.multilingual)
    try:
        question = {"question": "オンコールの手順を教えてください"}
        response = httpx.post(f"{live_server.url}/v1/ask", json=question, timeout=60)
    finally:
        services.answerer = extractive
    assert response.status_code == 200, response.text
    body = response.json()
    request = fake_openai.requests[-1]
    assert "Answer in Japanese" in request.system and "quote it in the source's own language" in request.system
    assert 'lang="en" title="Engineering On-Call Handbook"' in request.user, "sent despite no shared term"
    assert quoted and quoted[-1] != "nothing."
    assert body["generator"] == "llm" and body["found"] and body["removed_citations"] == []
    assert {c["doc_id"] for c in body["citations"]} == {ONCALL}
    assert "ハンドブック" in body["text"] and quoted[-1] in body["text"]


def test_cli_names_an_unknown_language() -> None:
    result = CliRunner().invoke(app, ["search", "VPN", "--language", "fr"])
    assert result.exit_code == 2
    assert "--language" in result.output and "'fr' is not one of" in result.output
