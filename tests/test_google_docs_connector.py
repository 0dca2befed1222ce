"""Google Docs connector against the fake Drive v3 server: listing, export, ACL, changes, faults, credentials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from drive_server import DriveServer, Fault, drive_server_fixture, drive_server_session_fixture, user  # noqa: F401
from google.oauth2.credentials import Credentials
from google_fixtures import ALICE, BOB, ENG, FAST_RETRY, config_for, connector_for, seed, split
from poll_helpers import drain

from askdocs.connectors.base import ConnectorFailure
from askdocs.connectors.google.connector import GoogleDocsConnector, build
from askdocs.connectors.google.content import principals_from_permissions
from askdocs.connectors.google.drive import DriveClient
from askdocs.errors import SourceError
from askdocs.formats import PPTX, XLSX
from askdocs.ingest.extract import Extractor, extract_document
from askdocs.models import Location
from askdocs.settings import Settings

FOLDER_DOCS = {f"google-docs:doc-{i}" for i in ("handbook", "vpn", "budget", "roadmap", "published", "locked", "spec")}
FOLDER_DOCS |= {"google-docs:pdf-1"}  # a PDF file in the folder: downloaded for extraction


def test_permissions_map_to_principals() -> None:
    perms = [
        {"type": "user", "emailAddress": "Ana@Kumo.example", "role": "owner"},
        {"type": "group", "emailAddress": "eng@kumo.example", "role": "reader"},
        {"type": "domain", "domain": "kumo.example", "role": "commenter", "allowFileDiscovery": True},
        {"type": "anyone", "allowFileDiscovery": False, "role": "reader"},
        {"type": "user", "emailAddress": "gone@kumo.example", "deleted": True},
        {"type": "user"},
    ]
    assert principals_from_permissions(perms) == ["group:domain:kumo.example", "group:google:eng@kumo.example",
                                                  "user:ana@kumo.example"]  # fmt: skip
    assert "public" in principals_from_permissions(perms, link_sharing_public=True)
    assert principals_from_permissions([{"type": "anyone", "allowFileDiscovery": True}]) == ["public"]


def test_full_sync_of_folders_with_structure_metadata_and_acl(drive_server: DriveServer, tmp_path: Path) -> None:
    seed(drive_server.drive)
    connector = connector_for(drive_server, tmp_path)
    items, checkpoint = drain(connector.poll(None))
    docs, deleted, failures = split(items)
    assert not failures and not deleted
    assert set(docs) == FOLDER_DOCS, "trashed, outside the folders and (by default) Sheets/Slides excluded"
    handbook = docs["google-docs:doc-handbook"]
    assert handbook.title == "Engineering handbook"
    assert handbook.url == "https://docs.google.com/document/d/doc-handbook/edit"
    assert handbook.author == "Alice" and handbook.metadata["owners"] == [ALICE]
    assert handbook.updated_at is not None and handbook.updated_at.year == 2026
    assert handbook.metadata["export_format"] == "text/markdown"
    by_heading = {s.path[-1]: s.text for s in handbook.sections}
    assert "- Acknowledge the page" in by_heading["On-call"], "lists kept"
    assert "| Billing | Payments team |" in by_heading["Services"], "tables kept"
    assert handbook.acl == ["group:domain:kumo.example", f"group:google:{ENG}", f"user:{ALICE}"]
    assert docs["google-docs:doc-roadmap"].acl == [f"user:{ALICE}"], "anyone-with-link is not public by default"
    assert docs["google-docs:doc-published"].acl == ["public", f"user:{ALICE}"]
    assert docs["google-docs:doc-locked"].acl == [f"user:{ALICE}"], "unreadable sharing: owners only"
    assert docs["google-docs:doc-spec"].acl == ["user:bob@kumo.example", "user:carol@kumo.example"]
    assert set(checkpoint["folders"]) == {"fold-root", "fold-sub", "sd-folder"}
    lists = [params for op, params in drive_server.drive.log if op == "files.list"]
    assert len(lists) > 4, "pageSize 2 forces paging"
    for params in lists:
        assert "nextPageToken" in params["fields"] and "files(" in params["fields"] and params["pageSize"] == 2
        assert params["supportsAllDrives"] and params["includeItemsFromAllDrives"] and params["corpora"] == "allDrives"
        assert "trashed = false" in params["q"]


def test_everything_without_folders_and_sheets_slides_and_files_extracted(
    drive_server: DriveServer, tmp_path: Path, extractor: Extractor
) -> None:
    seed(drive_server.drive)
    connector = connector_for(drive_server, tmp_path, folder_ids=[], include_sheets_slides=True)
    items, _, failures = split(list(connector.load_all()))
    assert not failures
    assert set(items) == FOLDER_DOCS | {"google-docs:doc-outside", "google-docs:sheet-1", "google-docs:slides-1"}
    assert {items[f"google-docs:{i}"].metadata["export_format"] for i in ("sheet-1", "slides-1")} == {XLSX, PPTX}
    docs = {i: extract_document(extractor, doc) for i, doc in items.items()}
    sheet = docs["google-docs:sheet-1"]
    assert sheet.sections[0].text == "Search | 4\nBilling | 3" and sheet.sections[0].context == "Team | Heads"
    assert sheet.sections[0].location == Location(sheet="Sheet1", rows=(2, 3), anchor="gid=0")
    slides = docs["google-docs:slides-1"]
    assert slides.sections[0].text == "The kestrel project starts."
    assert slides.sections[0].location == Location(slide=1, anchor="slide=id.gslides1_0")
    pdf = docs["google-docs:pdf-1"]
    assert pdf.url == "https://drive.google.com/file/d/pdf-1/view" and pdf.title.startswith("Master Service Agreement")
    assert {s.location.page for s in pdf.sections} == {1, 2, 3}
    media = [params for op, params in drive_server.drive.log if op == "files.get" and params.get("alt") == "media"]
    assert len(media) == 1, "the PDF is downloaded; Docs editors files are exported"
    ids = set(connector.list_ids())
    assert ids == set(docs)
    mine = connector_for(drive_server, tmp_path, folder_ids=[], include_shared_drives=False)
    assert "google-docs:doc-spec" not in set(mine.list_ids())


def test_link_sharing_is_public_only_when_configured(drive_server: DriveServer, tmp_path: Path) -> None:
    seed(drive_server.drive)
    connector = connector_for(drive_server, tmp_path)
    connector.link_sharing_public = True
    docs, _, _ = split(list(connector.load_all()))
    assert "public" in docs["google-docs:doc-roadmap"].acl


def test_export_falls_back_when_a_format_is_not_offered(drive_server: DriveServer, tmp_path: Path) -> None:
    drive = drive_server.drive
    seed(drive)
    drive.change("doc-handbook", formats=("text/html", "text/plain"))
    drive.change("doc-vpn", formats=("text/plain",))
    docs, _, failures = split(list(connector_for(drive_server, tmp_path).load_all()))
    handbook = docs["google-docs:doc-handbook"]
    assert handbook.metadata["export_format"] == "text/html"
    assert {s.path[-1] for s in handbook.sections if s.path} == {"On-call", "Services"}
    assert "Billing | Payments team" in handbook.text and "Acknowledge the page" in handbook.text
    assert docs["google-docs:doc-vpn"].metadata["export_format"] == "text/plain"
    assert "kumolink up" in docs["google-docs:doc-vpn"].text
    assert not failures and len(docs) == len(FOLDER_DOCS)


def test_changes_feed_edit_trash_move_share_and_folder_moves(drive_server: DriveServer, tmp_path: Path) -> None:
    drive = drive_server.drive
    seed(drive)
    connector = connector_for(drive_server, tmp_path)
    _, checkpoint = drain(connector.poll(None))
    drive.change("doc-handbook", body="# Engineering handbook\n\nThe zeppelin rota changed.")
    drive.change("doc-roadmap", trashed=True)
    drive.change("doc-budget", parents=["fold-other"])
    drive.change("doc-outside", parents=["fold-sub"])
    drive.change("doc-published", permissions=[user(ALICE, "owner"), user(BOB)])
    drive.delete("doc-locked")
    drive.change("doc-trashed", body="still trashed")  # a change to a file out of scope: nothing to do
    items, checkpoint = drain(connector.poll(checkpoint))
    docs, deleted, failures = split(items)
    assert not failures
    assert set(docs) == {"google-docs:doc-handbook", "google-docs:doc-outside", "google-docs:doc-published"}
    assert "zeppelin" in docs["google-docs:doc-handbook"].text
    assert docs["google-docs:doc-published"].acl == [f"user:{ALICE}", f"user:{BOB}"]
    assert {"google-docs:doc-roadmap", "google-docs:doc-budget", "google-docs:doc-locked"} <= deleted
    assert "google-docs:doc-handbook" not in deleted
    # A folder moved out takes its documents with it; moved back, they return.
    drive.change("fold-sub", parents=["fold-other"])
    items, checkpoint = drain(connector.poll(checkpoint))
    docs, deleted, _ = split(items)
    assert not docs and deleted == {"google-docs:doc-vpn", "google-docs:doc-outside"}
    drive.change("fold-sub", parents=["fold-root"])
    docs, deleted, _ = split(drain(connector.poll(checkpoint))[0])
    assert set(docs) == {"google-docs:doc-vpn", "google-docs:doc-outside"} and not deleted
    assert drain(connector.poll(drain(connector.poll(checkpoint))[1]))[0] == [], "no changes: nothing yielded"


def test_failed_fetch_is_retried_on_the_next_poll(drive_server: DriveServer, tmp_path: Path) -> None:
    drive = drive_server.drive
    seed(drive)
    connector = connector_for(drive_server, tmp_path)
    _, checkpoint = drain(connector.poll(None))
    drive.change("doc-vpn", body="# VPN runbook\n\nUse the osprey gateway.")
    drive.faults.append(Fault("files.export", 503, "backendError", times=FAST_RETRY.max_retries + 1))
    items, checkpoint = drain(connector.poll(checkpoint))
    _, _, failures = split(items)
    assert [f.document_id for f in failures] == ["google-docs:doc-vpn"] and not failures[0].fatal
    assert checkpoint["retry"] == ["doc-vpn"]
    docs, _, failures = split(drain(connector.poll(checkpoint))[0])
    assert not failures and "osprey" in docs["google-docs:doc-vpn"].text


def test_rate_limit_storm_completes_with_nothing_lost(drive_server: DriveServer, tmp_path: Path) -> None:
    drive = drive_server.drive
    seed(drive)
    calm = connector_for(drive_server, tmp_path)
    expected, _ = drain(calm.poll(None))
    drive.storm = 0.35
    items, checkpoint = drain(connector_for(drive_server, tmp_path).poll(None))
    assert not split(items)[2]
    assert [i.model_dump() for i in items] == [i.model_dump() for i in expected]
    drive.change("doc-vpn", body="# VPN runbook\n\nThe storm petrel note.")
    drive.change("doc-roadmap", trashed=True)
    docs, deleted, failures = split(drain(connector_for(drive_server, tmp_path).poll(checkpoint))[0])
    assert not failures and set(docs) == {"google-docs:doc-vpn"} and deleted == {"google-docs:doc-roadmap"}
    assert drive.stats["throttled"] > 10


def test_credentials_or_scope_errors_fail_the_run(drive_server: DriveServer, tmp_path: Path) -> None:
    drive = drive_server.drive
    seed(drive)
    connector = connector_for(drive_server, tmp_path)
    drive.service_accounts.clear()  # the key is no longer trusted: the token endpoint refuses the JWT
    items, _ = drain(connector.poll(None))
    assert len(items) == 1 and items[0].fatal and "credentials" in items[0].message.lower()
    assert "PRIVATE KEY" not in items[0].message
    drive.tokens["narrow"] = "https://www.googleapis.com/auth/drive.metadata.readonly"
    narrow = GoogleDocsConnector(DriveClient(Credentials(token="narrow"), drive_server.endpoint, FAST_RETRY))
    items, _ = drain(narrow.poll(None))
    assert len(items) == 1 and items[0].fatal and "scopes" in items[0].message
    assert [f.fatal for f in narrow.list_ids() if isinstance(f, ConnectorFailure)] == [True]
    stranger = connector_for(drive_server, tmp_path, subject="mallory@kumo.example")
    assert drain(stranger.poll(None))[0][0].fatal, "a subject without domain-wide delegation is refused"
    delegated = connector_for(drive_server, tmp_path, subject=ALICE)
    assert len(split(list(delegated.load_all()))[0]) == len(FOLDER_DOCS)


def test_settings_errors_are_source_errors_without_secrets(drive_server: DriveServer, tmp_path: Path) -> None:
    config, settings = config_for(drive_server, tmp_path), Settings(data_dir=tmp_path / "data")
    with pytest.raises(SourceError, match="options.credentials_file or ASKDOCS_GOOGLE_CREDENTIALS_FILE"):
        build(config.model_copy(update={"credentials_file": None}), settings)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----secret"}))
    with pytest.raises(SourceError) as info:
        build(config.model_copy(update={"credentials_file": bad}), settings)
    assert "secret" not in str(info.value) and "malformed" in str(info.value)


def test_authorized_user_credentials_refresh_at_the_token_endpoint(drive_server: DriveServer, tmp_path: Path) -> None:
    drive = drive_server.drive
    seed(drive)
    drive.refresh_tokens.add("1//refresh-me")
    path = tmp_path / "user.json"
    info = {"type": "authorized_user", "client_id": "cid", "client_secret": "cs", "refresh_token": "1//refresh-me"}
    path.write_text(json.dumps(info))
    connector = connector_for(drive_server, tmp_path, credentials_file=path)
    # google-auth always sends authorized-user refreshes to Google's endpoint; point this one at the fake.
    connector.client.credentials = connector.client.credentials.with_token_uri(f"{drive_server.url}/token")
    docs, _, failures = split(list(connector.load_all()))
    assert not failures and set(docs) == FOLDER_DOCS
