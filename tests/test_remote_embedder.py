"""Remote embedders against the project's fake OpenAI server on 127.0.0.1 (tests/openai_server.py): the contract."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from openai_server import FakeOpenAI, Reply, fake_embedding, fake_openai, fake_openai_server  # noqa: F401

from askdocs.connectors.files.connector import FilesConnector
from askdocs.eval.bench.corpus import ListedDocuments
from askdocs.ingest.chunker import Chunker
from askdocs.ingest.runner import run_source
from askdocs.ingest.state import CheckpointStore
from askdocs.ingest.sync import Indexer
from askdocs.models import Document, Section
from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.embedders import LanguageEmbedders, make_embedder
from askdocs.retrieval.index import Index, IndexFilter
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.retrieval.remote_embedder import EmbeddingError, RemoteEmbedder
from askdocs.retrieval.remote_spec import RemoteOptions, RemoteSpec
from askdocs.settings import Settings

KEY = "sk-test-secret-0123456789"


@pytest.fixture(scope="module")
def tiktoken_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("tiktoken"))


def _options(tiktoken_dir: str, **overrides: object) -> RemoteOptions:
    values: dict[str, object] = {
        "api_key": KEY,
        "batch_size": 4,
        "concurrency": 2,
        "timeout_s": 5.0,
        "retries": 3,
        "retry_max_wait_s": 5.0,
        "backoff_base_s": 0.01,
        "tiktoken_dir": tiktoken_dir,
    }
    return RemoteOptions(**{**values, **overrides})  # type: ignore[arg-type]


def _remote(
    fake: FakeOpenAI, tiktoken_dir: str, model: str = "emb-a", spec_options: str = "", **overrides: object
) -> RemoteEmbedder:
    spec = f"openai-compatible:{model}@{fake.url}{spec_options}"
    return RemoteEmbedder.from_spec(spec, _options(tiktoken_dir, **overrides))


def _expected(model: str, texts: list[str], dim: int = 32) -> np.ndarray:
    return np.asarray([fake_embedding(model, t, dim) for t in texts], dtype=np.float32)


# --- specs -------------------------------------------------------------------------------------------------------
def test_specs_parse_with_options_and_known_models() -> None:
    spec = RemoteSpec.parse("openai:text-embedding-3-large;dimensions=1024")
    assert (spec.provider, spec.model, spec.dimensions, spec.max_tokens) == (
        "openai",
        "text-embedding-3-large",
        1024,
        8191,
    )
    assert spec.vector_name == "api-text-embedding-3-large-1024d"
    e5 = RemoteSpec.parse("openai-compatible:intfloat/multilingual-e5-large@http://gpu:8080/v1;max_tokens=512")
    assert (e5.model, e5.base_url, e5.prefixes, e5.vector_name) == (
        "intfloat/multilingual-e5-large", "http://gpu:8080/v1", "e5", "api-intfloat_multilingual-e5-large"
    )  # fmt: skip
    assert RemoteSpec.parse("openai-compatible:nomic-embed-text@http://h/v1").prefixes == "nomic"
    assert RemoteSpec.parse("openai-compatible:my-model@http://h/v1;prefixes=e5").prefixes == "e5"


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("openai-compatible:model", "openai-compatible:<model>@<http(s) base URL>"),
        ("openai-compatible:m@ftp://host/v1", "openai-compatible:<model>@<http(s) base URL>"),
        ("openai-compatible:m@http://user:pw@host/v1", "must not carry credentials"),
        ("openai:text-embedding-ada-002;dimensions=256", "does not support dimensions"),
        ("openai:text-embedding-3-small;dimensions=0", "dimensions must be a positive integer"),
        ("openai:text-embedding-3-small;colour=blue", "unknown option 'colour=blue'"),
        ("openai:", "expected openai:<model>"),
    ],
)
def test_bad_specs_get_a_message_naming_the_problem(spec: str, problem: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        RemoteSpec.parse(spec)
    assert problem in str(caught.value)
    assert "pw" not in str(caught.value)


def test_unknown_local_name_lists_the_remote_forms() -> None:
    with pytest.raises(ValueError, match="openai-compatible:<model>@<base URL>"):
        make_embedder("no-such-model")


def test_openai_without_a_key_is_a_clear_error(tiktoken_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="ASKDOCS_EMBEDDER_API_KEY"):
        RemoteEmbedder.from_spec("openai:text-embedding-3-small", _options(tiktoken_dir, api_key=None))


# --- requests ----------------------------------------------------------------------------------------------------
def test_batches_by_count_keep_order_and_send_the_key(fake_openai: FakeOpenAI, tiktoken_dir: str) -> None:  # noqa: F811
    embedder = _remote(fake_openai, tiktoken_dir, batch_size=3)
    texts = [f"document number {i} about topic {i % 3}" for i in range(7)]
    rows = embedder.embed_documents(texts)
    assert sorted(len(r.body["input"]) for r in fake_openai.requests) == [1, 3, 3]
    assert all(
        r.path == "/v1/embeddings" and r.headers["authorization"] == f"Bearer {KEY}" for r in fake_openai.requests
    )
    assert all(r.body["model"] == "emb-a" and r.body["encoding_format"] == "float" for r in fake_openai.requests)
    np.testing.assert_allclose(rows, _expected("emb-a", texts), atol=1e-6)
    assert embedder.dim == 32  # learnt from the endpoint (an unknown model), one probe request
    usage = embedder.usage()
    assert (usage.requests, usage.inputs) == (3 + 1, 7) and usage.tokens > 0  # the probe is a request, no input


def test_batches_by_tokens(fake_openai: FakeOpenAI, tiktoken_dir: str) -> None:  # noqa: F811
    embedder = _remote(fake_openai, tiktoken_dir, batch_size=100, batch_tokens=64)
    texts = [" ".join(["word"] * 30)] * 5  # 30 tokens each: two fit under 64
    embedder.embed_documents(texts)
    assert sorted(len(r.body["input"]) for r in fake_openai.requests) == [1, 2, 2]


def test_concurrency_is_bounded_and_used(fake_openai: FakeOpenAI, tiktoken_dir: str) -> None:  # noqa: F811
    embedder = _remote(fake_openai, tiktoken_dir, batch_size=1, concurrency=3)
    fake_openai.responder = lambda body: Reply(delay_s=0.15)
    rows = embedder.embed_documents([f"text {i}" for i in range(9)])
    assert fake_openai.max_in_flight == 3  # three at a time: used, and never more
    np.testing.assert_allclose(rows, _expected("emb-a", [f"text {i}" for i in range(9)]), atol=1e-6)


def test_requests_span_submissions_so_back_to_back_ones_send_full_requests(
    fake_openai: FakeOpenAI,  # noqa: F811
    tiktoken_dir: str,
) -> None:
    embedder = _remote(fake_openai, tiktoken_dir, batch_size=4, concurrency=1)
    fake_openai.responder = lambda body: Reply(delay_s=0.2)
    first_texts, second_texts = [f"first {i}" for i in range(5)], [f"second {i}" for i in range(3)]
    first = embedder.submit_documents(first_texts)
    second = embedder.submit_documents(second_texts)  # queued while the first request is in flight
    np.testing.assert_allclose(first.result(timeout=10), _expected("emb-a", first_texts), atol=1e-6)
    np.testing.assert_allclose(second.result(timeout=10), _expected("emb-a", second_texts), atol=1e-6)
    assert [r.body["input"] for r in fake_openai.requests] == [first_texts[:4], first_texts[4:] + second_texts]


def test_a_failed_request_fails_each_submission_it_carried_and_their_queued_passages_are_not_sent(
    fake_openai: FakeOpenAI,  # noqa: F811
    tiktoken_dir: str,
) -> None:
    embedder = _remote(fake_openai, tiktoken_dir, batch_size=4, concurrency=1, retries=0)
    fake_openai.queue(Reply(delay_s=0.2), Reply(status=400, error="bad input"))
    first = embedder.submit_documents([f"first {i}" for i in range(5)])
    second = embedder.submit_documents([f"second {i}" for i in range(7)])
    for future in (first, second):
        with pytest.raises(EmbeddingError, match="failed: HTTP 400"):
            future.result(timeout=10)
    assert [len(r.body["input"]) for r in fake_openai.requests] == [4, 4]  # the last four of ``second`` stay home
    assert embedder.submit_documents(["later"]).result(timeout=10).shape == (1, 32)  # the queue goes on


def test_closing_fails_the_passages_still_queued_instead_of_leaving_them_waiting(
    fake_openai: FakeOpenAI,  # noqa: F811
    tiktoken_dir: str,
) -> None:
    embedder = _remote(fake_openai, tiktoken_dir, batch_size=4, concurrency=1)
    fake_openai.responder = lambda body: Reply(delay_s=0.3)
    pending = embedder.submit_documents([f"text {i}" for i in range(8)])
    assert fake_openai.wait_for(lambda: fake_openai.in_flight == 1)
    embedder.close()
    with pytest.raises(EmbeddingError, match="closed before these passages were sent"):
        pending.result(timeout=5)
    with pytest.raises(EmbeddingError, match="is closed"):
        embedder.submit_documents(["after"])


def test_429_waits_for_retry_after_then_succeeds(fake_openai: FakeOpenAI, tiktoken_dir: str) -> None:  # noqa: F811
    embedder = _remote(fake_openai, tiktoken_dir)
    fake_openai.queue(Reply(status=429, error="rate limited", headers={"Retry-After": "0.4"}))
    started = time.perf_counter()
    row = embedder.embed_query("how many weeks of leave")
    assert time.perf_counter() - started >= 0.4
    assert len(fake_openai.requests) == 2 and embedder.usage().retries == 1
    np.testing.assert_allclose(row, _expected("emb-a", ["how many weeks of leave"])[0], atol=1e-6)


def test_a_retry_after_longer_than_the_limit_fails_at_once(fake_openai: FakeOpenAI, tiktoken_dir: str) -> None:  # noqa: F811
    embedder = _remote(fake_openai, tiktoken_dir, retry_max_wait_s=1.0)
    fake_openai.queue(Reply(status=429, headers={"Retry-After": "120"}))
    started = time.perf_counter()
    with pytest.raises(EmbeddingError, match=r"embedding endpoint http://127\.0\.0\.1:\d+ \(emb-a\) failed: HTTP 429"):
        embedder.embed_query("q")
    assert time.perf_counter() - started < 1.0 and len(fake_openai.requests) == 1


def test_5xx_is_retried_then_reported_without_the_key(
    fake_openai: FakeOpenAI,  # noqa: F811
    tiktoken_dir: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    embedder = _remote(fake_openai, tiktoken_dir, retries=2)
    fake_openai.queue(Reply(status=503), Reply(status=500))
    assert embedder.embed_documents(["a", "b"]).shape == (2, 32)
    assert len(fake_openai.requests) == 3
    fake_openai.reset()
    fake_openai.responder = lambda body: Reply(status=502, error=f"upstream said {KEY}")
    with caplog.at_level(logging.WARNING), pytest.raises(EmbeddingError, match="failed: HTTP 502") as caught:
        embedder.embed_documents(["a"])
    assert len(fake_openai.requests) == 3
    assert KEY not in str(caught.value) and KEY not in caplog.text


def test_a_timeout_is_retried(fake_openai: FakeOpenAI, tiktoken_dir: str) -> None:  # noqa: F811
    embedder = _remote(fake_openai, tiktoken_dir, timeout_s=0.3, retries=1)
    fake_openai.queue(Reply(delay_s=1.5))
    assert embedder.embed_query("slow").shape == (32,)
    fake_openai.responder = lambda body: Reply(delay_s=1.5)
    with pytest.raises(EmbeddingError, match="failed: timeout"):
        embedder.embed_query("slower")


def test_azure_url_shape_and_dimensions(fake_openai: FakeOpenAI, tiktoken_dir: str) -> None:  # noqa: F811
    options = _options(tiktoken_dir, azure_endpoint=fake_openai.base, api_version="2024-10-21")
    embedder = RemoteEmbedder.from_spec("openai:text-embedding-3-small;dimensions=256", options)
    assert embedder.dim == 256  # known without asking
    row = embedder.embed_query("VPN")
    request = fake_openai.requests[-1]
    assert request.path == "/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21"
    assert request.headers["api-key"] == KEY and request.body["dimensions"] == 256
    np.testing.assert_allclose(row, _expected("text-embedding-3-small", ["VPN"], 256)[0], atol=1e-6)


def test_e5_models_get_query_and_passage_prefixes(fake_openai: FakeOpenAI, tiktoken_dir: str) -> None:  # noqa: F811
    embedder = _remote(fake_openai, tiktoken_dir, model="multilingual-e5-large")
    embedder.embed_query("parental leave")
    embedder.embed_documents(["Parents get 16 weeks."])
    inputs = [r.body["input"] for r in fake_openai.requests[-2:]]
    assert inputs == [["query: parental leave"], ["passage: Parents get 16 weeks."]]
    assert embedder.max_tokens == 512 - embedder.count_tokens("passage: ")


def test_inputs_over_the_limit_are_cut_to_it(fake_openai: FakeOpenAI, tiktoken_dir: str) -> None:  # noqa: F811
    embedder = _remote(fake_openai, tiktoken_dir, spec_options=";max_tokens=20")
    embedder.embed_documents([" ".join(f"w{i}" for i in range(200))])
    assert embedder.count_tokens(fake_openai.requests[-1].body["input"][0]) <= 20


# --- through the pipeline ----------------------------------------------------------------------------------------
def _indexer(fake: FakeOpenAI, tiktoken_dir: str, folder: Path, spec_options: str = "", **overrides: object) -> Indexer:
    remote = _remote(fake, tiktoken_dir, spec_options=spec_options, **overrides)
    embedders = LanguageEmbedders({"en": remote, "ja": remote})
    return Indexer(
        Index(EdgeBackend(folder)), embedders, Chunker(embedders.for_language, 200, 30), Analyzer(), lookahead=2
    )


def test_a_wrong_dimension_is_a_clear_error_and_nothing_is_written(
    fake_openai: FakeOpenAI,  # noqa: F811
    tiktoken_dir: str,
    workspace_copy: Path,
    tmp_path: Path,
) -> None:
    indexer = _indexer(fake_openai, tiktoken_dir, tmp_path / "edge", spec_options=";dimensions=64")
    fake_openai.responder = lambda body: Reply(dim=48)
    with pytest.raises(EmbeddingError, match=r"returned vectors of size \[48\] but the index expects 64"):
        run_source(indexer, FilesConnector(workspace_copy), CheckpointStore(tmp_path / "state"))
    assert indexer.index.count_chunks() == 0 and indexer.index.document_hashes() == {}
    indexer.index.close()


def test_sync_and_search_through_the_endpoint_respect_the_token_limit_and_log_usage(
    fake_openai: FakeOpenAI,  # noqa: F811
    tiktoken_dir: str,
    workspace_copy: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    indexer = _indexer(fake_openai, tiktoken_dir, tmp_path / "edge", spec_options=";max_tokens=64", batch_size=8)
    with caplog.at_level(logging.INFO, logger="askdocs.ingest.runner"):
        report = run_source(indexer, FilesConnector(workspace_copy), CheckpointStore(tmp_path / "state"))
    assert report.status == "succeeded" and report.embedded_chunks == report.chunks_written > 20
    embedder = indexer.embedders.for_language("en")
    stored = indexer.index.chunks(IndexFilter())
    assert max(embedder.count_tokens(c.payload["text"]) for c in stored) <= embedder.max_tokens
    assert max(len(r.body["input"]) for r in fake_openai.requests) <= 8
    line = next(r.getMessage() for r in caplog.records if "embeddings api-emb-a" in r.getMessage())
    assert f"{report.embedded_chunks} inputs in " in line and "tokens" in line and "chunks/s" in line
    assert KEY not in caplog.text
    again = run_source(indexer, FilesConnector(workspace_copy), CheckpointStore(tmp_path / "state"), full=True)
    assert again.unchanged == report.seen and again.embedded_chunks == 0
    indexer.index.close()


def test_settings_reach_the_remote_embedder(fake_openai: FakeOpenAI, tmp_path: Path) -> None:  # noqa: F811
    settings = Settings(
        data_dir=tmp_path, embedder_batch_size=5, embedder_concurrency=7, embedder_timeout_s=3, embedder_api_key=KEY
    )
    options = RemoteOptions.from_settings(settings)
    assert (options.batch_size, options.concurrency, options.timeout_s, options.api_key) == (5, 7, 3.0, KEY)
    embedders = LanguageEmbedders.from_names(f"openai-compatible:emb-a@{fake_openai.url}", "use-multilingual", options)
    assert isinstance(embedders.for_language("en"), RemoteEmbedder)
    assert embedders.for_language("en").embed_query("x").shape == (32,)


class _Recording:
    """A load connector over generated documents that notes how many it has handed out when each request arrives."""

    source = "gen"

    def __init__(self, fake: FakeOpenAI, n: int) -> None:
        self.fake, self.n, self.yielded = fake, n, 0
        self.seen_at_request: list[int] = []
        fake.responder = lambda body: (self.seen_at_request.append(self.yielded), Reply())[1]

    def load_all(self) -> Iterator[Document]:
        for i in range(self.n):
            self.yielded += 1
            text = f"Project Heron note {i}: " + " ".join(f"term{i}x{j}" for j in range(120))
            yield Document(id=f"gen:{i}", source=self.source, title=f"Heron {i}", sections=[Section(text=text)])
            time.sleep(0.02)  # a connector reading at a finite speed


def test_requests_leave_once_a_window_of_chunks_is_ready_not_after_a_whole_document_batch(
    fake_openai: FakeOpenAI,  # noqa: F811
    tiktoken_dir: str,
    tmp_path: Path,
) -> None:
    indexer = _indexer(fake_openai, tiktoken_dir, tmp_path / "edge", batch_size=4)
    indexer.batch_chunks = 8  # two requests of 4 (the default would wait for batch_docs = 32 documents)
    connector = _Recording(fake_openai, 40)
    report = indexer.full_sync(connector)
    assert report.status == "succeeded" and report.added == 40
    first = next(n for n in connector.seen_at_request if n > 0)  # the dimension probe comes before any document
    assert first < 16, f"the first request waited for {first} documents"
    assert max(len(r.body["input"]) for r in fake_openai.requests) <= 4
    indexer.index.close()


def test_a_sync_with_look_ahead_sends_full_requests_across_document_batches(
    fake_openai: FakeOpenAI,  # noqa: F811
    tiktoken_dir: str,
    tmp_path: Path,
) -> None:
    indexer = _indexer(fake_openai, tiktoken_dir, tmp_path / "edge", batch_size=4, concurrency=1)
    indexer.batch_chunks = 6  # document batches of 6 chunks: each would end in a part-filled request
    fake_openai.responder = lambda body: Reply(delay_s=0.3)  # the next batches are queued while requests wait
    documents = [
        Document(id=f"gen:{i}", source="gen", title=f"Heron {i}", sections=[Section(text=f"Heron note {i}.")])
        for i in range(30)
    ]
    report = indexer.full_sync(ListedDocuments(documents, source="gen"))
    assert report.status == "succeeded" and report.embedded_chunks == 30
    sizes = [len(r.body["input"]) for r in fake_openai.requests[1:]]  # after the dimension probe
    assert sizes == [4] * 7 + [2], sizes
    indexer.index.close()
