"""Confluence identity sync and permission refresh against the fake Confluence, checked through /v1/search."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from api_fixtures import api_key
from cli_helpers import askdocs
from confluence_directory import DirectoryServer, confluence_directory  # noqa: F401
from confluence_fixtures import confluence_source
from confluence_server import EMAIL, TOKEN, Fail
from embedder_spy import Spy
from identity_fixtures import PROXY_AUTH, index_source
from local_server import serve_in_thread

from askdocs.api.app import create_app
from askdocs.app import Services
from askdocs.connectors.confluence.config import ConfluenceConfig
from askdocs.connectors.confluence.connector import build
from askdocs.database import engine_for
from askdocs.errors import SourceError
from askdocs.identity import IdentityStore
from askdocs.ingest.access import HIDDEN, refresh_permissions, sync_identities
from askdocs.ingest.scheduler import utcnow
from askdocs.ingest.sources import SourceConfig, SourcesFile
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import IndexFilter
from askdocs.settings import Settings

SALARY = "What does the Willow salary band top out at?"
OFFSITE = "Where is the team offsite this year?"
PEOPLE = ("carol", "bob", "alice", "dave")  # dave is in no Confluence group


@dataclass
class Site:
    settings: Settings
    config: ConfluenceConfig
    services: Services
    store: IdentityStore
    url: str
    spy: Spy
    fake: DirectoryServer

    def hits(self, query: str, headers: dict[str, str] | None = None) -> set[str]:
        body = {"query": query, "top_k": 10}
        response = httpx.post(f"{self.url}/v1/search", json=body, headers=headers or {}, timeout=180)
        assert response.status_code == 200, response.text
        return {h["doc_id"] for h in response.json()["hits"]}

    def who_finds(self, query: str, doc_id: str) -> set[str]:
        """The people who, signed in by e-mail through the trusted proxy, find ``doc_id``."""
        return {p for p in PEOPLE if doc_id in self.hits(query, {"X-Forwarded-Email": f"{p}@kumo.example"})}

    def sync_identities(self) -> None:
        report = sync_identities("confluence", build(self.config, self.settings), self.store)
        assert report.status == "succeeded", report.summary()

    def refresh(self) -> int:
        before = self.spy.calls
        report = refresh_permissions("confluence", build(self.config, self.settings), self.services.indexer())
        assert self.spy.calls == before, "a permission refresh embeds nothing"
        return report.changed


@pytest.fixture
def site(confluence_directory: DirectoryServer, tmp_path: Path, embedders: LanguageEmbedders) -> Iterator[Site]:  # noqa: F811
    settings, config = confluence_source(confluence_directory.url, tmp_path, spaces=("ENG", "HR"), auth=PROXY_AUTH)
    indexed = index_source(settings, build(config, settings), embedders, tmp_path)
    assert indexed.report.status == "succeeded", indexed.report.summary()
    services, spy, store = indexed.services, indexed.spy, indexed.store
    try:
        with serve_in_thread(create_app(settings, services), "askdocs") as url:
            yield Site(settings, config, services, store, url, spy, confluence_directory)
    finally:
        services.close()


def test_a_group_restricted_page_is_found_by_its_member_whose_email_the_site_hides(site: Site) -> None:
    salary = "confluence:page:2003"
    acl = site.services.index.chunks(IndexFilter(doc_ids=(salary,)), ["acl"])[0].payload["acl"]
    assert acl == ["group:confluence:hr-leads"], "group principals are qualified by source"
    assert site.who_finds(SALARY, salary) == set(), "before an identity sync nobody holds the group"
    site.sync_identities()
    assert site.who_finds(SALARY, salary) == {"carol"}
    assert salary not in site.hits(SALARY), "anonymous stays public"
    assert salary in site.hits(SALARY, api_key(site.settings, "user:carol@kumo.example")), "a key made --as carol"
    assert salary not in site.hits(SALARY, api_key(site.settings, "group:hr-leads")), "unqualified names never match"


def test_space_permissions_replace_the_hand_written_map(site: Site) -> None:
    offsite = "confluence:page:1006"  # unrestricted page: its ACL is space:ENG
    assert site.who_finds(OFFSITE, offsite) == set()
    site.sync_identities()
    assert site.who_finds(OFFSITE, offsite) == {"alice", "bob", "carol"}, "the staff group reads ENG"
    home = "confluence:page:2002"  # HR: hr-leads and Alice by a user grant
    assert site.who_finds("How long is parental leave?", home) == {"alice", "carol"}


def test_membership_and_restriction_changes_reach_search_within_one_refresh(site: Site) -> None:
    site.sync_identities()
    salary, offsite = "confluence:page:2003", "confluence:page:1006"
    assert site.who_finds(SALARY, salary) == {"carol"}
    site.fake.directory.groups["hr-leads"] = ["acc-bob"]  # Carol leaves the group, Bob joins
    site.sync_identities()
    assert site.who_finds(SALARY, salary) == {"bob"}
    site.fake.fake.pages["1006"].groups = ["security"]  # restricted: Confluence makes no new page version
    site.fake.fake.log.clear()
    assert site.refresh() == 1
    assert not [line for line in site.fake.fake.log if "body-format=storage" in line or "/attachments" in line]
    assert site.who_finds(OFFSITE, offsite) == {"bob"}, "the restriction reached search without a content change"
    assert site.refresh() == 0, "nothing changed: nothing rewritten"
    site.fake.fake.pages["1006"].groups = None
    assert site.refresh() == 1
    assert site.who_finds(OFFSITE, offsite) == {"alice", "bob", "carol"}


def test_unreadable_permissions_hide_the_affected_documents(site: Site) -> None:
    site.sync_identities()
    salary = "confluence:page:2003"
    site.fake.fake.fails.append(Fail("/content/2003/restriction", 500, times=100))
    site.refresh()
    acl = site.services.index.chunks(IndexFilter(doc_ids=(salary,)), ["acl"])[0].payload["acl"]
    assert acl == [HIDDEN]
    assert site.who_finds(SALARY, salary) == set()
    assert site.who_finds(OFFSITE, "confluence:page:1006") == {"alice", "bob", "carol"}, "others unaffected"
    site.fake.fake.fails.clear()
    site.fake.fake.outage_after = 0  # the whole site fails: every document of the source is hidden
    site.refresh()
    assert site.who_finds(OFFSITE, "confluence:page:1006") == set()
    site.fake.fake.outage_after = None
    site.refresh()
    assert site.who_finds(SALARY, salary) == {"carol"}


def test_hidden_emails_resolve_through_the_operators_mapping(site: Site, tmp_path: Path) -> None:
    site.fake.directory.email_lookup = False  # not an app Atlassian lets read e-mails
    snapshot = build(site.config, site.settings).identities()
    assert snapshot.unresolved == {"user:confluence:acc-bob", "user:confluence:acc-carol"}
    mapping = tmp_path / "accounts.csv"
    mapping.write_text("account_id,email\nacc-carol,Carol@kumo.example\n", encoding="utf-8")
    config = site.config.model_copy(update={"account_emails": mapping})
    snapshot = build(config, site.settings).identities()
    assert snapshot.accounts["user:confluence:acc-carol"] == "carol@kumo.example"
    assert snapshot.unresolved == {"user:confluence:acc-bob"}
    mapping.write_text("account,mail\nx,y\n", encoding="utf-8")
    with pytest.raises(SourceError, match="account_id,email"):
        build(config, site.settings)


def test_the_schedules_run_identity_sync_and_permission_refresh(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "folder").mkdir()
    monkeypatch.setenv("WIKI_EMAIL", EMAIL)
    monkeypatch.setenv("WIKI_TOKEN", TOKEN)
    wiki = SourceConfig(
        name="confluence",
        type="confluence",
        options=site.config.model_dump(include={"base_url", "spaces"}),
        credentials={"email": "WIKI_EMAIL", "api_token": "WIKI_TOKEN"},
    )  # identity 1h, permissions 10m
    sources = SourcesFile(
        sources=[
            wiki,
            SourceConfig(name="files", type="files", path=tmp_path / "folder"),
        ]
    )
    start = utcnow()
    scheduler = site.services.access_scheduler(sources)
    reports = scheduler.tick(start + timedelta(seconds=30))
    assert sorted((r.source, r.kind, r.status) for r in reports) == [
        ("confluence", "identity", "succeeded"),
        ("confluence", "permissions", "succeeded"),
    ]
    assert {(j.source, j.kind) for j in scheduler.jobs} == {("confluence", "identity"), ("confluence", "permissions")}
    assert site.who_finds(SALARY, "confluence:page:2003") == {"carol"}
    site.fake.fake.pages["2003"].groups = ["security"]
    assert scheduler.tick(start + timedelta(minutes=5)) == []
    reports = scheduler.tick(start + timedelta(minutes=10, seconds=40))
    assert [(r.kind, r.changed) for r in reports] == [("permissions", 1)]
    assert site.who_finds(SALARY, "confluence:page:2003") == {"bob"}
    assert [s["status"] for s in scheduler.statuses()] == ["succeeded", "succeeded"]
    site.services.access = scheduler
    shown = httpx.get(f"{site.url}/v1/sources", headers=api_key(site.settings, admin=True), timeout=30).json()
    assert [(a["source"], a["kind"]) for a in shown["access"]] == [
        ("confluence", "identity"),
        ("confluence", "permissions"),
    ]
    assert "1 ACLs rewritten" in shown["access"][1]["summary"] and "carol" not in str(shown["access"])


def test_the_cli_runs_them_now(confluence_directory: DirectoryServer, tmp_path: Path) -> None:  # noqa: F811
    sources = tmp_path / "askdocs.yaml"
    sources.write_text(
        "sources:\n  - {name: wiki, type: confluence, credentials: {confluence_api_token: WIKI_TOKEN}}\n"
        f"  - {{name: files, type: files, path: {tmp_path}}}\n",
        encoding="utf-8",
    )
    env = {
        "ASKDOCS_DATA_DIR": str(tmp_path / "data"),
        "ASKDOCS_SOURCES_FILE": str(sources),
        "ASKDOCS_CONFLUENCE_BASE_URL": confluence_directory.url,
        "ASKDOCS_CONFLUENCE_EMAIL": EMAIL,
        "ASKDOCS_CONFLUENCE_SPACES": '["ENG", "HR"]',
        "WIKI_TOKEN": TOKEN,
    }
    done = askdocs("access", "identities", "wiki", env=env)
    assert done.returncode == 0, done.stderr
    assert "wiki identities: succeeded; 3 accounts resolved, 0 unresolved, 3 groups" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    store = IdentityStore(engine_for(Settings(data_dir=tmp_path / "data")))
    assert "group:confluence:hr-leads" in store.expand(["user:carol@kumo.example"])
    done = askdocs("access", "permissions", env=env)
    assert done.returncode == 0, done.stderr
    assert "wiki permissions: succeeded; 0 documents checked" in done.stdout
    done = askdocs("access", "identities", "files", env=env)
    assert done.returncode == 2 and "has no identity capability" in done.stderr
