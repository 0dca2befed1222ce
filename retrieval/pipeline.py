"""Asking: retrieve for the caller, answer from those hits only, and check every answer in one place."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

import anyio

from askdocs.models import Answer, Hit, SearchFilters
from askdocs.retrieval.answer import AnswerGenerator, Draft, Final, StreamEvent, Token
from askdocs.retrieval.answer.base import refusal
from askdocs.retrieval.answer.citations import CitationChecker, build_citations, is_refusal
from askdocs.retrieval.hybrid import HybridRetriever


@dataclass
class AskPipeline:
    """``retriever`` -> ``answerer`` -> ``checker``; the API, the CLI and the evaluation ask through it."""

    retriever: HybridRetriever
    answerer: AnswerGenerator
    checker: CitationChecker
    top_k: int = 5

    def retrieve(self, question: str, principals: list[str], filters: SearchFilters | None = None) -> list[Hit]:
        """The ``top_k`` documents an answer is drawn from, visible to ``principals``."""
        return self.retriever.search(question, principals, filters, top_k=self.top_k)

    def answer(self, question: str, hits: list[Hit]) -> Answer:
        """Answer from ``hits`` only, checked (raises ``LLMError`` when the LLM fails)."""
        return self.checked(self.answerer.answer(question, hits))

    def ask(self, question: str, principals: list[str], filters: SearchFilters | None = None) -> Answer:
        """Retrieve for ``principals`` and answer from those hits only."""
        return self.answer(question, self.retrieve(question, principals, filters))

    async def events(self, question: str, hits: list[Hit]) -> AsyncGenerator[StreamEvent, None]:
        """The answerer's own token stream when it has one, else its whole answer as one token; the final answer
        is checked like any other."""
        stream = getattr(self.answerer, "stream", None)
        if stream is None:
            answer = await anyio.to_thread.run_sync(self.answer, question, hits)
            yield Token(answer.text)
            yield Final(answer)
            return
        async for event in stream(question, hits):
            if isinstance(event, Token):
                yield event
            else:
                yield Final(self.checked(event.answer if isinstance(event, Final) else event))

    def checked(self, answer: Answer | Draft) -> Answer:
        """Every answer checked, here only. A draft (an LLM's text) against the exact sources it was given: unknown
        markers dropped, each sentence checked, citations built, or a refusal when nothing is left or the model
        declined. A finished answer (extractive) against the hits it cites: ``sentences`` and ``groundedness``
        filled, text unchanged."""
        if isinstance(answer, Draft):
            return self._checked_draft(answer)
        if not answer.found or answer.sentences or not answer.citations:
            return answer
        by_doc = {hit.doc_id: hit for hit in answer.hits}
        sources = {c.n: by_doc[c.doc_id].text for c in answer.citations if c.doc_id in by_doc}
        result = self.checker.check(answer.text, sources)
        return answer.model_copy(update={"sentences": result.sentences, "groundedness": result.groundedness})

    def _checked_draft(self, draft: Draft) -> Answer:
        result = self.checker.check(draft.text, draft.sources)
        cited = any(c.cites for c in result.sentences)
        if not result.sentences or (is_refusal(draft.text) and not cited):
            return refusal(draft.question, draft.hits, draft.generator, model=draft.model, usage=draft.usage)
        citations = build_citations(result, draft.source_hits, self.checker.analyzer)
        return Answer(
            question=draft.question, text=result.text, citations=citations, found=True, generator=draft.generator,
            hits=draft.hits, model=draft.model, groundedness=result.groundedness, sentences=result.sentences,
            removed_citations=result.removed, usage=draft.usage,
        )  # fmt: skip


__all__ = ["AskPipeline"]
