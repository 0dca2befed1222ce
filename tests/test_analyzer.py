"""BM25 analysis: English and Japanese terms, language detection, term ids and BM25 weights."""

from __future__ import annotations

import math

import pytest

from askdocs.retrieval.analyzer import ENGLISH_STOPWORDS, PHRASE_JOINER, Analyzer, detect_language, term_id
from askdocs.retrieval.index.bm25 import bm25_weights


# --- English -----------------------------------------------------------------------------
def test_english_stems_and_drops_stopwords(analyzer: Analyzer) -> None:
    terms = analyzer.terms("The policies are running and the runners ran", "en")
    assert terms == ["polici", "run", "runner", "ran"]
    assert not set(terms) & ENGLISH_STOPWORDS


def test_english_possessives_are_stripped(analyzer: Analyzer) -> None:
    # Straight and typographic apostrophes both; the possessive form equals the plain word.
    assert analyzer.terms("employee's", "en") == analyzer.terms("employee", "en") == ["employe"]
    assert analyzer.terms("manager’s laptop", "en") == ["manag", "laptop"]


def test_english_is_case_insensitive_and_splits_on_punctuation(analyzer: Analyzer) -> None:
    assert analyzer.terms("Parental-LEAVE, (VPN)!", "en") == ["parent", "leav", "vpn"]
    assert analyzer.terms("snake_case_name", "en") == ["snake", "case", "name"]


def test_english_only_stopwords_gives_no_terms(analyzer: Analyzer) -> None:
    assert analyzer.terms("it is what it is, and they were there", "en") == []


def test_full_width_text_is_normalised(analyzer: Analyzer) -> None:
    # NFKC turns full-width Latin letters into ASCII before analysis.
    assert analyzer.terms("ＶＰＮ　Ｇａｔｅｗａｙ") == ["vpn", "gateway"]


def test_repeats_are_kept_in_order(analyzer: Analyzer) -> None:
    assert analyzer.terms("leave leave policy leave", "en") == ["leav", "leav", "polici", "leav"]


# --- Japanese ----------------------------------------------------------------------------
def test_japanese_words_and_particles_dropped(analyzer: Analyzer) -> None:
    terms = analyzer.terms("東京オフィスの入館カードを申請します。", "ja")
    assert terms[:4] == ["東京", "オフィス", "入館", "カード"]
    assert "申請" in terms
    # Particles (助詞), auxiliary verbs (助動詞) and punctuation never become terms.
    for dropped in ("の", "を", "ます", "。"):
        assert dropped not in terms


def test_japanese_question_words_are_dropped(analyzer: Analyzer) -> None:
    terms = analyzer.terms("グーテンベルクは何を発明したか。誰がどこで使ったか", "ja")
    for pronoun in ("何", "誰", "どこ"):
        assert pronoun not in terms
    assert "グーテンベルク" in terms and "発明" in terms


def test_japanese_adjacent_words_also_form_phrase_terms(analyzer: Analyzer) -> None:
    near = analyzer.terms("相良油田の起源", "ja")
    assert near[:3] == ["相良", "油田", "起源"]
    # Particles between words do not break a phrase; the same pair in another text gives the same term.
    assert near[3:] == [f"相良{PHRASE_JOINER}油田", f"油田{PHRASE_JOINER}起源"]
    far = analyzer.terms("油田は相良にある。起源は不明", "ja")
    assert f"油田{PHRASE_JOINER}起源" not in far and "起源" in far
    # English text gets no phrase terms.
    assert all(PHRASE_JOINER not in t for t in analyzer.terms("oil field origin", "en"))


def test_japanese_uses_normalised_forms(analyzer: Analyzer) -> None:
    # Conjugated verbs come back as their dictionary form.
    assert "読む" in analyzer.terms("社員は規程を読みました。", "ja")


def test_ascii_words_in_japanese_text_use_the_english_pipeline(analyzer: Analyzer) -> None:
    terms = analyzer.terms("社員はRunning PoliciesとVPN Gatewayを使います。", "ja")
    # Stemmed and lower-cased exactly as in English text (not katakana-normalised by Sudachi).
    for english in analyzer.terms("Running Policies VPN Gateway", "en"):
        assert english in terms
    assert "ランニング" not in terms and "ゲートウェー" not in terms
    assert "社員" in terms


def test_japanese_query_terms_match_japanese_document_terms(analyzer: Analyzer) -> None:
    query = set(analyzer.terms("入館カードの再発行手数料"))
    doc = set(analyzer.terms("入館カードを紛失した場合、再発行手数料は2,000円です。"))
    assert {"入館", "カード", "手数料"} <= query & doc


def test_long_japanese_text_is_analysed_in_slices(analyzer: Analyzer) -> None:
    # Sudachi refuses very long inputs; the analyzer slices them at newlines.
    line = "東京オフィスの入館カードを申請します。\n"
    terms = analyzer.terms(line * 3000, "ja")
    assert terms.count("入館") == 3000


