"""The files connector: loading a folder, access rules, failures as values, listing and polling."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from poll_helpers import drain as drain_all

from askdocs.connectors.base import (
    ConnectorFailure,
    DocumentDeleted,
    LoadConnector,
    PollConnector,
    Skipped,
    SlimConnector,
)
from askdocs.connectors.files.connector import AclFile, FilesConnector
from askdocs.models import Document


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def bump_mtime(path: Path, seconds: int = 10) -> None:
    """Move a file's modification time forward so a change is seen even within one clock tick."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))


ACL = """
default = ["public"]

[[rule]]
pattern = "hr/private/*"
principals = ["user:mei@kumo.example"]

[[rule]]
pattern = "hr/*"
principals = ["group:hr"]

[[rule]]
pattern = "*.secret.md"
principals = ["group:leadership", "group:finance"]
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    write(root / "_acl.toml", ACL)
    write(root / "guide.md", "---\ntitle: Front Title\nauthor: Ann\ncreated: 2026-03-01T09:00:00\n---\n# H1\nBody.\n")
    write(root / "notes.txt", "Notes title\n\nline one\nline two\n")
    write(root / "web" / "page.html", "<title>Web Page</title><h2>Part</h2><p>Hello</p>")
    write(root / "web" / "legacy.HTM", "<h1>Legacy</h1><p>Old page</p>")
    write(root / "hr" / "leave.md", "# Leave\nSixteen weeks.\n")
    write(root / "hr" / "private" / "mei.md", "# Mei\nRelocation.\n")
    write(root / "plans" / "q3.secret.md", "# Q3\nBudget.\n")
    # Read although '_'-prefixed: only the connector's own _acl.toml is not a document.
    write(root / "_index.md", "# Section index\n")
    write(root / "_drafts" / "draft.md", "# Draft\n")
    # Skipped, and counted: hidden files and folders (once each), unsupported suffixes.
    write(root / ".hidden.md", "# Hidden\n")
    write(root / ".git" / "README.md", "# Git internals\n")
    write(root / ".git" / "objects" / "ab.md", "# Git object\n")
    write(root / "image.png", b"\x89PNG\r\n")
    write(root / "data.json", '{"a": 1}')
    write(root / "README", "no suffix\n")
    return root


def drain(gen: Any) -> tuple[list[Any], Any]:
    """A poll's items without the skipped counts (``test_skipped_items_are_counted_by_reason`` checks those)."""
    items, checkpoint = drain_all(gen)
    return [i for i in items if not isinstance(i, Skipped)], checkpoint


def load(root: Path) -> dict[str, Document]:
    items = [i for i in FilesConnector(root).load_all() if not isinstance(i, Skipped)]
    assert all(isinstance(i, Document) for i in items), items
    return {d.id: d for d in items}


def test_implements_the_connector_protocols(folder: Path) -> None:
    connector = FilesConnector(folder)
    assert isinstance(connector, LoadConnector)
    assert isinstance(connector, PollConnector)
    assert isinstance(connector, SlimConnector)
    assert connector.source == "files"


def test_load_all_reads_supported_files_only(folder: Path) -> None:
    docs = load(folder)
    assert sorted(docs) == [
        "files:_drafts/draft.md",
        "files:_index.md",
        "files:guide.md",
        "files:hr/leave.md",
        "files:hr/private/mei.md",
        "files:notes.txt",
        "files:plans/q3.secret.md",
        "files:web/legacy.HTM",
        "files:web/page.html",
    ]


EXPECTED_SKIPS = {"hidden": 2, "unsupported type (none)": 1, "unsupported type .json": 1, "unsupported type .png": 1}


def test_skipped_items_are_counted_by_reason(folder: Path) -> None:
    skipped = [i for i in FilesConnector(folder).load_all() if isinstance(i, Skipped)]
    assert {s.reason: s.count for s in skipped} == EXPECTED_SKIPS
    polled, _ = drain_all(FilesConnector(folder).poll(None))
    assert {s.reason: s.count for s in polled if isinstance(s, Skipped)} == EXPECTED_SKIPS


