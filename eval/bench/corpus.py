"""Synthetic-but-realistic corpora: Zipfian text from a seeded vocabulary, English plus a share of Japanese.

Every document is generated from ``(seed, doc_no)`` alone, so any document (and the queries drawn from it) can be
regenerated without storing the corpus.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np

from askdocs.models import PUBLIC, Document, Section

GROUPS = ("eng", "sales", "hr", "legal", "finance", "support")
SOURCES = ("files", "slack", "confluence", "google-docs")
GENERATOR_VERSION = "bench-corpus-1"

# The head of the English distribution: function words, then common business words; a long tail of
# pseudo-words built from syllables follows, so frequencies fall off like natural text (Zipf-Mandelbrot).
_EN_HEAD = """the of and to a in is that for it as with was on be by this are or from at an not have which
you we can will but all has their more one they if been also when there should any its these our about other
into only may would each must please after before new per than each""".split()
_EN_CONTENT = """policy request approval expense travel report meeting customer product release service account
access password network server database deploy incident outage ticket support manager team project budget
invoice payment contract vendor office building badge laptop device security review audit compliance data
backup storage cloud cluster region latency error warning upgrade version feature roadmap quarter revenue
pipeline forecast hiring interview onboarding training leave holiday benefit salary payroll insurance claim
receipt reimbursement deadline schedule calendar workflow document template wiki channel message thread
escalation priority severity owner reviewer branch commit build test staging production rollback migration
schema index query cache queue worker job retry timeout certificate token permission group role admin user
employee contractor partner shipping warehouse inventory order refund discount price quote license renewal
""".split()
_SYLLABLES = """ka ri to mo na shi ve lo pra quen dor tal mi sen ra bel cor fin gra hul jo kes lun mar nor pel
qui ros sta tun ul vor wen xan yel zor ber cal den fer gan hel ix jan kor lim mun nex ost pir qua rit sul tor
uma vix wel yon zen""".split()
_JA_NOUNS = """会議 資料 申請 承認 経費 精算 出張 契約 顧客 製品 開発 設計 品質 試験 障害 対応 手順 規定 休暇 給与
評価 目標 予算 計画 報告 分析 売上 在庫 発注 納品 請求 支払 口座 社員 部署 管理 情報 安全 認証 権限 更新 削除
登録 設定 環境 本番 検証 移行 保守 運用 監視 通知 連絡 窓口 受付 入館 再発行 手数料 東京 大阪 本社 支店 事務所
研修 採用 面接 人事 総務 法務 経理 営業 広報 顧問 取引先 見積 価格 割引 返金 配送 倉庫 端末 回線 機器 貸与
パスワード サーバー データ バックアップ クラウド リリース チケット ネットワーク アカウント ライセンス""".split()
_JA_PARTICLES = ("の", "は", "を", "に", "で", "と", "から", "まで")
_JA_ENDINGS = (
    "確認します",
    "提出してください",
    "行います",
    "実施します",
    "更新されました",
    "必要です",
    "可能です",
    "承認が必要です",
    "記載します",
    "変更になりました",
)


@dataclass(frozen=True)
class Vocabulary:
    """Words and the cumulative Zipfian distribution over them, per language."""

    en: np.ndarray
    en_cdf: np.ndarray
    ja: np.ndarray
    ja_cdf: np.ndarray


def _zipf_cdf(n: int, s: float = 1.07, q: float = 2.7) -> np.ndarray:
    weights = 1.0 / (np.arange(n) + q) ** s
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]  # type: ignore[no-any-return]


@lru_cache(maxsize=4)
def vocabulary(seed: int, en_size: int = 20000, ja_size: int = 3000) -> Vocabulary:
    """The seeded vocabulary: real head words, then pseudo-words (English) or compounds (Japanese)."""
    rng = np.random.default_rng([seed, 7])
    en: list[str] = list(dict.fromkeys(_EN_HEAD)) + list(dict.fromkeys(_EN_CONTENT))
    seen = set(en)
    while len(en) < en_size:
        word = "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 5))))
        if word not in seen:
            seen.add(word)
            en.append(word)
    nouns = list(dict.fromkeys(_JA_NOUNS))
    ja = list(nouns)
    seen_ja = set(ja)
    while len(ja) < ja_size:
        word = "".join(rng.choice(nouns, size=2))
        if word not in seen_ja:
            seen_ja.add(word)
            ja.append(word)
    return Vocabulary(np.array(en), _zipf_cdf(len(en)), np.array(ja), _zipf_cdf(len(ja)))


@dataclass(frozen=True)
class SynthDoc:
    """One generated document: metadata and its chunk texts (each 120-200 words or word-like units)."""

    doc_no: int
    id: str
    source: str
    title: str
    language: str
    acl: tuple[str, ...]
    updated_ts: float
    chunks: tuple[str, ...]

    def document(self) -> Document:
        """The document as the ingest pipeline sees it (one section per generated chunk)."""
        return Document(
            id=self.id,
            source=self.source,
            title=self.title,
            sections=[Section(path=[f"Part {i + 1}"], text=t) for i, t in enumerate(self.chunks)],
            updated_at=datetime.fromtimestamp(self.updated_ts, UTC),
            acl=list(self.acl),
        )


def _english_chunk(rng: np.random.Generator, vocab: Vocabulary) -> str:
    n = int(rng.integers(120, 201))
    words = vocab.en[np.searchsorted(vocab.en_cdf, rng.random(n))]
    out: list[str] = []
    start = 0
    while start < n:
        end = min(n, start + int(rng.integers(8, 21)))
        sentence = " ".join(words[start:end])
        out.append(sentence[:1].upper() + sentence[1:] + ".")
        start = end
    return " ".join(out)


def _japanese_chunk(rng: np.random.Generator, vocab: Vocabulary) -> str:
    n_sentences = int(rng.integers(16, 27))  # ~7.5 units per sentence: 120-200 word-like units
    nouns = vocab.ja[np.searchsorted(vocab.ja_cdf, rng.random(n_sentences * 3))]
    particles = rng.choice(_JA_PARTICLES, size=n_sentences * 2)
    endings = rng.choice(_JA_ENDINGS, size=n_sentences)
    return "".join(
        f"{nouns[3 * i]}{particles[2 * i]}{nouns[3 * i + 1]}{particles[2 * i + 1]}{nouns[3 * i + 2]}を{endings[i]}。"
        for i in range(n_sentences)
    )


def make_doc(seed: int, doc_no: int, ja_share: float = 0.2, max_chunks: int | None = None) -> SynthDoc:
    """Document ``doc_no`` of the corpus ``seed``: 1-12 chunks (geometric, mean ~5), ACL from a few groups."""
    rng = np.random.default_rng([seed, doc_no])
    vocab = vocabulary(seed)
    language = "ja" if rng.random() < ja_share else "en"
    n_chunks = min(12, int(rng.geometric(0.2)))
    if max_chunks is not None:
        n_chunks = max(1, min(n_chunks, max_chunks))
    maker = _japanese_chunk if language == "ja" else _english_chunk
    chunks = tuple(maker(rng, vocab) for _ in range(n_chunks))
    acl: tuple[str, ...] = (
        (PUBLIC,)
        if rng.random() < 0.3
        else tuple(f"group:{g}" for g in rng.choice(GROUPS, size=int(rng.integers(1, 3)), replace=False))
    )
    source = str(SOURCES[int(rng.integers(0, len(SOURCES)))])
    title_words = chunks[0].split(" ")[:4] if language == "en" else [chunks[0][:12]]
    return SynthDoc(
        doc_no=doc_no,
        id=f"{source}:bench/{doc_no}",
        source=source,
        title=" ".join(title_words).rstrip("."),
        language=language,
        acl=acl,
        updated_ts=1.6e9 + float(rng.integers(0, 10**8)),
        chunks=chunks,
    )


def iter_docs(seed: int, n_chunks: int, ja_share: float = 0.2, first_doc: int = 0) -> Iterator[SynthDoc]:
    """Documents ``first_doc, first_doc+1, ...`` until exactly ``n_chunks`` chunks (the last one truncated)."""
    total, doc_no = 0, first_doc
    while total < n_chunks:
        doc = make_doc(seed, doc_no, ja_share, max_chunks=n_chunks - total)
        total += len(doc.chunks)
        doc_no += 1
        yield doc


def make_queries(seed: int, n_docs: int, n: int, ja_share: float = 0.2) -> list[str]:
    """``n`` queries, each a few words drawn from a random chunk of one of the first ``n_docs`` documents."""
    rng = np.random.default_rng([seed, 99])
    stop = set(_EN_HEAD)
    out: list[str] = []
    while len(out) < n:
        doc = make_doc(seed, int(rng.integers(0, max(1, n_docs))), ja_share)
        text = doc.chunks[int(rng.integers(0, len(doc.chunks)))]
        if doc.language == "ja":
            nouns = [w for w in _JA_NOUNS if w in text]
            if len(nouns) < 2:
                continue
            picked = rng.choice(nouns, size=min(3, len(nouns)), replace=False)
            out.append("の".join(picked[:-1]) + f"は{picked[-1]}について")
        else:
            words = [w.strip(".").lower() for w in text.split(" ")]
            content = list(dict.fromkeys(w for w in words if w not in stop))
            if len(content) < 3:
                continue
            k = int(rng.integers(3, 7))
            out.append(" ".join(rng.choice(content, size=min(k, len(content)), replace=False)))
    return out


def principals_for(i: int) -> list[str]:
    """The ACL principals of caller ``i``: public, its user and one or two groups."""
    groups = [GROUPS[i % len(GROUPS)]] + ([GROUPS[(i + 2) % len(GROUPS)]] if i % 2 else [])
    return ["public", f"user:user{i}@example.com", *(f"group:{g}" for g in groups)]


class ListedDocuments:
    """A load-only connector over documents already in memory (a generated corpus, a test's documents)."""

    def __init__(self, documents: list[Document], source: str = "bench") -> None:
        self.documents, self.source = documents, source

    def load_all(self) -> Iterator[Document]:
        yield from self.documents
