"""Confluence storage format to text, attachment parsing, and restriction responses to principals.

Snippets are shaped like Atlassian's "Confluence Storage Format" documentation and real Cloud page bodies.
"""

from __future__ import annotations

import pytest

from askdocs.connectors.confluence.acl import (
    NOBODY,
    effective_acl,
    group_principal,
    parse_read_restriction,
    user_principal,
)
from askdocs.connectors.confluence.client import ConfluenceError
from askdocs.connectors.confluence.storage import (
    attachment_kind,
    attachment_sections,
    storage_to_sections,
    storage_to_text,
)

# From the documented storage-format examples: a fragment, no root element, CDATA link bodies.
DOC_SNIPPETS = """<h1>Heading 1</h1>
<p><strong>strong text</strong> <em>Italics Text</em> <code>monospaced</code></p>
<ac:link><ri:page ri:content-title="Page Title" /><ac:plain-text-link-body><![CDATA[Link to another Confluence Page]]>\
</ac:plain-text-link-body></ac:link>
<ac:link><ri:attachment ri:filename="atlassian_logo.gif" /><ac:plain-text-link-body><![CDATA[Link to a Confluence \
Attachment]]></ac:plain-text-link-body></ac:link>
<ac:link ac:anchor="anchor"><ac:plain-text-link-body><![CDATA[Anchor Link]]></ac:plain-text-link-body></ac:link>
<ac:link><ri:page ri:content-title="Home" ri:space-key="SANDBOX" /><ac:link-body>Some <strong>Rich</strong> Text\
</ac:link-body></ac:link>
<ac:task-list><ac:task><ac:task-status>incomplete</ac:task-status><ac:task-body>task list item</ac:task-body></ac:task>\
<ac:task><ac:task-status>complete</ac:task-status><ac:task-body>done item</ac:task-body></ac:task></ac:task-list>"""

CODE = """<p>Connect&nbsp;first&hellip;</p><ac:structured-macro ac:name="code" ac:schema-version="1" \
ac:macro-id="d0e1"><ac:parameter ac:name="language">python</ac:parameter><ac:parameter ac:name="title">check.py\
</ac:parameter><ac:plain-text-body><![CDATA[if a < b and c > d & e:
    print("<tag>")]]></ac:plain-text-body></ac:structured-macro>"""

PANELS = """<ac:structured-macro ac:name="info"><ac:parameter ac:name="title">Before you start</ac:parameter>\
<ac:rich-text-body><p>Ask IT for a token.</p></ac:rich-text-body></ac:structured-macro>
<ac:structured-macro ac:name="note"><ac:rich-text-body><p>Tokens expire.</p></ac:rich-text-body>\
</ac:structured-macro><ac:structured-macro ac:name="toc"><ac:parameter ac:name="maxLevel">2</ac:parameter>\
</ac:structured-macro><p>State: <ac:structured-macro ac:name="status"><ac:parameter ac:name="colour">Green\
</ac:parameter><ac:parameter ac:name="title">APPROVED</ac:parameter></ac:structured-macro> \
<ac:emoticon ac:name="tick" /> <ac:emoticon ac:name="blue-star" ac:emoji-shortname=":rocket:" \
ac:emoji-fallback="🚀" /></p>"""

STRUCTURE = """<h2>Regions</h2><table data-layout="default"><colgroup><col style="width: 200px;" /></colgroup>\
<tbody><tr><th><p><strong>Region</strong></p></th><th><p>Gateway</p></th></tr><tr><td><p>Tokyo</p></td>\
<td><p>gw-tyo</p></td></tr></tbody></table><h3>Steps</h3><ol><li><p>Install</p><ul><li>on macOS</li>\
<li>on Linux</li></ul></li><li>Connect<br />then verify</li></ol><ac:layout><ac:layout-section ac:type="two_equal">\
<ac:layout-cell><h2>Support</h2><p>Ask <ac:link><ri:user ri:account-id="5b10ac8d82e05b22cc7d4ef5" /></ac:link> in \
#it-help.</p></ac:layout-cell><ac:layout-cell><p><ac:image><ri:attachment ri:filename="vpn.png" /></ac:image>\
Diagram above. Updated <time datetime="2026-01-15" />.</p></ac:layout-cell></ac:layout-section></ac:layout>"""


def test_documented_snippets_read_as_text() -> None:
    sections = storage_to_sections(DOC_SNIPPETS)
    assert sections[0].path == ["Heading 1"]
    text = sections[0].text
    assert "strong text Italics Text monospaced" in text
    for expected in (
        "Link to another Confluence Page",
        "Link to a Confluence Attachment",
        "Anchor Link",
        "Some Rich Text",
        "[ ] task list item",
        "[x] done item",
    ):
        assert expected in text
    assert "<" not in text and "ri:" not in text


def test_link_without_body_reads_as_page_title() -> None:
    text = storage_to_text('<p>See <ac:link><ri:page ri:content-title="VPN Guide" ri:space-key="IT" /></ac:link>.</p>')
    assert text == "See VPN Guide."


