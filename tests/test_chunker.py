"""Chunking: token bounds in the embedder's own tokens, sentence-aware splits, headings, merging."""

from __future__ import annotations

import random
import re

import pytest

from askdocs.ingest.chunker import Chunker
from askdocs.models import Chunk, Document, Location, Section
from askdocs.retrieval.embedders import LanguageEmbedders

WORDS = (
    "robot warehouse picker battery charge fleet console telemetry deploy incident pager rotation laptop "
    "policy leave parental benefits expense travel meal budget vendor contract payroll office badge "
    "reception network password approval review owner release freeze window region client gateway"
).split()

JA_SENTENCES = [
    "東京オフィスは品川駅の港南口から徒歩8分の場所にあります。",
    "入館カードを紛失した場合は、総務に連絡して再発行を申請してください。",
    "再発行手数料は2,000円で、翌月の給与から差し引かれます。",
    "経費精算の申請期限は、支出した月の翌月5日です。",
    "K2ピッカーの吸着カップは稼働500時間ごとに交換します！",
    "震度5強以上の地震のときは、1時間以内に安否確認に回答してください。",
    "会議室の予約は社内カレンダーから行い、使い終わったら必ず解除しますか？",
    "通勤手当は6か月定期券代を支給し、上限は月額換算で50,000円です。",
]


def english_paragraph(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 22))]
        out.append(" ".join(words).capitalize() + rng.choice([".", "!", "?", ";"]))
    return " ".join(out)


def make_doc(title: str, sections: list[Section], doc_id: str = "test:doc") -> Document:
    return Document(id=doc_id, source="test", title=title, sections=sections, acl=["group:x"])


def assert_within_window(chunks: list[Chunk], embedders: LanguageEmbedders, limit: int) -> None:
    for chunk in chunks:
        embedder = embedders.for_language(chunk.language)
        tokens = embedder.count_tokens(chunk.embed_text)
        assert tokens <= limit, (chunk.chunk_no, tokens, chunk.embed_text[:120])
        assert tokens <= embedder.max_tokens


def assert_numbered(chunks: list[Chunk]) -> None:
    assert [c.chunk_no for c in chunks] == list(range(len(chunks)))


@pytest.fixture(scope="module")
def long_english_doc() -> Document:
    rng = random.Random(7)
    sections = []
    for part in range(4):
        paragraphs = "\n\n".join(english_paragraph(rng, rng.randint(2, 9)) for _ in range(12))
        sections.append(Section(path=["Handbook", f"Part {part}"], text=paragraphs))
    sections.append(Section(path=["Handbook", "One line per item"], text="\n".join(WORDS * 8)))
    return make_doc("Engineering Handbook for the Kumo Fleet Platform Team", sections)


@pytest.fixture(scope="module")
def long_japanese_doc() -> Document:
    rng = random.Random(11)
    sections = []
    for part in range(3):
        # One long paragraph per section: no newlines, only sentence ends to split at.
        text = "".join(rng.choice(JA_SENTENCES) for _ in range(60))
        sections.append(Section(path=["東京オフィス", f"第{part + 1}章"], text=text))
    return make_doc("東京オフィス ガイド", sections, doc_id="test:ja")


@pytest.mark.parametrize("chunk_tokens", [200, 64])
def test_english_chunks_fit_minilm_window(
    embedders: LanguageEmbedders, long_english_doc: Document, chunk_tokens: int
) -> None:
    chunks = Chunker(embedders.for_language, chunk_tokens, 30).chunk(long_english_doc)
    assert len(chunks) > 10
    assert {c.language for c in chunks} == {"en"}
    assert_within_window(chunks, embedders, chunk_tokens)
    assert_numbered(chunks)


def test_english_limit_is_capped_by_the_model_window(embedders: LanguageEmbedders, long_english_doc: Document) -> None:
    # Asking for more than MiniLM's 256-token window still yields chunks the model can take whole.
    chunks = Chunker(embedders.for_language, 512, 30).chunk(long_english_doc)
    assert_within_window(chunks, embedders, embedders.for_language("en").max_tokens)
    assert max(embedders.for_language("en").count_tokens(c.embed_text) for c in chunks) > 200


