"""AskPipeline: retrieve for the caller, answer from those hits, and every answer checked in one place."""

from __future__ import annotations

import anyio

from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.answer import ExtractiveAnswerer, Final, Token
from askdocs.retrieval.answer.citations import CitationChecker
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.hybrid import HybridRetriever
from askdocs.retrieval.pipeline import AskPipeline


def _pipeline(indexed_workspace, embedders: LanguageEmbedders, analyzer: Analyzer) -> AskPipeline:  # type: ignore[no-untyped-def]
    retriever = HybridRetriever(indexed_workspace.index, embedders, analyzer)
    return AskPipeline(retriever, ExtractiveAnswerer(analyzer), CitationChecker(analyzer), top_k=3)


def test_answers_are_checked_and_drawn_from_visible_hits_only(indexed_workspace, embedders, analyzer) -> None:  # type: ignore[no-untyped-def]
    pipeline = _pipeline(indexed_workspace, embedders, analyzer)
    hits = pipeline.retrieve("How do I connect to the VPN?", ["public"])
    assert 1 <= len(hits) <= 3 and all(h.doc_id.startswith("files:") for h in hits)
    answer = pipeline.ask("How do I connect to the VPN?", ["public"])
    assert answer.found and answer.citations
    assert answer.sentences and answer.groundedness is not None, "the extractive answer was checked"
    assert {c.doc_id for c in answer.citations} <= {h.doc_id for h in hits}
    restricted = pipeline.ask("When does the Project Heron reorganisation take effect?", ["public"])
    assert all(h.doc_id != "files:leadership/reorg-plan-2027.md" for h in restricted.hits)


def test_events_of_an_answerer_without_a_stream(indexed_workspace, embedders, analyzer) -> None:  # type: ignore[no-untyped-def]
    pipeline = _pipeline(indexed_workspace, embedders, analyzer)
    hits = pipeline.retrieve("How do I connect to the VPN?", ["public"])

    async def collect() -> list[object]:
        return [event async for event in pipeline.events("How do I connect to the VPN?", hits)]

    events = anyio.run(collect)
    assert [type(e) for e in events] == [Token, Final]
    final = events[1]
    assert isinstance(final, Final) and final.answer.sentences and events[0].text == final.answer.text  # type: ignore[attr-defined]
