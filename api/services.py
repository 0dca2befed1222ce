"""Wiring: build the stages once from ``Settings`` (cheap), load models in ``warm_up``."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from askdocs import redaction
from askdocs.models import Answer, Hit, SearchFilters
from askdocs.settings import Settings
from ingest import integrity
from ingest.chunker import Chunker
from ingest.extract import ExtractionLimits, Extractor
from ingest.runner import source_runner
from ingest.scheduler import SyncScheduler
from ingest.sources import SourcesFile, default_sources, load_sources
from ingest.state import CheckpointStore
from ingest.sync import Indexer
from retrieval.analyzer import Analyzer
from retrieval.answer import AnswerGenerator, ExtractiveAnswerer
from retrieval.answer.citations import CitationChecker
from retrieval.embedders import LanguageEmbedders
from retrieval.hybrid import FusionConfig, HybridRetriever
from retrieval.index import Index

log = logging.getLogger(__name__)
RECHECK_S = 60.0  # how often a problem found on open is checked again when this process cannot repair it


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
    extractor: Extractor = field(repr=False, default_factory=Extractor)
    problems: list[integrity.Problem] | None = None  # found by ``check_index``; None: not checked yet
    checked_at: float = 0.0  # monotonic time of the last ``check_index``

    @classmethod
    def build(
        cls, settings: Settings, index: Index | None = None, embedders: LanguageEmbedders | None = None
    ) -> Services:
        """Construct every stage; nothing heavy happens here.

        ``index`` and ``embedders`` replace the ones the settings name (the eval harness serves its own index).
        """
        redaction.register_settings(settings)
        redaction.install_log_redaction()
        index = index if index is not None else Index.open(settings)
        if embedders is None:
            embedders = LanguageEmbedders.from_names(settings.embedder_en, settings.embedder_ja)
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
        retriever = HybridRetriever(index, embedders, analyzer, fusion, {"ja": japanese})
        checker = CitationChecker(analyzer, settings.llm_support_min, embedders, settings.llm_support_min_cosine)
        answerer: AnswerGenerator
        if settings.llm_enabled:
            from retrieval.answer.llm import LLMAnswerer

            answerer = LLMAnswerer(settings, analyzer, checker)
        else:
            answerer = ExtractiveAnswerer(analyzer, settings.answer_max_sentences, settings.answer_min_support)
        ocr = settings.extract_ocr_languages if settings.extract_ocr else None
        extractor = Extractor(ExtractionLimits.from_settings(settings), ocr_languages=ocr)
        return cls(settings, index, embedders, analyzer, retriever, answerer, checker, extractor=extractor)

    def indexer(self) -> Indexer:
        """A sync runner writing into this index with these models."""
        chunker = Chunker(self.embedders.for_language, self.settings.chunk_tokens, self.settings.chunk_overlap_tokens)
        settings = self.settings
        return Indexer(
            self.index,
            self.embedders,
            chunker,
            self.analyzer,
            settings.bm25_k1,
            settings.bm25_b,
            extractor=self.extractor,
        )

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
        """Keep every source fresh from this process (raises ``SourcesConfigError`` on a bad sources file).

        First the index is checked against the record of the last syncs; what is damaged or lost is rebuilt
        by full syncs of the affected sources, started before the schedules' own runs."""
        if self.scheduler is None:
            store = CheckpointStore(self.state_dir)
            sources = self.sources()
            configured = [s.name for s in sources.sources if s.enabled]
            problems = self.check_index() if self.problems is None else self.problems
            repairs = integrity.repair(self.index, store.folder, store, problems, configured) if problems else []
            self.problems = []  # from here the integrity record tracks the repair
            run = source_runner(self.indexer(), store, self.settings)
            self.scheduler = SyncScheduler(sources, run, status_path=store.folder / "status.json")
            for name in repairs:
                self.scheduler.trigger(name, full=True)
            self.scheduler.start(tick_seconds)
            log.info("scheduler started for %d sources", len(self.scheduler.sources.sources))
        return self.scheduler

    @property
    def state_dir(self) -> Path:
        """Where checkpoints, sync statuses and the integrity record live."""
        return self.settings.data_dir / "state"

    def check_index(self) -> list[integrity.Problem]:
        """Check the index against the record of the last syncs (on open); remembered for ``index_problem``."""
        try:
            configured = [s.name for s in self.sources().sources if s.enabled]
        except ValueError as exc:  # a broken sources file: the whole-index checks still run
            log.error("%s", exc)
            configured = []
        # Only the process that writes the index may fix its statistics: embedded mode, or the scheduler's host.
        writer = self.settings.qdrant_url is None or self.settings.scheduler
        self.problems = integrity.check(self.index, self.state_dir, configured, writer=writer)
        self.checked_at = time.monotonic()
        for problem in self.problems:
            log.error("integrity: %s", problem.detail)
        return self.problems

    def index_problem(self) -> integrity.Problem | None:
        """Why the index cannot be trusted now: found on open and not yet repaired, or seen now, or None."""
        if self.problems and self.scheduler is None and time.monotonic() - self.checked_at > RECHECK_S:
            self.check_index()  # no repair runs here: see whether someone else (askdocs sync --full) repaired it
        if self.problems:
            return self.problems[0]
        return integrity.health(self.index, self.state_dir)

    def close(self) -> None:
        """Stop the scheduler (letting a running sync finish), the extraction worker, and release the index."""
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        self.extractor.close()
        self.index.close()