@pytest.mark.parametrize("chunk_tokens", [200, 48])
def test_japanese_chunks_fit_use_window(
    embedders: LanguageEmbedders, long_japanese_doc: Document, chunk_tokens: int
) -> None:
    chunks = Chunker(embedders.for_language, chunk_tokens, 30).chunk(long_japanese_doc)
    assert len(chunks) > 5
    assert {c.language for c in chunks} == {"ja"}
    assert embedders.for_language("ja").name == "use-multilingual"
    assert_within_window(chunks, embedders, chunk_tokens)
    assert_numbered(chunks)


def test_japanese_text_is_split_at_sentence_ends(chunker: Chunker, long_japanese_doc: Document) -> None:
    chunks = chunker.chunk(long_japanese_doc)
    assert len(chunks) > 3
    for chunk in chunks:
        # Each chunk is made of whole sentences (merged chunks join whole sections with a heading line).
        body = chunk.text.replace("\n\n第2章\n", "").replace("\n\n第3章\n", "")
        assert body.endswith(("。", "！", "？")), body[-30:]
        rest = body
        for sentence in sorted(JA_SENTENCES, key=len, reverse=True):
            rest = rest.replace(sentence, "")
        assert rest == "", rest[:60]


def test_no_text_is_lost(chunker: Chunker, long_english_doc: Document) -> None:
    chunks = chunker.chunk(long_english_doc)
    for section in long_english_doc.sections:
        for sentence in re.split(r"(?<=[.!?;])\s+|\n", section.text):
            # Every sentence survives whole in some chunk: cuts fall between sentences.
            assert any(sentence in c.text for c in chunks), sentence


def test_heading_trail_is_kept_on_chunks(chunker: Chunker, long_english_doc: Document) -> None:
    chunks = chunker.chunk(long_english_doc)
    headings = {c.heading for c in chunks}
    assert {"Handbook > Part 0", "Handbook > Part 3", "Handbook > One line per item"} <= headings
    first = next(c for c in chunks if c.heading == "Handbook > Part 2")
    assert first.embed_text.startswith("Engineering Handbook for the Kumo Fleet Platform Team > Handbook > Part 2\n")


def test_chunks_carry_document_fields(chunker: Chunker) -> None:
    doc = Document(
        id="files:a.md",
        source="files",
        title="A",
        url="https://x/a",
        author="Ann",
        sections=[Section(text="Hello world.")],
        acl=["group:hr", "user:a@b"],
        metadata={"path": "a.md"},
    )
    (chunk,) = chunker.chunk(doc)
    assert (chunk.doc_id, chunk.chunk_no, chunk.source, chunk.title, chunk.url, chunk.author) == (
        "files:a.md",
        0,
        "files",
        "A",
        "https://x/a",
        "Ann",
    )
    assert chunk.acl == ["group:hr", "user:a@b"]
    assert chunk.content_hash == doc.content_hash
    assert chunk.metadata == {"path": "a.md"}
    assert chunk.heading == ""
    assert chunk.embed_text == "A\nHello world."


def test_small_sections_are_merged(chunker: Chunker) -> None:
    sections = [Section(path=["Guide", f"Step {i}"], text=f"Do step number {i} carefully.") for i in range(6)]
    chunks = chunker.chunk(make_doc("Setup", sections))
    assert len(chunks) == 1
    (chunk,) = chunks
    assert chunk.heading == "Guide > Step 0"  # the first section's trail
    for i in range(6):
        assert f"Do step number {i} carefully." in chunk.text
    for i in range(1, 6):
        assert f"\nStep {i}\n" in chunk.text  # later headings kept as lines
    assert chunk.text.index("step number 1") < chunk.text.index("step number 5")


def test_merging_stops_at_the_budget(embedders: LanguageEmbedders) -> None:
    sections = [Section(path=[f"S{i}"], text=english_paragraph(random.Random(i), 3)) for i in range(30)]
    chunks = Chunker(embedders.for_language, 120, 20).chunk(make_doc("Merged", sections))
    assert 1 < len(chunks) < 30
    assert_within_window(chunks, embedders, 120)
    assert_numbered(chunks)