def test_documents_carry_parsed_content_and_metadata(folder: Path) -> None:
    docs = load(folder)
    guide = docs["files:guide.md"]
    assert guide.source == "files"
    assert guide.title == "Front Title"  # front matter wins over the H1
    assert guide.author == "Ann"
    assert guide.created_at is not None and guide.created_at.isoformat() == "2026-03-01T09:00:00+00:00"
    assert guide.updated_at is not None and guide.updated_at.tzinfo is not None
    assert guide.updated_at.timestamp() == pytest.approx((folder / "guide.md").stat().st_mtime)
    assert guide.metadata == {"path": "guide.md", "format": "markdown"}
    assert guide.url == (folder / "guide.md").resolve().as_uri()
    assert [(s.path, s.text) for s in guide.sections] == [(["H1"], "Body.")]

    notes = docs["files:notes.txt"]
    assert (notes.title, notes.metadata["format"]) == ("Notes title", "text")
    assert notes.sections[0].text == "line one\nline two"

    page = docs["files:web/page.html"]
    assert (page.title, page.metadata["format"]) == ("Web Page", "html")
    assert [(s.path, s.text) for s in page.sections] == [(["Part"], "Hello")]
    assert docs["files:web/legacy.HTM"].title == "Legacy"


def test_base_url_builds_links(folder: Path) -> None:
    docs = {
        d.id: d
        for d in FilesConnector(folder, base_url="https://wiki.example/docs/").load_all()
        if isinstance(d, Document)
    }
    assert docs["files:web/page.html"].url == "https://wiki.example/docs/web/page.html"


def test_empty_file_gets_a_title_and_text(tmp_path: Path) -> None:
    write(tmp_path / "empty-notes.md", "")
    (doc,) = load(tmp_path).values()
    assert doc.title == "empty-notes"
    assert doc.text.strip() != ""  # something to chunk, so the document is indexed like any other


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    write(tmp_path / "bom.md", "\ufeff# With BOM\ntext\n".encode())
    (doc,) = load(tmp_path).values()
    assert doc.title == "With BOM"


# --- access rules ------------------------------------------------------------------------
def test_acl_first_matching_rule_wins_and_default_applies(folder: Path) -> None:
    docs = load(folder)
    assert docs["files:hr/private/mei.md"].acl == ["user:mei@kumo.example"]  # listed before hr/*
    assert docs["files:hr/leave.md"].acl == ["group:hr"]
    assert docs["files:plans/q3.secret.md"].acl == ["group:leadership", "group:finance"]
    assert docs["files:guide.md"].acl == ["public"]
    assert docs["files:web/page.html"].acl == ["public"]


def test_acl_rule_order_matters() -> None:
    rules = {
        "rule": [{"pattern": "hr/*", "principals": ["group:hr"]}, {"pattern": "hr/x.md", "principals": ["user:a"]}]
    }
    assert AclFile.model_validate(rules).principals_for("hr/x.md") == ["group:hr"]
    rules["rule"].reverse()
    assert AclFile.model_validate(rules).principals_for("hr/x.md") == ["user:a"]


def test_acl_glob_star_spans_folders_and_is_case_sensitive() -> None:
    acl = AclFile.model_validate(
        {"default": ["group:staff"], "rule": [{"pattern": "hr/*", "principals": ["group:hr"]}]}
    )
    assert acl.principals_for("hr/a/b/c.md") == ["group:hr"]
    assert acl.principals_for("HR/a.md") == ["group:staff"]
    assert acl.principals_for("other/hr/a.md") == ["group:staff"]