# --- language detection ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How many weeks of parental leave do US employees get?", "en"),
        ("東京オフィスの入館カードの再発行手数料はいくらですか？", "ja"),
        ("経費精算", "ja"),  # kanji only, but it is nearly all of the text
        ("VPNの設定方法を教えてください", "ja"),  # mixed, with kana
        ("Please ask about the 入館カード at reception", "ja"),  # any kana counts as Japanese
        ("The Tokyo office (東京) is near Shinagawa station and has twenty meeting rooms.", "en"),  # a few kanji
        ("", "en"),
        ("12345 !!!", "en"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


# --- term ids ----------------------------------------------------------------------------
def test_term_id_known_values() -> None:
    # Fixed values: if the hashing changes, every stored sparse vector silently stops matching.
    assert term_id("leave") == 167927192
    assert term_id("vpn") == 930041889
    assert term_id("休暇") == 2885489827


@pytest.mark.parametrize("term", ["", "a", "leav", "東京", "x" * 1000, "émigré"])
def test_term_id_is_unsigned_32_bit(term: str) -> None:
    value = term_id(term)
    assert isinstance(value, int)
    assert 0 <= value <= 2**32 - 1
    assert term_id(term) == value


def test_term_ids_differ_between_terms() -> None:
    ids = {term_id(f"term{i}") for i in range(2000)}
    assert len(ids) == 2000


def test_query_vector_one_per_distinct_term(analyzer: Analyzer) -> None:
    ids, values = analyzer.query_vector("leave leave policy", "en")
    assert ids == sorted({term_id("leav"), term_id("polici")})
    assert values == [1.0, 1.0]


# --- BM25 weights ------------------------------------------------------------------------
def test_bm25_weights_match_hand_computation() -> None:
    terms = ["a", "b", "a", "c", "a"]  # tf: a=3, b=1, c=1; dl=5
    k1, b, avgdl = 1.2, 0.75, 4.0
    ids, values, dl = bm25_weights(terms, avgdl, k1, b)
    assert dl == 5
    assert ids == sorted(ids)
    norm = 1.2 * (1 - 0.75 + 0.75 * 5 / 4.0)  # 1.425
    expected = {
        term_id("a"): 3 * 2.2 / (3 + norm),  # 6.6 / 4.425 = 1.49152...
        term_id("b"): 1 * 2.2 / (1 + norm),  # 2.2 / 2.425 = 0.90721...
        term_id("c"): 1 * 2.2 / (1 + norm),
    }
    assert dict(zip(ids, values)) == pytest.approx(expected)
    assert dict(zip(ids, values))[term_id("a")] == pytest.approx(1.491525423729, rel=1e-9)
    assert dict(zip(ids, values))[term_id("b")] == pytest.approx(0.907216494845, rel=1e-9)


def test_bm25_weights_length_normalisation() -> None:
    # The same tf weighs less in a longer document, and b=0 switches length normalisation off.
    _, short, _ = bm25_weights(["x", "y"], avgdl=10.0)
    _, long, _ = bm25_weights(["x", "y"] + [f"f{i}" for i in range(30)], avgdl=10.0)
    assert long[0] < short[0]
    _, flat_short, _ = bm25_weights(["x"], avgdl=10.0, b=0.0)
    _, flat_long, _ = bm25_weights(["x"] + [f"f{i}" for i in range(30)], avgdl=10.0, b=0.0)
    assert flat_short[0] == pytest.approx(1.0)  # tf=1: 1*(k1+1)/(1+k1)
    assert flat_long[0] == pytest.approx(flat_short[0])


def test_bm25_weights_saturate_below_k1_plus_one() -> None:
    _, values, _ = bm25_weights(["x"] * 1000, avgdl=1000.0, k1=1.2, b=0.75)
    assert values[0] < 2.2
    assert values[0] == pytest.approx(1000 * 2.2 / (1000 + 1.2))


def test_bm25_weights_empty_and_tiny_avgdl() -> None:
    assert bm25_weights([], avgdl=10.0) == ([], [], 0)
    # avgdl is floored at 1 so an empty index does not divide by zero.
    _, values, _ = bm25_weights(["x"], avgdl=0.0)
    assert all(math.isfinite(v) for v in values)


def test_weights_of_analysed_terms(analyzer: Analyzer) -> None:
    ids, values, dl = bm25_weights(analyzer.terms("The running runners run", "en"), 3.0)
    expected_ids, expected_values, expected_dl = bm25_weights(["run", "runner", "run"], 3.0)
    assert (ids, dl) == (expected_ids, expected_dl) == (sorted({term_id("run"), term_id("runner")}), 3)
    assert values == pytest.approx(expected_values)


def test_analysis_is_thread_safe() -> None:
    """The API searches while the indexer analyses: one shared Analyzer, many threads, same answers."""
    import threading

    from askdocs.retrieval.analyzer import Analyzer

    analyzer = Analyzer()
    words = "organizational generalizations conditionally hopefulness relational rationalization " * 20
    japanese = "東京オフィスの入館カードを再発行する手数料は二千円です。" * 5
    expected = (analyzer.terms(words, "en"), analyzer.terms(japanese, "ja"))
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(30):
                assert (analyzer.terms(words, "en"), analyzer.terms(japanese, "ja")) == expected
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
