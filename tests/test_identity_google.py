"""Google Directory identity sync and Drive permission refresh against the fake Drive, checked through /v1/search."""

from __future__ import annotations

from pathlib import Path

import httpx
from drive_directory import DirectoryDrive, drive_directory  # noqa: F401
from drive_server import Fault, group, user
from google_fixtures import ALICE, BOB, CAROL, ENG, config_for, seed
from identity_fixtures import index_source, proxy_settings
from local_server import serve_in_thread

from askdocs.api.app import create_app
from askdocs.connectors.google.connector import build
from askdocs.ingest.access import refresh_permissions, sync_identities
from askdocs.retrieval.embedders import LanguageEmbedders

DAVE, ERIN, FRANK = "dave@kumo.example", "erin@kumo.example", "frank@other.example"
PLATFORM = "platform@kumo.example"
HANDBOOK, VPN = "google-docs:doc-handbook", "google-docs:doc-vpn"
ON_CALL, TUNNEL = "How fast does the on-call engineer answer pages?", "How do I reconnect the kumolink tunnel?"


def test_directory_groups_domain_and_sharing_changes_reach_search(
    drive_directory: DirectoryDrive,  # noqa: F811
    tmp_path: Path,
    embedders: LanguageEmbedders,
) -> None:
    drive = drive_directory.drive
    seed(drive)
    drive.files["doc-handbook"].permissions = [user(ALICE, "owner"), group(ENG)]
    domain = {"id": "d1", "type": "domain", "role": "reader", "domain": "kumo.example", "allowFileDiscovery": True}
    drive.files["doc-vpn"].permissions = [user(ALICE, "owner"), domain]
    directory = drive_directory.directory
    directory.users = [ALICE, BOB, CAROL, DAVE, ERIN]
    directory.groups = {ENG: [("USER", DAVE), ("GROUP", PLATFORM)], PLATFORM: [("USER", ERIN)]}
    settings = proxy_settings(tmp_path)
    config = config_for(drive_directory, tmp_path, directory_admin=ALICE, max_retries=0)
    indexed = index_source(settings, build(config, settings), embedders, tmp_path)
    assert indexed.report.status in ("succeeded", "partial")
    services, spy, store = indexed.services, indexed.spy, indexed.store

    def sync() -> str:
        report = sync_identities("drive", build(config, settings), store)
        assert report.status == "succeeded", report.summary()
        return report.identity

    def refresh() -> int:
        before, seen = spy.calls, len(drive.log)
        report = refresh_permissions("drive", build(config, settings), services.indexer())
        assert spy.calls == before, "a permission refresh embeds nothing"
        assert not [op for op, _ in drive.log[seen:] if op in ("files.export", "files.get_media")]
        return report.changed

    try:
        with serve_in_thread(create_app(settings, services), "askdocs") as url:

            def finders(query: str, doc_id: str) -> set[str]:
                found = set()
                for email in (ALICE, BOB, CAROL, DAVE, ERIN, FRANK):
                    headers = {"X-Forwarded-Email": email}
                    response = httpx.post(f"{url}/v1/search", json={"query": query, "top_k": 10}, headers=headers)
                    assert response.status_code == 200, response.text
                    if doc_id in {h["doc_id"] for h in response.json()["hits"]}:
                        found.add(email.split("@")[0])
                return found

            assert finders(ON_CALL, HANDBOOK) == {"alice"}, "before a sync nobody is in the group"
            assert "3 groups (8 memberships)" in sync(), "eng, platform and the domain"
            assert finders(ON_CALL, HANDBOOK) == {"alice", "dave", "erin"}, "erin through the nested group"
            assert finders(TUNNEL, VPN) == {"alice", "bob", "carol", "dave", "erin"}, "the domain, not outsiders"
            directory.groups[PLATFORM] = []  # Erin leaves the nested group
            sync()
            assert finders(ON_CALL, HANDBOOK) == {"alice", "dave"}
            assert refresh() == 0
            drive.files["doc-handbook"].permissions = [user(ALICE, "owner"), user(BOB)]  # no change in the feed
            assert refresh() == 1
            assert finders(ON_CALL, HANDBOOK) == {"alice", "bob"}
            drive.faults.append(Fault("files.list", 500, "backendError"))  # the listing fails: all hidden
            refresh()
            assert finders(TUNNEL, VPN) == set() and finders(ON_CALL, HANDBOOK) == set()
            drive.faults.clear()
            refresh()
            assert finders(ON_CALL, HANDBOOK) == {"alice", "bob"}
            directory.failing = True  # a failed identity sync keeps what was synced
            assert sync_identities("drive", build(config, settings), store).status == "failed"
            assert finders(TUNNEL, VPN) == {"alice", "bob", "carol", "dave", "erin"}
    finally:
        services.close()