def test_without_acl_file_everything_is_public(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# A\n")
    assert load(tmp_path)["files:a.md"].acl == ["public"]


def test_acl_file_default_is_used(tmp_path: Path) -> None:
    write(tmp_path / "_acl.toml", 'default = ["group:staff"]\n')
    write(tmp_path / "a.md", "# A\n")
    assert load(tmp_path)["files:a.md"].acl == ["group:staff"]


@pytest.mark.parametrize(
    "acl_text",
    [
        "this is [not toml",
        '[[rule]]\npattern = "x/*"\nprincipals = ["everyone"]\n',  # not a principal
        '[[rule]]\npattern = "x/*"\nprincipals = []\n',  # no principal
        '[[rule]]\nprincipals = ["public"]\n',  # no pattern
        'default = ["nobody"]\n',  # invalid default
        "default = []\n",  # empty default
        '[[rules]]\npattern = "secret/*"\nprincipals = ["group:x"]\n',  # typo: would make secret/ public
        '[[rule]]\npattern = "secret/*"\nprincipal = ["group:x"]\n',  # typo inside a rule
    ],
)
def test_invalid_acl_file_fails_closed(tmp_path: Path, acl_text: str) -> None:
    write(tmp_path / "_acl.toml", acl_text)
    write(tmp_path / "secret" / "plan.md", "# Plan\n")
    write(tmp_path / "public.md", "# Public\n")
    items = list(FilesConnector(tmp_path).load_all())
    assert len(items) == 1, items  # one fatal failure and no documents at all
    (failure,) = items
    assert isinstance(failure, ConnectorFailure)
    assert failure.fatal and failure.source == "files" and failure.document_id is None
    assert "_acl.toml" in failure.message and "invalid access rules" in failure.message
    ids = list(FilesConnector(tmp_path).list_ids())
    assert len(ids) == 1 and isinstance(ids[0], ConnectorFailure) and ids[0].fatal


def test_undecodable_acl_file_fails_closed(tmp_path: Path) -> None:
    write(tmp_path / "_acl.toml", b'default = ["\xff\xfe"]\n')
    write(tmp_path / "a.md", "# A\n")
    items = list(FilesConnector(tmp_path).load_all())
    assert len(items) == 1 and isinstance(items[0], ConnectorFailure) and items[0].fatal


# --- failures ----------------------------------------------------------------------------
def test_undecodable_file_is_a_non_fatal_failure(folder: Path) -> None:
    write(folder / "broken.md", b"# Broken\n\xff\xfe\xfa not utf-8\n")
    items = list(FilesConnector(folder).load_all())
    failures = [i for i in items if isinstance(i, ConnectorFailure)]
    assert len(failures) == 1
    assert failures[0].document_id == "files:broken.md"
    assert failures[0].fatal is False
    assert "broken.md" in failures[0].message
    # The other documents are still loaded.
    assert len([i for i in items if isinstance(i, Document)]) == 9


def test_missing_folder_is_a_fatal_failure(tmp_path: Path) -> None:
    connector = FilesConnector(tmp_path / "does-not-exist")
    for items in (list(connector.load_all()), list(connector.list_ids()), drain(connector.poll(None))[0]):
        assert len(items) == 1
        assert isinstance(items[0], ConnectorFailure) and items[0].fatal
        assert "folder not found" in items[0].message


# --- listing -----------------------------------------------------------------------------
def test_list_ids_matches_load_all(folder: Path) -> None:
    ids = list(FilesConnector(folder).list_ids())
    assert all(isinstance(i, str) for i in ids)
    assert sorted(ids) == sorted(load(folder))


def test_sample_workspace_loads_cleanly(sample_workspace: Path) -> None:
    docs = load(sample_workspace)
    assert len(docs) == 44  # 33 Markdown/text/HTML files and 11 PDF, Office and CSV files
    assert sum(doc.blob is not None for doc in docs.values()) == 11
    assert docs["files:finance/vendor-rates-2026.xlsx"].acl == ["group:finance", "group:leadership"]
    assert docs["files:hr/private/mei-tanaka-relocation.md"].acl == ["user:mei.tanaka@kumo.example"]
    assert docs["files:finance/q3-2026-budget.md"].acl == ["group:finance", "group:leadership"]
    assert docs["files:leadership/reorg-plan-2027.md"].acl == ["group:leadership"]
    assert docs["files:tokyo/managers/kyuyo-kaitei-2027.md"].acl == ["group:tokyo-managers"]
    assert docs["files:tokyo/office-guide.md"].acl == ["public"]


# --- polling -----------------------------------------------------------------------------
def roundtrip(checkpoint: Any) -> Any:
    """Checkpoints are stored as JSON between runs."""
    return json.loads(json.dumps(checkpoint))


def test_poll_sequence(folder: Path) -> None:
    connector = FilesConnector(folder)

    items, checkpoint = drain(connector.poll(None))
    assert sorted(i.id for i in items) == sorted(load(folder))
    assert roundtrip(checkpoint) == checkpoint

    items, checkpoint2 = drain(connector.poll(roundtrip(checkpoint)))
    assert items == []
    assert checkpoint2 == checkpoint

    (folder / "notes.txt").write_text("Notes title\n\nchanged text\n", encoding="utf-8")
    bump_mtime(folder / "notes.txt")
    items, checkpoint3 = drain(connector.poll(roundtrip(checkpoint2)))
    assert [(type(i), i.id) for i in items] == [(Document, "files:notes.txt")]
    assert "changed text" in items[0].text

    (folder / "web" / "page.html").unlink()
    write(folder / "new.md", "# New\n")
    items, checkpoint4 = drain(connector.poll(roundtrip(checkpoint3)))
    assert [i.id for i in items if isinstance(i, Document)] == ["files:new.md"]
    assert [i.document_id for i in items if isinstance(i, DocumentDeleted)] == ["files:web/page.html"]
    assert "web/page.html" not in checkpoint4["files"]

    items, _ = drain(connector.poll(roundtrip(checkpoint4)))
    assert items == []


def test_poll_sees_touch_without_content_change(folder: Path) -> None:
    connector = FilesConnector(folder)
    _, checkpoint = drain(connector.poll(None))
    bump_mtime(folder / "guide.md")
    items, _ = drain(connector.poll(roundtrip(checkpoint)))
    assert [i.id for i in items] == ["files:guide.md"]


def test_poll_acl_change_reyields_everything(folder: Path) -> None:
    connector = FilesConnector(folder)
    _, checkpoint = drain(connector.poll(None))
    (folder / "_acl.toml").write_text(ACL.replace('"group:hr"', '"group:people"'), encoding="utf-8")
    items, checkpoint2 = drain(connector.poll(roundtrip(checkpoint)))
    docs = {i.id: i for i in items}
    assert sorted(docs) == sorted(load(folder))
    assert docs["files:hr/leave.md"].acl == ["group:people"]
    assert checkpoint2["acl"] != checkpoint["acl"]
    assert drain(connector.poll(roundtrip(checkpoint2)))[0] == []


def test_poll_invalid_acl_returns_old_checkpoint(folder: Path) -> None:
    connector = FilesConnector(folder)
    _, checkpoint = drain(connector.poll(None))
    (folder / "_acl.toml").write_text("broken = [", encoding="utf-8")
    (folder / "guide.md").unlink()
    items, checkpoint2 = drain(connector.poll(roundtrip(checkpoint)))
    assert len(items) == 1 and isinstance(items[0], ConnectorFailure) and items[0].fatal
    assert checkpoint2 == checkpoint  # nothing advanced, no deletion reported


def test_poll_retries_a_failed_file(folder: Path) -> None:
    connector = FilesConnector(folder)
    _, checkpoint = drain(connector.poll(None))
    write(folder / "guide.md", b"\xff\xfe broken")
    bump_mtime(folder / "guide.md")
    items, checkpoint2 = drain(connector.poll(roundtrip(checkpoint)))
    assert len(items) == 1 and isinstance(items[0], ConnectorFailure)
    assert items[0].document_id == "files:guide.md" and not items[0].fatal
    # The failed file is not recorded as seen: the next poll tries it again.
    items, _ = drain(connector.poll(roundtrip(checkpoint2)))
    assert len(items) == 1 and isinstance(items[0], ConnectorFailure)
    write(folder / "guide.md", "# Fixed\n")
    bump_mtime(folder / "guide.md", 20)
    items, _ = drain(connector.poll(roundtrip(checkpoint2)))
    assert [(type(i), i.id) for i in items] == [(Document, "files:guide.md")]
