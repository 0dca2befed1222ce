"""The composition root: build the stages once from ``Settings`` (cheap), load models in ``warm_up``.

The one module in ``askdocs/`` that imports the stages (ingest, retrieval); the API, the CLI and the evaluation
all start from ``Services.build``. Nothing below it imports it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from askdocs import redaction
from askdocs.database import engine_for
from askdocs.identity import IdentityStore
from askdocs.ingest import integrity
from askdocs.ingest.access import AccessKind, AccessReport, access_runner
from askdocs.ingest.access_scheduler import AccessScheduler
from askdocs.ingest.chunker import Chunker
from askdocs.ingest.extract import ExtractionLimits, Extractor
from askdocs.ingest.lease import LeaseStore
from askdocs.ingest.reindex import MODELS, Follower, Models, RebuildJob, Reindexer
from askdocs.ingest.runner import source_runner
from askdocs.ingest.scheduler import SyncScheduler
from askdocs.ingest.sources import SourceConfig, SourcesFile, configured_sources, space_access
from askdocs.ingest.state import CheckpointStore
from askdocs.ingest.sync import Indexer, SyncReport, remote_batch_chunks
from askdocs.models import Answer, Hit, SearchFilters
from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.answer import AnswerGenerator, ExtractiveAnswerer
from askdocs.retrieval.answer.citations import CitationChecker
from askdocs.retrieval.crosslingual import CrossLingualConfig
from askdocs.retrieval.embedders import TITLE_SUFFIX, LanguageEmbedders
from askdocs.retrieval.hybrid import FusionConfig, HybridRetriever
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.locations import ServerLocations
from askdocs.retrieval.pipeline import AskPipeline
from askdocs.retrieval.remote_embedder import RemoteEmbedder
from askdocs.retrieval.remote_spec import RemoteOptions
from askdocs.settings import Settings

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
    access: AccessScheduler | None = None  # identity syncs and permission refreshes
    extractor: Extractor = field(repr=False, default_factory=Extractor)
    problems: list[integrity.Problem] | None = None  # found by ``check_index``; None: not checked yet
    checked_at: float = 0.0  # monotonic time of the last ``check_index``
    rebuild: Reindexer | None = None  # a model switch under way in this process
    rebuild_job: RebuildJob | None = None  # ... started through the admin API
    follower: Follower | None = None  # server mode: rebuilds and switches made by other processes
    _following: threading.Thread | None = field(default=None, repr=False)
    _stop_following: threading.Event = field(default_factory=threading.Event, repr=False)
    sync_lock: threading.Lock = field(default_factory=threading.Lock)
    space_access: dict[str, list[str]] = field(default_factory=dict)  # space key -> principals allowed

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
            models = _serving_models(index, settings)
            remote = RemoteOptions.from_settings(settings)
            multilingual = _serving_multilingual(index, settings)
            embedders = LanguageEmbedders.from_names(models.en, models.ja, remote, multilingual=multilingual)
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
            from askdocs.retrieval.answer.llm import LLMAnswerer

            answerer = LLMAnswerer(settings, analyzer, multilingual=embedders.multilingual)
        else:
            answerer = ExtractiveAnswerer(analyzer, settings.answer_max_sentences, settings.answer_min_support)
        ocr = settings.extract_ocr_languages if settings.extract_ocr else None
        extractor = Extractor(ExtractionLimits.from_settings(settings), ocr_languages=ocr)
        spaces = space_access(configured_sources(settings))
        services = cls(
            settings, index, embedders, analyzer, retriever, answerer, checker, extractor=extractor, space_access=spaces
        )
        if isinstance(index.locations, ServerLocations):
            services.follower = Follower(index, embedders, services._build_embedders, services._indexer_for)
        return services

    def indexer(self) -> Indexer:
        """A sync runner writing into this index with these models (and into a rebuild's collection meanwhile)."""
        return self._indexer_for(self.index, self.embedders, mirrored=True)

    def _indexer_for(self, index: Index, embedders: LanguageEmbedders, mirrored: bool = False) -> Indexer:
        chunker = Chunker(embedders.for_language, self.settings.chunk_tokens, self.settings.chunk_overlap_tokens)
        remote = any(isinstance(e, RemoteEmbedder) for e in embedders.by_language.values())
        return Indexer(
            index, embedders, chunker, self.analyzer, self.settings.bm25_k1, self.settings.bm25_b,
            lookahead=self.settings.embedder_lookahead_batches if remote else 0,
            batch_chunks=remote_batch_chunks(self.settings.embedder_concurrency, self.settings.embedder_batch_size)
            if remote
            else 0,
            mirror=self._mirror if mirrored else None,
            sync_lock=self.sync_lock,
            extractor=self.extractor,
        )  # fmt: skip

    def _mirror(self) -> Indexer | None:
        if self.rebuild is not None:
            return self.rebuild.mirror()
        return self.follower.mirror() if self.follower is not None else None

    def follow(self) -> None:
        """Server mode: move to the collection and models a switch by another process made current."""
        if self.follower is not None and self.rebuild is None:
            self.follower.follow()

    def start_following(self, interval_s: float = 2.0) -> None:
        """Server mode: check every ``interval_s`` whether another process switched the collection, and follow."""
        if self.follower is None or self._following is not None:
            return

        def loop() -> None:
            while not self._stop_following.wait(interval_s):
                try:
                    self.follow()
                except Exception:  # a store that is briefly unreachable: try again next round
                    log.exception("following a model switch failed")

        self._following = threading.Thread(target=loop, name="askdocs-follow", daemon=True)
        self._following.start()

    def _build_embedders(self, models: Models) -> LanguageEmbedders:
        # The new collection gets the configured multilingual model's vectors (ASKDOCS_EMBEDDER_XLING): stored ones
        # are carried over (``Reindexer._copy``), so a rebuild also adds them to an index built without them.
        wanted, loaded = self.settings.embedder_xling, self.embedders.multilingual
        reuse = loaded is not None and loaded.name == wanted
        remote = RemoteOptions.from_settings(self.settings)
        built = LanguageEmbedders.from_names(models.en, models.ja, remote, multilingual=None if reuse else wanted)
        built.warm_up()
        return LanguageEmbedders(built.by_language, loaded if reuse else built.multilingual)

    def serving_models(self) -> Models:
        """The dense models serving now."""
        return _serving_models(self.index, self.settings)

    def cancel_rebuild(self) -> bool:
        """Discard a rebuild under way (its collection and its mark); False when there is none."""
        models = self.serving_models()
        rebuild = self.rebuild or Reindexer(
            self.index, self.embedders, self.embedders, models, self._indexer_for, self.sync_lock
        )
        self.rebuild = None
        return rebuild.cancel()

    def reindexer(self, embedder_en: str, embedder_ja: str) -> Reindexer:
        """A model switch of this index to ``embedder_en`` / ``embedder_ja`` (start it, copy, switch)."""
        models = Models(embedder_en, embedder_ja)
        new = self._build_embedders(models)
        self.rebuild = Reindexer(self.index, self.embedders, new, models, self._indexer_for, self.sync_lock)
        return self.rebuild

    def warm_up(self) -> None:
        """Load the models so the first request is not slow."""
        self.embedders.warm_up()
        self.analyzer.terms("warm up", "en")
        self.analyzer.terms("ウォームアップ", "ja")

    @property
    def pipeline(self) -> AskPipeline:
        """Retrieve, answer, check: with the answerer set now (the evaluation swaps it)."""
        return AskPipeline(self.retriever, self.answerer, self.checker, self.settings.answer_top_k)

    def retrieve(self, question: str, principals: list[str], filters: SearchFilters | None = None) -> list[Hit]:
        """The hits an answer is drawn from (the search part of an answer)."""
        return self.pipeline.retrieve(question, principals, filters)

    def answer(self, question: str, hits: list[Hit]) -> Answer:
        """Answer from ``hits`` only, checked."""
        return self.pipeline.answer(question, hits)

    def checked(self, answer: Answer) -> Answer:
        """Fill ``sentences`` and ``groundedness`` for a found answer that lacks them, text unchanged."""
        return self.pipeline.checked(answer)

    def ask(self, question: str, principals: list[str], filters: SearchFilters | None = None) -> Answer:
        """Retrieve for ``principals`` and answer from those hits only (raises ``LLMError`` if the LLM fails)."""
        return self.pipeline.ask(question, principals, filters)

    def sources(self) -> SourcesFile:
        """The configured sources (``sources_file``), or the files source over ``workspace_dir`` without one."""
        return configured_sources(self.settings)

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
            run_source = source_runner(self.indexer(), store, self.settings)

            def run(source: SourceConfig, full: bool) -> SyncReport:
                self.follow()  # server mode: sync into the collection a switch elsewhere made current
                return run_source(source, full)

            leases = LeaseStore(engine_for(self.settings), ttl=self.settings.scheduler_lease_seconds)
            self.scheduler = SyncScheduler(sources, run, status_path=store.folder / "status.json", leases=leases)
            for name in repairs:
                self.scheduler.trigger(name, full=True)
            self.scheduler.start(tick_seconds)
            self.access = self.access_scheduler(sources)
            self.access.start(tick_seconds)
            log.info("scheduler started for %d sources", len(self.scheduler.sources.sources))
        return self.scheduler

    def access_scheduler(self, sources: SourcesFile) -> AccessScheduler:
        """Identity syncs and permission refreshes of ``sources`` (a refresh waits for a content sync to end)."""
        run_access = access_runner(self.indexer(), IdentityStore(engine_for(self.settings)), self.settings)

        def run(source: SourceConfig, kind: AccessKind) -> AccessReport | None:
            if kind == "identity":
                return run_access(source, kind)
            self.follow()
            with self.sync_lock:
                return run_access(source, kind)

        return AccessScheduler(sources, run)

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
        if self.access is not None:
            self.access.stop()
            self.access = None
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        self.extractor.close()
        self._stop_following.set()
        if self._following is not None:
            self._following.join(10)
        if self.rebuild_job is not None and self.rebuild_job.thread.is_alive():
            self.rebuild_job.rebuild.stop.set()  # stops between batches; what was copied stays for a resume
            self.rebuild_job.thread.join(60)
        target = self.rebuild.mirror() if self.rebuild else None
        if target is not None:
            target.index.close()  # a rebuild left unfinished resumes from what it wrote
        self.index.close()


def _serving_models(index: Index, settings: Settings) -> Models:
    """The models the serving collection was built with (a switch records them), else the configured ones."""
    configured = Models(settings.embedder_en, settings.embedder_ja)
    recorded = Models.from_record(index.record(MODELS)) if index.exists() else None
    if recorded is not None and recorded != configured:
        log.warning(
            "the index was switched to the models %s / %s; serving with them (ASKDOCS_EMBEDDER_EN/_JA say %s / %s)",
            recorded.en, recorded.ja, configured.en, configured.ja,
        )  # fmt: skip
    return recorded or configured


def _serving_multilingual(index: Index, settings: Settings) -> str | None:
    """The configured multilingual model, unless the index was built without its vectors (before cross-lingual
    search, or with ASKDOCS_EMBEDDER_XLING empty): then searches go on without the other-language block."""
    name = settings.embedder_xling
    if name and index.exists() and f"{name}{TITLE_SUFFIX}" not in index.backend.dense_names():
        log.warning(
            "the index holds no cross-lingual vectors of %s: searching each language on its own; "
            "`askdocs reindex` adds them, or set ASKDOCS_EMBEDDER_XLING= (empty) to silence this",
            name,
        )
        return None
    return name


def xling_config(settings: Settings) -> CrossLingualConfig | None:
    """The cross-lingual block's configuration; None when no multilingual model is configured."""
    if not settings.embedder_xling:
        return None
    return CrossLingualConfig(
        fusion=settings.fusion_xling,
        rrf_k=settings.rrf_k_xling,
        dense_weight=settings.dense_weight_xling,
        dense_merge=settings.xling_dense_merge,
        trail_weight=settings.xling_trail_weight,
        bm25_languages=tuple(settings.bm25_xling),
        weight=settings.xling_weight,
        merge=settings.xling_merge,
        min_cosine=settings.xling_min_cosine,
    )
