"""Google Docs connector where real Drive differs from a naive reading (issue 21): export size limits per
format, link-only domain shares, every tab of a Sheet, unreadable sharing, limited-access folders."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import openpyxl
from drive_server import DriveServer, drive_server_fixture, drive_server_session_fixture, group, user  # noqa: F401
from google_fixtures import ALICE, BOB, CAROL, ENG, connector_for, seed, skips, split
from poll_helpers import drain

from askdocs.connectors.google.content import principals_from_permissions
from askdocs.connectors.google.reader import EXPORT_LIMIT
from askdocs.connectors.google.sharing import OWNERS_ONLY, UNREADABLE
from askdocs.formats import XLSX
from askdocs.ingest.extract import Extractor, extract_document
from askdocs.ingest.runner import run_source
from askdocs.ingest.state import CheckpointStore
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend

MB = 1024 * 1024
DIRECT = [{"inherited": False, "permissionType": "file", "role": "reader"}]
INHERITED = [{"inherited": True, "permissionType": "file", "role": "reader"}]


def test_image_heavy_doc_falls_back_to_a_smaller_format_and_an_unexportable_one_is_skipped_once(
    drive_server: DriveServer, tmp_path: Path
) -> None:
    drive = drive_server.drive
    seed(drive)
    drive.change("doc-handbook", image_bytes=8 * MB)  # base64 in the Markdown export: over 10 MB; HTML links it
    drive.change("doc-budget", pretend_size=11 * MB)  # every format over the limit
    connector = connector_for(drive_server, tmp_path)
    items, checkpoint = drain(connector.poll(None))
    docs, _, failures = split(items)
    assert not failures, failures
    handbook = docs["google-docs:doc-handbook"]
    assert handbook.metadata["export_format"] == "text/html", "the 403 exportSizeLimitExceeded led to HTML"
    assert "Acknowledge the page" in handbook.text and "base64" not in handbook.text
    assert "google-docs:doc-budget" not in docs
    assert skips(items) == {EXPORT_LIMIT: 1, OWNERS_ONLY: 1}  # (Salaries: its sharing is unreadable)
    assert checkpoint["retry"] == [], "a file no format can export is not retried on every poll"
    asked = len(drive.log)
    items, checkpoint = drain(connector.poll(checkpoint))
    assert items == [] and not [op for op, _ in drive.log[asked:] if op == "files.export"]
    drive.change("doc-budget", pretend_size=0)  # trimmed: its change brings it back
    docs, _, _ = split(drain(connector.poll(checkpoint))[0])
    assert "falcon" in docs["google-docs:doc-budget"].text


def test_link_only_domain_share_grants_nothing(drive_server: DriveServer, tmp_path: Path) -> None:
    link_only = {"id": "d2", "type": "domain", "role": "reader", "domain": "kumo.example", "allowFileDiscovery": False}
    assert principals_from_permissions([link_only]) == []
    assert principals_from_permissions([dict(link_only, allowFileDiscovery=True)]) == ["group:domain:kumo.example"]
    assert principals_from_permissions([link_only], link_sharing_public=True) == ["group:domain:kumo.example"]
    drive = drive_server.drive
    seed(drive)
    drive.change("doc-budget", permissions=[user(ALICE, "owner"), link_only])
    docs, _, _ = split(list(connector_for(drive_server, tmp_path).load_all()))
    assert docs["google-docs:doc-budget"].acl == [f"user:{ALICE}"]
    assert "group:domain:kumo.example" in docs["google-docs:doc-handbook"].acl, "a discoverable domain share counts"


def _workbook(tabs: dict[str, list[list[Any]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in tabs.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_every_tab_of_a_sheet_is_indexed(drive_server: DriveServer, tmp_path: Path, extractor: Extractor) -> None:
    drive = drive_server.drive
    seed(drive)
    tabs = {
        "Staff": [["Team", "Heads"], ["Search", "4"]],
        "Budget": [["Line", "EUR"], ["Albatross", "9000"]],
        "Risks": [["Risk", "Owner"], ["Cormorant outage", "Bob"]],
    }
    drive.change("sheet-1", content=_workbook(tabs))
    connector = connector_for(drive_server, tmp_path, include_sheets_slides=True)
    docs, _, failures = split(list(connector.load_all()))
    assert not failures
    sheet = extract_document(extractor, docs["google-docs:sheet-1"])
    assert docs["google-docs:sheet-1"].metadata["export_format"] == XLSX
    by_tab = {s.location.sheet: s.text for s in sheet.sections if s.location}
    assert set(by_tab) == set(tabs)
    assert "Albatross" in by_tab["Budget"] and "Cormorant outage" in by_tab["Risks"]
    # Over the export limit as XLSX: the Sheets API gives every tab's values (CSV would be the first tab only).
    drive.change("sheet-1", pretend_size=11 * MB)
    docs, _, failures = split(list(connector.load_all()))
    big = extract_document(extractor, docs["google-docs:sheet-1"])
    assert not failures and {s.location.sheet for s in big.sections if s.location} == set(tabs)
    assert "Cormorant outage" in big.text and big.sections[0].location.anchor == "gid=0"  # type: ignore[union-attr]
    assert [op for op, _ in drive.log].count("spreadsheets.values.batchGet") == 1
    headers = {"authorization": "Bearer test-token"}
    drive.change("sheet-1", pretend_size=0)
    csv_export = httpx.get(f"{drive_server.endpoint}files/sheet-1/export", params={"mimeType": "text/csv"},
                           headers=headers)  # fmt: skip
    assert b"Search" in csv_export.content and b"Albatross" not in csv_export.content, "the fake: first sheet only"


def test_unreadable_sharing_fails_closed_and_is_counted(
    drive_server: DriveServer, tmp_path: Path, make_indexer: Any
) -> None:
    drive = drive_server.drive
    seed(drive)
    drive.change("doc-spec", can_share=False)  # a shared-drive item whose sharing the caller cannot read
    connector = connector_for(drive_server, tmp_path)
    items, _ = drain(connector.poll(None))
    docs, _, failures = split(items)
    assert not failures and "google-docs:doc-spec" not in docs
    assert docs["google-docs:doc-locked"].acl == [f"user:{ALICE}"], "My Drive: its owner only"
    assert skips(items) == {UNREADABLE: 1, OWNERS_ONLY: 1}
    # The sync report shows both.
    indexer = make_indexer(Index(EdgeBackend(tmp_path / "edge")))
    report = run_source(indexer, connector_for(drive_server, tmp_path), CheckpointStore(tmp_path / "state"))
    assert report.status == "succeeded" and report.skipped == {UNREADABLE: 1, OWNERS_ONLY: 1}, report.summary()
    assert "unreadable permissions" in report.summary()


def test_domain_admin_access_reads_shared_drive_members(drive_server: DriveServer, tmp_path: Path) -> None:
    drive = drive_server.drive
    seed(drive)
    drive.change("doc-spec", can_share=False)
    drive.drives["drive-1"] = [user(CAROL, "organizer"), group(ENG)]
    not_admin = connector_for(drive_server, tmp_path, subject=ALICE, use_domain_admin_access=True)
    items, _ = drain(not_admin.poll(None))
    assert "google-docs:doc-spec" not in split(items)[0] and skips(items)[UNREADABLE] == 1, "not an admin: skipped"
    drive.admins.add(ALICE)
    asked = len(drive.log)
    admin = connector_for(drive_server, tmp_path, subject=ALICE, use_domain_admin_access=True)
    docs, _, failures = split(drain(admin.poll(None))[0])
    assert not failures and docs["google-docs:doc-spec"].acl == [f"group:google:{ENG}", f"user:{CAROL}"]
    listed = [p for op, p in drive.log[asked:] if op == "permissions.list" and p.get("useDomainAdminAccess")]
    assert len(listed) == 1, "the drive's members are read once per run"
    off = connector_for(drive_server, tmp_path, subject=ALICE)
    assert "google-docs:doc-spec" not in split(list(off.load_all()))[0], "only when the setting is on"


def test_limited_access_folder_inherited_permissions_grant_nothing(drive_server: DriveServer, tmp_path: Path) -> None:
    drive = drive_server.drive
    seed(drive)
    # Runbooks becomes a limited-access folder shared directly with Bob only; its parent Team is shared with eng.
    drive.change(
        "fold-sub", limited=True, permissions=[user(ALICE, "owner"), dict(user(BOB), permissionDetails=DIRECT)]
    )
    drive.change("doc-vpn", permissions=[
        user(ALICE, "owner"),
        dict(group(ENG), permissionDetails=INHERITED),  # inherited from Team: no longer grants
        dict(user(BOB), permissionDetails=INHERITED),  # inherited from Runbooks, which grants Bob directly
        dict(user(CAROL), permissionDetails=DIRECT),  # shared on the document itself
        {"id": "u-x", "type": "user", "role": "reader", "emailAddress": "x@kumo.example"},  # no details: inherited
    ])  # fmt: skip
    expected = [f"user:{ALICE}", f"user:{BOB}", f"user:{CAROL}"]
    for folders in (["fold-root", "sd-folder"], []):  # the folder tree listed, or climbed with files.get
        docs, _, failures = split(list(connector_for(drive_server, tmp_path, folder_ids=folders).load_all()))
        assert not failures and docs["google-docs:doc-vpn"].acl == expected, folders
    # The folder's own sharing unreadable: only what is direct on the document, and its owner (the folder is not
    # counted as a skipped document).
    drive.change("fold-sub", can_share=False)
    items = list(connector_for(drive_server, tmp_path).load_all())
    assert split(items)[0]["google-docs:doc-vpn"].acl == [f"user:{ALICE}", f"user:{CAROL}"]
    assert skips(items) == {OWNERS_ONLY: 1}, "Salaries only"
    # A permission Drive marks as disabled by limited access counts only when it is direct.
    disabled = dict(group(ENG), inheritedPermissionsDisabled=True)
    assert principals_from_permissions([disabled]) == []
    assert principals_from_permissions([dict(disabled, permissionDetails=DIRECT)]) == [f"group:google:{ENG}"]


def test_a_folder_made_limited_later_narrows_the_documents_below(drive_server: DriveServer, tmp_path: Path) -> None:
    drive = drive_server.drive
    seed(drive)
    for folders in (["fold-root", "sd-folder"], []):
        drive.change("fold-sub", limited=False)
        connector = connector_for(drive_server, tmp_path, folder_ids=folders)
        items, checkpoint = drain(connector.poll(None))
        assert split(items)[0]["google-docs:doc-vpn"].acl == [f"user:{ALICE}", f"user:{BOB}"]
        drive.change("fold-sub", limited=True)  # only the folder changes: Bob's share on the VPN runbook is inherited
        docs, deleted, failures = split(drain(connector.poll(checkpoint))[0])
        assert not failures and not deleted and set(docs) == {"google-docs:doc-vpn"}, folders
        assert docs["google-docs:doc-vpn"].acl == [f"user:{ALICE}"], folders
