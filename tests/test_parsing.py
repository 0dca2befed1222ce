"""Parsing Markdown, plain text and HTML into a title and sections (heading trail + text)."""

from __future__ import annotations

from askdocs.connectors.parsing import html_sections, markdown_sections, parse_front_matter, text_sections


def _as_pairs(sections: list) -> list[tuple[list[str], str]]:
    return [(s.path, s.text) for s in sections]


# --- front matter ------------------------------------------------------------------------
def test_front_matter_is_split_from_the_body() -> None:
    text = '---\ntitle: "Leave Policy"\nAuthor: Mei Tanaka\ncreated: 2026-01-02\nempty:\n---\n# Body\ntext\n'
    meta, body = parse_front_matter(text)
    assert meta == {"title": "Leave Policy", "author": "Mei Tanaka", "created": "2026-01-02", "empty": ""}
    assert body == "# Body\ntext"


def test_front_matter_value_may_contain_colons() -> None:
    meta, _ = parse_front_matter("---\nurl: https://example.com/a\n---\nbody")
    assert meta == {"url": "https://example.com/a"}


def test_no_front_matter_leaves_text_unchanged() -> None:
    text = "# Title\n---\nnot: front matter\n---\n"
    assert parse_front_matter(text) == ({}, text)


def test_unterminated_front_matter_is_body() -> None:
    text = "---\ntitle: x\nno closing line\n"
    assert parse_front_matter(text) == ({}, text)


# --- Markdown ----------------------------------------------------------------------------
def test_leading_h1_becomes_title_and_headings_build_a_trail() -> None:
    body = "\n".join(
        [
            "# Parental Leave",
            "Intro paragraph.",
            "## Eligibility",
            "Everyone is eligible.",
            "### Contractors",
            "Contractors are not.",
            "## How to apply",
            "Ask HR.",
            "#### Deep",
            "Deep text.",
            "## Closing ##",
            "Bye.",
        ]
    )
    title, sections = markdown_sections(body)
    assert title == "Parental Leave"
    assert _as_pairs(sections) == [
        ([], "Intro paragraph."),
        (["Eligibility"], "Everyone is eligible."),
        (["Eligibility", "Contractors"], "Contractors are not."),
        (["How to apply"], "Ask HR."),
        (["How to apply", "Deep"], "Deep text."),
        (["Closing"], "Bye."),
    ]


def test_given_title_keeps_h1_and_skips_a_repeated_title() -> None:
    title, sections = markdown_sections("# Same\nintro\n# Other\ntext", title="Same")
    assert title == "Same"
    assert _as_pairs(sections) == [([], "intro"), (["Other"], "text")]


def test_h1_after_text_is_not_the_title() -> None:
    title, sections = markdown_sections("Some preface.\n# Later heading\nBody.")
    assert title is None
    assert _as_pairs(sections) == [([], "Some preface."), (["Later heading"], "Body.")]


def test_headings_inside_code_fences_are_ignored() -> None:
    body = "# Doc\n## Setup\n```bash\n# install the client\nkumolink connect\n```\n~~~\n## not a heading\n~~~\nafter"
    title, sections = markdown_sections(body)
    assert title == "Doc"
    assert len(sections) == 1
    assert sections[0].path == ["Setup"]
    assert "# install the client" in sections[0].text
    assert "## not a heading" in sections[0].text
    assert sections[0].text.endswith("after")


def test_heading_keeps_a_trailing_hash_that_belongs_to_the_text() -> None:
    _, sections = markdown_sections("# T\n## Using C#\nx\n## F# notes ###\ny")
    assert [s.path for s in sections] == [["Using C#"], ["F# notes"]]


def test_hashes_without_space_are_text_not_headings() -> None:
    _, sections = markdown_sections("#hashtag\n####### seven")
    assert _as_pairs(sections) == [([], "#hashtag\n####### seven")]


def test_empty_sections_are_dropped() -> None:
    title, sections = markdown_sections("# T\n## Empty\n\n## Full\ntext\n")
    assert title == "T"
    assert _as_pairs(sections) == [(["Full"], "text")]


# --- plain text --------------------------------------------------------------------------
def test_text_first_line_is_title() -> None:
    title, sections = text_sections("\n\nGuest Wi-Fi\n\nNetwork: Kumo-Guest\nRotates weekly.\n")
    assert title == "Guest Wi-Fi"
    assert _as_pairs(sections) == [([], "Network: Kumo-Guest\nRotates weekly.")]


def test_text_single_line_and_empty() -> None:
    assert text_sections("Only a title\n") == ("Only a title", [])
    assert text_sections("   \n\n") == (None, [])


# --- HTML --------------------------------------------------------------------------------
HTML = """<!DOCTYPE html>
<html><head>
<title>  Benefits
 Overview </title>
<style>body { color: red; }</style>
<script>var secret = "do-not-index";</script>
</head>
<body>
<h1>Benefits Overview</h1>
<p>Intro &amp; summary.</p>
<script>alert("also dropped")</script>
<h2>Health</h2>
<ul><li>Medical: <strong>PPO</strong></li><li>Dental</li></ul>
<h3>Vision</h3>
<p>Fully paid.</p>
<h2>Stipends</h2>
<table>
<thead><tr><th>Benefit</th><th>Amount</th></tr></thead>
<tbody>
<tr><td>Wellness</td><td>50 USD</td></tr>
<tr><td>Learning</td><td>1,500 USD</td></tr>
</tbody>
</table>
<noscript>Enable JavaScript</noscript>
</body></html>
"""


def test_html_title_and_heading_trail() -> None:
    title, sections = html_sections(HTML)
    assert title == "Benefits Overview"
    assert [s.path for s in sections] == [[], ["Health"], ["Health", "Vision"], ["Stipends"]]
    assert sections[0].text == "Intro & summary."
    assert sections[2].text == "Fully paid."


def test_html_lists_become_lines() -> None:
    _, sections = html_sections(HTML)
    lines = [line for line in sections[1].text.splitlines() if line.strip()]
    assert lines == ["- Medical: PPO", "- Dental"]


def test_html_tables_become_rows() -> None:
    _, sections = html_sections(HTML)
    rows = [line for line in sections[3].text.splitlines() if line.strip()]
    assert rows == ["Benefit | Amount", "Wellness | 50 USD", "Learning | 1,500 USD"]


def test_html_script_style_noscript_dropped() -> None:
    _, sections = html_sections(HTML)
    everything = "\n".join(s.text for s in sections)
    for dropped in ("do-not-index", "also dropped", "color: red", "Enable JavaScript"):
        assert dropped not in everything


def test_html_h1_is_title_when_no_title_tag() -> None:
    title, sections = html_sections("<h1>Only H1</h1><p>text</p><h2>Sub</h2><p>more</p>")
    assert title == "Only H1"
    assert _as_pairs(sections) == [([], "text"), (["Sub"], "more")]


def test_html_h1_different_from_title_opens_a_section() -> None:
    title, sections = html_sections("<title>Page</title><h1>Notes</h1><p>a</p><h2>Part</h2><p>b</p>")
    assert title == "Page"
    assert _as_pairs(sections) == [(["Notes"], "a"), (["Notes", "Part"], "b")]


def test_html_paragraphs_and_line_breaks() -> None:
    _, sections = html_sections("<p>one</p><p>two<br>three</p><div>four</div>")
    assert len(sections) == 1
    assert [line for line in sections[0].text.splitlines() if line] == ["one", "two", "three", "four"]