def test_text_without_separators_is_still_bounded(embedders: LanguageEmbedders) -> None:
    en = embedders.for_language("en")
    # Hyphen-joined words: no separator the splitter knows, but hundreds of tokens.
    text = "-".join(WORDS * 20)
    assert en.count_tokens(text) > 1000
    chunks = Chunker(embedders.for_language, 100, 20).chunk(make_doc("Blob", [Section(text=text)]))
    assert len(chunks) >= 10
    assert_within_window(chunks, embedders, 100)
    # Cut by characters into consecutive parts: nothing lost, nothing repeated, no fragments.
    assert "".join(c.text for c in chunks) == text
    assert min(en.count_tokens(c.text) for c in chunks) >= 25


def test_japanese_without_separators_is_still_bounded(embedders: LanguageEmbedders) -> None:
    ja = embedders.for_language("ja")
    text = "東京オフィス入館カード再発行手数料経費精算申請期限" * 60
    assert ja.count_tokens(text) > 500
    chunks = Chunker(embedders.for_language, 100, 20).chunk(make_doc("東京", [Section(text=text)]))
    assert len(chunks) >= 5
    assert {c.language for c in chunks} == {"ja"}
    assert_within_window(chunks, embedders, 100)
    assert "".join(c.text for c in chunks) == text


def test_short_document_is_one_chunk(chunker: Chunker) -> None:
    chunks = chunker.chunk(make_doc("Short", [Section(path=["Only"], text="One short paragraph.")]))
    assert [(c.chunk_no, c.heading, c.text) for c in chunks] == [(0, "Only", "One short paragraph.")]


def test_empty_sections_make_no_chunks(chunker: Chunker) -> None:
    doc = make_doc("Empty", [Section(text="   "), Section(path=["H"], text="\n\n")])
    assert chunker.chunk(doc) == []


def test_sample_workspace_chunks_fit(
    embedders: LanguageEmbedders, chunker: Chunker, sample_workspace, analyzer, extractor
) -> None:
    from askdocs.connectors.files.connector import FilesConnector
    from askdocs.ingest.extract import extract_document

    languages = set()
    for item in FilesConnector(sample_workspace).load_all():
        if not isinstance(item, Document):
            continue  # a count of skipped files
        doc = extract_document(extractor, item)  # PDF and Office files: their extracted sections
        assert isinstance(doc, Document)
        chunks = chunker.chunk(doc)
        assert chunks, doc.id
        assert_numbered(chunks)
        assert_within_window(chunks, embedders, 200)
        languages |= {c.language for c in chunks}
        if doc.id.startswith("files:tokyo/"):
            assert {c.language for c in chunks} == {"ja"}
    assert languages == {"en", "ja"}


def test_pages_and_slides_are_never_merged_but_one_page_is(chunker: Chunker) -> None:
    page = [Location(page=n, anchor=f"page={n}") for n in (1, 2)]
    doc = make_doc(
        "Contract",
        [
            Section(path=["1. Parties"], text="Kumo and Acme sign.", location=page[0]),
            Section(path=["2. Term"], text="Three years.", location=page[0]),
            Section(path=["2. Term"], text="It renews yearly.", location=page[1]),
            Section(path=["Intro"], text="Slide one.", location=Location(slide=1)),
            Section(path=["Intro"], text="Slide two.", location=Location(slide=2)),
        ],
    )
    chunks = chunker.chunk(doc)
    assert [(c.location.page, c.location.slide) for c in chunks if c.location] == [(1, None), (2, None), (None, 1),
                                                                                   (None, 2)]  # fmt: skip
    assert "Kumo and Acme sign." in chunks[0].text and "Three years." in chunks[0].text, "small parts of a page join"
    assert chunks[1].text == "It renews yearly."


def test_every_chunk_of_a_sheet_section_repeats_its_header(chunker: Chunker, embedders: LanguageEmbedders) -> None:
    rows = "\n".join(
        f"Robot K{n} | Warehouse {n} in Osaka prefecture, loading dock {n} | {n * 1000} yen" for n in range(60)
    )
    header = "Model | Site | Monthly fee"
    sheet = Section(path=["Fleet"], text=rows, context=header, location=Location(sheet="Fleet", rows=(2, 61)))
    chunks = chunker.chunk(make_doc("Fleet list", [sheet]))
    assert len(chunks) > 2
    assert all(c.text.startswith(header + "\n") for c in chunks), "a cell's meaning survives chunking"
    assert all(c.location == sheet.location for c in chunks)
    assert_within_window(chunks, embedders, 200)