def test_code_macro_keeps_cdata_verbatim_and_entities_decode() -> None:
    text = storage_to_text(CODE)
    assert "Connect first…" in text
    assert 'check.py\n```python\nif a < b and c > d & e:\n    print("<tag>")\n```' in text


def test_panels_status_and_emoticons() -> None:
    text = storage_to_text(PANELS)
    assert "Info: Before you start\nAsk IT for a token." in text
    assert "Note\nTokens expire." in text
    assert "maxLevel" not in text and "2" not in text.split("Tokens expire.")[1].split("State")[0]
    assert "State: [APPROVED] :tick: 🚀" in text


def test_headings_tables_lists_and_layouts() -> None:
    sections = storage_to_sections(STRUCTURE)
    by_path: dict[str, str] = {}
    for section in sections:
        key = " > ".join(section.path)
        by_path[key] = f"{by_path[key]}\n\n{section.text}" if key in by_path else section.text
    assert by_path["Regions"] == "Region | Gateway\nTokyo | gw-tyo"
    assert by_path["Regions > Steps"] == "1. Install\n  - on macOS\n  - on Linux\n2. Connect then verify"
    assert "Ask @user in #it-help." in by_path["Support"]
    assert "Diagram above. Updated 2026-01-15." in by_path["Support"]
    assert "width" not in by_path["Regions"]


def test_malformed_and_empty_bodies_do_not_raise() -> None:
    assert storage_to_sections("") == []
    text = storage_to_text("<p>unclosed <strong>bold<p>next</div></ac:rich-text-body> &amp; &unknown; end")
    assert text.split() == ["unclosed", "bold", "next", "&", "&unknown;", "end"]


def test_attachment_kinds_and_csv_rows() -> None:
    assert attachment_kind("notes.TXT", "application/octet-stream") == "text"
    assert attachment_kind("export", "text/csv; charset=utf-8") == "csv"
    assert attachment_kind("diagram.png", "image/png") is None
    assert attachment_kind("spec.pdf", "application/pdf") is None  # no maintained PDF parser is a dependency
    sections = attachment_sections('name,"city, country"\nAna,"Tokyo, JP"\n', "csv", "people.csv")
    assert sections[0].text == "name | city, country\nAna | Tokyo, JP"
    assert attachment_sections("", "text", "empty.txt")[0].text == "empty.txt"


# The documented "byOperation" shape (all operations); Data Center sample, empty lists = no restriction.
ALL_OPERATIONS_UNRESTRICTED = {
    "restrictions": {
        "read": {
            "operation": "read",
            "restrictions": {
                "user": {"results": [], "start": 0, "limit": 200, "size": 0},
                "group": {"results": [], "start": 0, "limit": 200, "size": 0},
            },
        },
        "update": {
            "operation": "update",
            "restrictions": {
                "user": {"results": [], "start": 0, "limit": 200, "size": 0},
                "group": {"results": [], "start": 0, "limit": 200, "size": 0},
            },
        },
    }
}
READ_RESTRICTED = {
    "operation": "read",
    "restrictions": {
        "user": {
            "results": [
                {
                    "type": "known",
                    "accountId": "5b10a2844c20165700ede21g",
                    "accountType": "atlassian",
                    "email": "Alice@Kumo.example",
                    "publicName": "Alice",
                },
                {
                    "type": "known",
                    "accountId": "712020:9a1c",
                    "accountType": "atlassian",
                    "email": "",
                    "publicName": "Bob",
                },
            ],
            "start": 0,
            "limit": 100,
            "size": 2,
        },
        "group": {
            "results": [
                {"type": "group", "name": "security", "id": "a1b2"},
                {"type": "group", "name": "Site Admins", "id": "c3d4"},
            ],
            "start": 0,
            "limit": 100,
            "size": 2,
        },
    },
}


def test_restriction_responses_to_principals() -> None:
    assert parse_read_restriction([ALL_OPERATIONS_UNRESTRICTED]) is None
    assert parse_read_restriction([READ_RESTRICTED]) == {
        "user:alice@kumo.example",
        "user:confluence:712020:9a1c",
        "group:confluence:security",
        "group:confluence-id:c3d4",
    }
    with pytest.raises(ConfluenceError):
        parse_read_restriction([{"operation": "read", "restrictions": {"user": {"results": []}}}])
    assert user_principal({"email": "", "accountId": ""}) is None
    assert group_principal({"name": "eng-leads"}) == "group:confluence:eng-leads", "qualified by its source"


def test_inherited_restrictions_intersect_and_fail_closed() -> None:
    team = frozenset({"group:security", "user:alice@kumo.example"})
    assert effective_acl([None, None], "ENG") == ["space:ENG"]
    assert effective_acl([None, team, None], "ENG") == sorted(team)
    assert effective_acl([team, frozenset({"user:alice@kumo.example", "user:bob@kumo.example"})], "ENG") == [
        "user:alice@kumo.example"
    ]
    assert effective_acl([team, frozenset({"group:finance"})], "ENG") == [NOBODY]
    assert effective_acl([frozenset({NOBODY})], "ENG") == [NOBODY]
