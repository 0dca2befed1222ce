"""Wiring: build the stages once from ``Settings`` (cheap), load models in ``warm_up``."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from askdocs.models import Answer, Hit, SearchFilters
from askdocs.settings import Settings
from ingest.chunker import Chunker
from ingest.runner import source_runner
from ingest.scheduler import SyncScheduler
from ingest.sources import SourcesFile, default_sources, load_sources
from ingest.state import CheckpointStore
from ingest.sync import Indexer
from retrieval.analyzer import Analyzer
from retrieval.answer import AnswerGenerator, ExtractiveAnswerer
from retrieval.answer.citations import CitationChecker
from retrieval.crosslingual import CrossLingualConfig
from retrieval.embedders import LanguageEmbedders
from retrieval.hybrid import FusionConfig, HybridRetriever
from retrieval.index import Index

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything the API and CLI use, sharing one index handle and one set of models."""

    settings: Settings
    index: Index
    embedders: LanguageEmbedders
    analyzer: Analyzer
    retriever: HybridRetriever
    answerer: AnswerGenerator
    checker: CitationChecker = field(repr=False, default_factory=lambda: CitationChecker(Analyzer()))
    scheduler: SyncScheduler | None = None

    @classmethod
    def build(
        cls, settings: Settings, index: Index | None = None, embedders: LanguageEmbedders | None = None
    ) -> Services:
        """Construct every stage; nothing heavy happens here.

        ``index`` and ``embedders`` replace the ones the settings name (the eval harness serves its own index).
        """
        index = index if index is not None else Index.open(settings)
        if embedders is None:
            names = (settings.embedder_en, settings.embedder_ja, settings.embedder_xling)
            embedders = LanguageEmbedders.from_names(*names)
        analyzer = Analyzer()
        fusion = FusionConfig(
            method=settings.fusion,
            rrf_k=settings.rrf_k,
            dense_weight=settings.dense_weight,
            sparse_weight=settings.sparse_weight,
            prefetch_limit=settings.prefetch_limit,
        )
        japanese = replace(
            fusion, method=settings.fusion_ja, rrf_k=settings.rrf_k_ja, dense_weight=settings.dense_weight_ja
        )
        retriever = HybridRetriever(index, embedders, analyzer, fusion, {"ja": japanese}, xling_config(settings))
        checker = CitationChecker(analyzer, settings.llm_support_min, embedders, settings.llm_support_min_cosine)
        answerer: AnswerGenerator
        if settings.llm_enabled:
            from retrieval.answer.llm import LLMAnswerer

            answerer = LLMAnswerer(settings, analyzer, checker, multilingual=embedders.multilingual)
        else:
            answerer = ExtractiveAnswerer(analyzer, settings.answer_max_sentences, settings.answer_min_support)
        return cls(settings, index, embedders, analyzer, retriever, answerer, checker)

    def indexer(self) -> Indexer:
        """A sync runner writing into this index with these models."""
        chunker = Chunker(self.embedders.for_language, self.settings.chunk_tokens, self.settings.chunk_overlap_tokens)
        return Indexer(self.index, self.embedders, chunker, self.analyzer, self.settings.bm25_k1, self.settings.bm25_b)

    def warm_up(self) -> None:
        """Load the models so the first request is not slow."""
        self.embedders.warm_up()
        self.analyzer.terms("warm up", "en")
        self.analyzer.terms("ウォームアップ", "ja")

    def retrieve(self, question: str, principals: list[str], filters: SearchFilters | None = None) -> list[Hit]:
        """The hits an answer is drawn from (the search part of an answer)."""
        return self.retriever.search(question, principals, filters, top_k=self.settings.answer_top_k)

    def answer(self, question: str, hits: list[Hit]) -> Answer:
        """Answer from ``hits`` only; answers without a citation check (extractive) get one here."""
        return self.checked(self.answerer.answer(question, hits))

    def checked(self, answer: Answer) -> Answer:
        """Fill ``sentences`` and ``groundedness`` for a found answer that lacks them, text unchanged."""
        if not answer.found or answer.sentences or not answer.citations:
            return answer
        by_doc = {hit.doc_id: hit for hit in answer.hits}
        sources = {c.n: by_doc[c.doc_id].text for c in answer.citations if c.doc_id in by_doc}
        result = self.checker.check(answer.text, sources)
        return answer.model_copy(update={"sentences": result.sentences, "groundedness": result.groundedness})

    def ask(self, question: str, principals: list[str], filters: SearchFilters | None = None) -> Answer:
        """Retrieve for ``principals`` and answer from those hits only (raises ``LLMError`` if the LLM fails)."""
        return self.answer(question, self.retrieve(question, principals, filters))

    def sources(self) -> SourcesFile:
        """The configured sources (``sources_file``), or the files source over ``workspace_dir`` without one."""
        path = self.settings.sources_file
        return load_sources(path) if path.exists() else default_sources(self.settings)

    def start_scheduler(self, tick_seconds: float = 1.0) -> SyncScheduler:
        """Keep every source fresh from this process (raises ``SourcesConfigError`` on a bad sources file)."""
        if self.scheduler is None:
            store = CheckpointStore(self.settings.data_dir / "state")
            run = source_runner(self.indexer(), store, self.settings)
            self.scheduler = SyncScheduler(self.sources(), run, status_path=store.folder / "status.json")
            self.scheduler.start(tick_seconds)
            log.info("scheduler started for %d sources", len(self.scheduler.sources.sources))
        return self.scheduler

    def close(self) -> None:
        """Stop the scheduler (letting a running sync finish) and release the index."""
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        self.index.close()


def xling_config(settings: Settings) -> CrossLingualConfig | None:
    """The cross-lingual block's configuration; None when no multilingual model is configured."""
    if not settings.embedder_xling:
        return None
    return CrossLingualConfig(
        fusion=settings.fusion_xling,
        rrf_k=settings.rrf_k_xling,
        dense_weight=settings.dense_weight_xling,
        bm25_languages=tuple(settings.bm25_xling),
        weight=settings.xling_weight,
        merge=settings.xling_merge,
        min_cosine=settings.xling_min_cosine,
    )
