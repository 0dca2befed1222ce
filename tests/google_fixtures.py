"""A sample Drive for the Google Docs connector tests and helpers to build connectors against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drive_exports import DOC, SHEET, SLIDES
from drive_server import FOLDER, DriveServer, FakeDrive, FakeFile, group, service_account_info, user

from askdocs.connectors.base import ConnectorFailure, DocumentDeleted, Skipped
from askdocs.connectors.google.config import GoogleDocsConfig
from askdocs.connectors.google.connector import GoogleDocsConnector, build
from askdocs.connectors.google.drive import RetryPolicy
from askdocs.settings import Settings

ALICE, BOB, CAROL = "alice@kumo.example", "bob@kumo.example", "carol@kumo.example"
ENG = "eng@kumo.example"
FAST_RETRY = RetryPolicy(max_retries=10, base_delay=0.001, max_delay=0.005)
SAMPLES = Path(__file__).resolve().parent.parent / "examples" / "workspace"

HANDBOOK = """# Engineering handbook

## On-call

The on-call engineer answers pages within fifteen minutes.

- Acknowledge the page
- Open an incident channel

## Services

| Service | Owner |
|---|---|
| Billing | Payments team |
| Search | Discovery team |
"""


def seed(drive: FakeDrive) -> None:
    """My Drive folders (root/sub, other), a shared-drive folder, and documents of every kind."""
    owner = [user(ALICE, "owner")]
    drive.add(FakeFile("fold-root", "Team", FOLDER, owners=[ALICE], permissions=owner))
    drive.add(FakeFile("fold-sub", "Runbooks", FOLDER, parents=["fold-root"], owners=[ALICE], permissions=owner))
    drive.add(FakeFile("fold-other", "Archive", FOLDER, owners=[ALICE], permissions=owner))
    drive.add(FakeFile("sd-folder", "Shared specs", FOLDER, parents=["drive-1"], drive_id="drive-1"))
    docs = [
        FakeFile("doc-handbook", "Engineering handbook", body=HANDBOOK, parents=["fold-root"], owners=[ALICE],
                 permissions=[*owner, group(ENG), {"id": "d1", "type": "domain", "role": "reader",
                                                   "domain": "Kumo.example", "allowFileDiscovery": True}]),
        FakeFile("doc-vpn", "VPN runbook", body="# VPN runbook\n\nReconnect the kumolink tunnel with `kumolink up`.",
                 parents=["fold-sub"], owners=[ALICE], permissions=[*owner, user(BOB)]),
        FakeFile("doc-budget", "Budget 2026", body="# Budget 2026\n\nThe falcon budget line reserves 40000 EUR.",
                 parents=["fold-root"], owners=[ALICE], permissions=owner),
        FakeFile("doc-roadmap", "Roadmap", body="# Roadmap\n\nThe heron release ships in May.", parents=["fold-root"],
                 owners=[ALICE], permissions=[*owner, {"id": "anyoneWithLink", "type": "anyone", "role": "reader",
                                                       "allowFileDiscovery": False}]),
        FakeFile("doc-published", "Holidays", body="# Holidays\n\nThe office closes for obon in August.",
                 parents=["fold-root"], owners=[ALICE], permissions=[*owner, {"id": "anyone", "type": "anyone",
                                                                             "role": "reader",
                                                                             "allowFileDiscovery": True}]),
        FakeFile("doc-locked", "Salaries", body="# Salaries\n\nThe pelican salary band is confidential.",
                 parents=["fold-root"], owners=[ALICE], permissions=[*owner, user(BOB)], can_share=False),
        FakeFile("doc-spec", "Search spec", body="# Search spec\n\nThe ranking uses the walrus scorer.",
                 parents=["sd-folder"], drive_id="drive-1", permissions=[user(BOB), user(CAROL)]),
        FakeFile("doc-outside", "Outside", body="# Outside\n\nThe marmot file lives elsewhere.",
                 parents=["fold-other"], owners=[ALICE], permissions=[*owner, user(BOB)]),
        FakeFile("doc-trashed", "Old", body="# Old\n\nThe dodo plan.", parents=["fold-root"], owners=[ALICE],
                 permissions=owner, trashed=True),
        FakeFile("pdf-1", "Acme agreement.pdf", "application/pdf", parents=["fold-root"], owners=[ALICE],
                 permissions=owner, content=(SAMPLES / "sales" / "acme-service-agreement.pdf").read_bytes()),
        FakeFile("sheet-1", "Headcount", SHEET, body="Team,Heads\nSearch,4\nBilling,3\n", parents=["fold-root"],
                 owners=[ALICE], permissions=owner),
        FakeFile("slides-1", "Kickoff", SLIDES, body="Kickoff\nThe kestrel project starts.", parents=["fold-root"],
                 owners=[ALICE], permissions=owner),
    ]  # fmt: skip
    for f in docs:
        drive.add(f)
    drive.delegated.add(ALICE)


def write_credentials(server: DriveServer, folder: Path) -> Path:
    """A service-account key file whose token endpoint is the fake server."""
    path = folder / "service-account.json"
    path.write_text(json.dumps(service_account_info(server.drive, f"{server.url}/token")), encoding="utf-8")
    return path


def config_for(server: DriveServer, tmp: Path, **options: Any) -> GoogleDocsConfig:
    """A google-docs source pointing at the fake server (folder scope: root and the shared drive)."""
    values: dict[str, Any] = {
        "credentials_file": write_credentials(server, tmp),
        "api_endpoint": server.endpoint,
        "folder_ids": ["fold-root", "sd-folder"],
    }
    return GoogleDocsConfig(**(values | options))


def connector_for(server: DriveServer, tmp: Path, page_size: int = 2, **options: Any) -> GoogleDocsConnector:
    """``build`` with small pages and millisecond retries."""
    connector = build(config_for(server, tmp, **options), Settings(data_dir=tmp / "data"))
    connector.client.retry = FAST_RETRY
    connector.page_size = page_size
    return connector


def split(items: list[Any]) -> tuple[dict[str, Any], set[str], list[ConnectorFailure]]:
    """Documents by id, deleted ids, failures (skips: ``skips``)."""
    docs = {i.id: i for i in items if not isinstance(i, ConnectorFailure | DocumentDeleted | Skipped)}
    deleted = {i.document_id for i in items if isinstance(i, DocumentDeleted)}
    return docs, deleted, [i for i in items if isinstance(i, ConnectorFailure)]


def skips(items: list[Any]) -> dict[str, int]:
    """Skipped counts by reason, as the sync report adds them up."""
    counts: dict[str, int] = {}
    for item in items:
        if isinstance(item, Skipped):
            counts[item.reason] = counts.get(item.reason, 0) + item.count
    return counts


__all__ = ["DOC", "split", "skips", "seed", "connector_for", "config_for", "write_credentials"]
